//! `top`: the processes of a running container, as the host's `ps` shows
//! them (host pids, host user names), in Docker's shape: titles and rows of
//! strings. The pids are the container cgroup's, so every process the
//! container forked is listed, `exec`'d ones included. Read from /proc
//! rather than by running `ps`: no shell-out, and no ps binary needed.

use std::time::{SystemTime, UNIX_EPOCH};

use pocky_cgroup::{Cgroup, CgroupManager};
use pocky_store::Store;
use procfs::process::{Process, Stat};

use crate::{Error, Result, invalid, state};

/// Docker's `ContainerTopOKBody`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Which `ps` listing: `-ef` (Docker's default) or BSD `aux`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Full,
    User,
}

impl Style {
    /// The ps options Docker passes through; only the two listings people
    /// use are known, others are refused by name rather than ignored.
    pub fn parse(args: &[String]) -> Result<Style> {
        match args.join(" ").as_str() {
            "" | "-ef" | "-f" | "-e -f" | "-fe" => Ok(Style::Full),
            "aux" | "-aux" | "axu" | "-eo user,pid,%cpu,%mem,vsz,rss,tty,stat,start,time,cmd" => {
                Ok(Style::User)
            }
            other => Err(invalid!(
                "ps options {other:?} are not supported: pocky top knows -ef (the default) and aux"
            )),
        }
    }
}

/// The processes in the pid namespace of `pid`.
fn pid_namespace_members(pid: i32) -> Vec<i32> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let Some(theirs) = ns(&pid.to_string()) else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(&p.to_string()).as_ref() == Some(&theirs))
        .collect()
}

pub fn top(store: &Store, name: &str, style: Style) -> Result<Top> {
    let rec = state::find(store, name)?;
    if !state::process_alive(&rec) {
        return Err(Error::NotRunning(name.to_owned()));
    }
    let mut pids = if rec.cgroup.is_empty() {
        // Rootless without a cgroup: the container's pid namespace.
        pid_namespace_members(rec.state.pid)
    } else {
        Cgroup::detect(&rec.cgroup)?.pids()?
    };
    pids.sort_unstable();
    let clock = Clock::now();
    let processes = pids
        .into_iter()
        // A process may exit between the cgroup read and its /proc read.
        .filter_map(|pid| row(pid, style, &clock))
        .collect();
    let titles = match style {
        Style::Full => ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].as_slice(),
        Style::User => [
            "USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND",
        ]
        .as_slice(),
    };
    Ok(Top {
        titles: titles.iter().map(|t| (*t).to_owned()).collect(),
        processes,
    })
}

struct Clock {
    now: u64,
    boot: u64,
    ticks: u64,
    memory: u64,
}

impl Clock {
    fn now() -> Clock {
        use procfs::Current;
        let meminfo = procfs::Meminfo::current().map_or(0, |m| m.mem_total);
        Clock {
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            boot: procfs::boot_time_secs().unwrap_or(0),
            ticks: procfs::ticks_per_second().max(1),
            memory: meminfo,
        }
    }

    fn started(&self, stat: &Stat) -> u64 {
        self.boot + stat.starttime / self.ticks
    }

    fn cpu_secs(&self, stat: &Stat) -> u64 {
        (stat.utime + stat.stime) / self.ticks
    }

    /// ps's %CPU: CPU time over the time the process has existed.
    fn cpu_percent(&self, stat: &Stat) -> f64 {
        let alive = self.now.saturating_sub(self.started(stat));
        if alive == 0 {
            return 0.0;
        }
        (stat.utime + stat.stime) as f64 / self.ticks as f64 / alive as f64 * 100.0
    }
}

fn row(pid: i32, style: Style, clock: &Clock) -> Option<Vec<String>> {
    let proc = Process::new(pid).ok()?;
    let stat = proc.stat().ok()?;
    let uid = proc.uid().ok()?;
    let user = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    let cmd = match proc.cmdline() {
        Ok(argv) if !argv.is_empty() => argv.join(" "),
        // Kernel threads and zombies have no command line: ps brackets
        // the name.
        _ => format!("[{}]", stat.comm),
    };
    let tty = tty(stat.tty_nr);
    let time = hms(clock.cpu_secs(&stat));
    let started = clock_time(clock.started(&stat), clock.now);
    Some(match style {
        Style::Full => vec![
            user,
            pid.to_string(),
            stat.ppid.to_string(),
            format!("{}", clock.cpu_percent(&stat) as u64),
            started,
            tty,
            time,
            cmd,
        ],
        Style::User => {
            let page = procfs::page_size();
            let rss_kib = stat.rss * page / 1024;
            let mem = if clock.memory == 0 {
                0.0
            } else {
                (stat.rss * page) as f64 / clock.memory as f64 * 100.0
            };
            vec![
                user,
                pid.to_string(),
                format!("{:.1}", clock.cpu_percent(&stat)),
                format!("{mem:.1}"),
                (stat.vsize / 1024).to_string(),
                rss_kib.to_string(),
                tty,
                stat.state.to_string(),
                started,
                time,
                cmd,
            ]
        }
    })
}

/// The controlling terminal's name as ps prints it.
fn tty(tty_nr: i32) -> String {
    let (major, minor) = (
        (tty_nr >> 8) & 0xfff,
        (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00),
    );
    match major {
        0 => "?".to_owned(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        _ => format!("{major}:{minor}"),
    }
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// ps's STIME: the hour and minute for a process started today, else the
/// month and day. In UTC: pocky reads no time zone database.
fn clock_time(at: u64, now: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if at / 86_400 == now / 86_400 {
        return format!("{:02}:{:02}", at / 3600 % 24, at / 60 % 60);
    }
    let (_, month, day) = civil(at / 86_400);
    format!("{}{day:02}", MONTHS[(month - 1) as usize])
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil(days: u64) -> (i64, u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe as i64 + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_options_are_known_or_refused() {
        assert_eq!(Style::parse(&[]).unwrap(), Style::Full);
        assert_eq!(Style::parse(&["-ef".into()]).unwrap(), Style::Full);
        assert_eq!(Style::parse(&["aux".into()]).unwrap(), Style::User);
        let e = Style::parse(&["-o".into(), "pid".into()]).unwrap_err();
        assert_eq!(e.kind(), crate::Kind::Invalid);
    }

    #[test]
    fn times_and_terminals_read_as_ps_prints_them() {
        assert_eq!(hms(3723), "01:02:03");
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_425), (2025, 12, 3));
        let day = 20_425 * 86_400;
        assert_eq!(
            clock_time(day + 3600 * 13 + 60 * 7, day + 3600 * 20),
            "13:07"
        );
        assert_eq!(clock_time(day - 86_400, day), "Dec02");
        assert_eq!(tty(0), "?");
        assert_eq!(tty((136 << 8) | 3), "pts/3");
    }
}
