//! `--chown` and `--chmod` of COPY and ADD. Names are looked up in the
//! image's own `/etc/passwd` and `/etc/group` (passed in as text read
//! through the image's root), never the host's.

/// `user[:group]` as numbers. Without a group, a numeric user gives the
/// same number as the group (Docker's documented rule); a named user gives
/// the group of that name, or else the user's primary group.
pub fn parse_chown(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> anyhow::Result<(u32, u32)> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || grp.is_some_and(str::is_empty) {
        anyhow::bail!(crate::invalid!("bad --chown {spec:?}: want user[:group]"));
    }
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let (uid, gid) = lookup(passwd, user, 2).ok_or_else(|| {
                crate::invalid!("unable to find user {user}: no matching entries in passwd file")
            })?;
            (uid, Some(gid))
        }
    };
    let gid = match grp {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(group, g, 2).map(|(gid, _)| gid).ok_or_else(|| {
                crate::invalid!("unable to find group {g}: no matching entries in group file")
            })?,
        },
        None => match primary {
            None => uid,
            Some(primary) => lookup(group, user, 2).map_or(primary, |(gid, _)| gid),
        },
    };
    Ok((uid, gid))
}

/// Field `at` (and the one after it, if numeric) of the line whose first
/// field is `name`, in a colon-separated database.
fn lookup(db: Option<&str>, name: &str, at: usize) -> Option<(u32, u32)> {
    db?.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) {
            return None;
        }
        let id = fields.get(at)?.trim().parse().ok()?;
        let next = fields
            .get(at + 1)
            .and_then(|f| f.trim().parse().ok())
            .unwrap_or(id);
        Some((id, next))
    })
}

/// An octal mode such as `755` or `0640`.
pub fn parse_chmod(spec: &str) -> anyhow::Result<u32> {
    match u32::from_str_radix(spec, 8) {
        Ok(m) if m <= 0o7777 && !spec.is_empty() => Ok(m),
        _ => anyhow::bail!(crate::invalid!(
            "bad --chmod {spec:?}: want an octal mode such as 755"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false\nweb:x:101:102::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nbin:x:1:\nstaff:x:50:\nwww:x:102:\n";

    #[test]
    fn chown() {
        let p = Some(PASSWD);
        let g = Some(GROUP);
        assert_eq!(parse_chown("10:20", p, g).unwrap(), (10, 20));
        assert_eq!(parse_chown("77", None, None).unwrap(), (77, 77));
        assert_eq!(parse_chown("bin", p, g).unwrap(), (1, 1));
        assert_eq!(parse_chown("web", p, g).unwrap(), (101, 102));
        assert_eq!(parse_chown("web:staff", p, g).unwrap(), (101, 50));
        assert_eq!(parse_chown("5:staff", p, g).unwrap(), (5, 50));
        assert!(parse_chown("nobody", p, g).is_err());
        assert!(parse_chown("web:nogroup", p, g).is_err());
        assert!(parse_chown("web", None, None).is_err());
        assert!(parse_chown(":1", p, g).is_err());
        assert!(parse_chown("1:", p, g).is_err());
    }

    #[test]
    fn chmod() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("0640").unwrap(), 0o640);
        assert!(parse_chmod("").is_err());
        assert!(parse_chmod("9").is_err());
        assert!(parse_chmod("17777").is_err());
        assert!(parse_chmod("u+x").is_err());
    }
}
