//! The user's subordinate id ranges (`/etc/subuid`, `/etc/subgid`) and the
//! maps of the user namespace made from them: the user's own id as 0,
//! then each range in turn from 1, as podman maps them.

/// A run of `count` ids starting at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub count: u32,
}

/// One line of a map: `count` ids from `inside` are `outside` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLine {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The ranges `text` (a `/etc/subuid` or `/etc/subgid`) gives the user
/// `name` with id `id`: lines `NAME:START:COUNT` or `ID:START:COUNT`.
/// Malformed lines and empty ranges are skipped, as shadow's tools do.
pub fn ranges(text: &str, name: &str, id: u32) -> Vec<Range> {
    let id = id.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || (who != name && who != id) {
                return None;
            }
            let r = Range {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            };
            (r.count > 0 && r.start.checked_add(r.count).is_some()).then_some(r)
        })
        .collect()
}

/// The map of the namespace: `own` as 0, then the ranges from 1 on.
pub fn full_map(own: u32, ranges: &[Range]) -> Vec<MapLine> {
    let mut lines = vec![MapLine {
        inside: 0,
        outside: own,
        count: 1,
    }];
    let mut next: u32 = 1;
    for r in ranges {
        let Some(end) = next.checked_add(r.count) else {
            break;
        };
        lines.push(MapLine {
            inside: next,
            outside: r.start,
            count: r.count,
        });
        next = end;
    }
    lines
}

/// The arguments `newuidmap PID ...` and `newgidmap PID ...` take after
/// the pid: `inside outside count` per line.
pub fn helper_args(map: &[MapLine]) -> Vec<String> {
    map.iter()
        .flat_map(|l| [l.inside, l.outside, l.count])
        .map(|n| n.to_string())
        .collect()
}

/// How many ids a `/proc/PID/uid_map` text maps in all.
pub fn mapped_count(uid_map: &str) -> u64 {
    uid_map
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum()
}

/// `--userns=keep-id`: the maps of a container namespace nested in the
/// user's, where `own` (the user's id, which is 0 of the user's
/// namespace) is itself, its root a subordinate id, and the rest as in
/// the user's namespace. `total` is how many ids that namespace maps.
pub fn keep_id_map(own: u32, total: u32) -> Vec<MapLine> {
    let mut lines = Vec::new();
    // Inside ids 0..own are the namespace's 1..=own.
    if own > 0 {
        lines.push(MapLine {
            inside: 0,
            outside: 1,
            count: own.min(total.saturating_sub(1)),
        });
    }
    lines.push(MapLine {
        inside: own,
        outside: 0,
        count: 1,
    });
    let after = own.saturating_add(1);
    if total > after {
        lines.push(MapLine {
            inside: after,
            outside: after,
            count: total - after,
        });
    }
    lines.retain(|l| l.count > 0);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str = "\
# comment
alice:100000:65536
1001:300000:1000
bob:165536:65536
alice:bad:1
alice:5:0
alice:200000:10:extra
";

    #[test]
    fn ranges_by_name_or_id() {
        assert_eq!(
            ranges(SUBUID, "alice", 1001),
            vec![
                Range {
                    start: 100_000,
                    count: 65536
                },
                Range {
                    start: 300_000,
                    count: 1000
                }
            ]
        );
        assert_eq!(ranges(SUBUID, "carol", 1002), vec![]);
    }

    #[test]
    fn the_full_map_puts_the_user_at_0_and_ranges_after() {
        let map = full_map(
            1001,
            &[
                Range {
                    start: 100_000,
                    count: 65536,
                },
                Range {
                    start: 300_000,
                    count: 1000,
                },
            ],
        );
        assert_eq!(
            helper_args(&map),
            [
                "0", "1001", "1", "1", "100000", "65536", "65537", "300000", "1000"
            ]
        );
        assert_eq!(
            mapped_count("         0       1001          1\n         1     100000      65536\n"),
            65537
        );
    }

    #[test]
    fn keep_id_keeps_the_user_and_moves_root() {
        let m = keep_id_map(1001, 65537);
        assert_eq!(
            m,
            vec![
                MapLine {
                    inside: 0,
                    outside: 1,
                    count: 1001
                },
                MapLine {
                    inside: 1001,
                    outside: 0,
                    count: 1
                },
                MapLine {
                    inside: 1002,
                    outside: 1002,
                    count: 64535
                },
            ]
        );
        // Every namespace id is used once.
        let total: u32 = m.iter().map(|l| l.count).sum();
        assert_eq!(total, 65537);
        // A user whose id is beyond the namespace's size still maps.
        let m = keep_id_map(70000, 65537);
        assert_eq!(m.iter().map(|l| l.count).sum::<u32>(), 65537);
        assert!(m.iter().any(|l| l.inside == 70000 && l.outside == 0));
    }
}
