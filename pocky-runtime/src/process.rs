//! Watching and signalling a container's process from any pocky command,
//! safely against pid reuse: a pid counts as the container only while its
//! start time matches the one recorded, and signals go through a pidfd.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::RuntimeError;

/// Start time of `pid` in clock ticks since boot, or None if it is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. starttime is field 22, the 20th after the name.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// True while `pid` is the same process that was recorded with `start`.
pub fn is_alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

/// A handle on a process that stays bound to it even if its pid is reused.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: i32,
}

impl Pidfd {
    /// Opens the process recorded as `pid`/`start`; None when it is gone.
    pub fn open(pid: i32, start: u64) -> Result<Option<Pidfd>, RuntimeError> {
        if pid <= 0 {
            return Ok(None);
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESRCH) => Ok(None),
                _ => Err(RuntimeError::Process {
                    op: "pidfd_open",
                    pid,
                    source: e,
                }),
            };
        }
        let fd = i32::try_from(fd).map_err(|_| RuntimeError::Process {
            op: "pidfd_open",
            pid,
            source: std::io::Error::other("fd out of range"),
        })?;
        // SAFETY: the syscall returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Checked after opening: if the start time still matches now, the fd
        // refers to the recorded process and cannot be re-bound later.
        if !is_alive(pid, start) {
            return Ok(None);
        }
        Ok(Some(Pidfd { fd, pid }))
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal`; a process that already exited is not an error.
    pub fn signal(&self, signal: i32) -> Result<(), RuntimeError> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(RuntimeError::Process {
                    op: "signal",
                    pid: self.pid,
                    source: e,
                });
            }
        }
        Ok(())
    }

    /// Waits until the process exits or `timeout` passes; true if it exited.
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Result<bool, RuntimeError> {
        let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc >= 0 {
                return Ok(rc > 0);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(RuntimeError::Process {
                    op: "poll",
                    pid: self.pid,
                    source: e,
                });
            }
        }
    }
}

/// A signal as Docker and runc take it: a number, a name with or without
/// `SIG` in any case (`TERM`, `sigquit`), or `RTMIN+n`/`RTMAX-n` (systemd
/// images stop on `SIGRTMIN+3`).
pub fn parse_signal(s: &str) -> Result<i32, RuntimeError> {
    let invalid = || RuntimeError::Config(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return (1..=libc::SIGRTMAX())
            .contains(&n)
            .then_some(n)
            .ok_or_else(invalid);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let n: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let sig = base + sign * n;
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&sig)
            .then_some(sig)
    };
    let sig = if let Some(rest) = name.strip_prefix("RTMIN") {
        realtime(libc::SIGRTMIN(), rest.strip_prefix('+').unwrap_or(rest), 1)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        realtime(libc::SIGRTMAX(), rest.strip_prefix('-').unwrap_or(rest), -1)
    } else {
        use std::str::FromStr;
        nix::sys::signal::Signal::from_str(&format!("SIG{name}"))
            .ok()
            .map(|s| s as i32)
    };
    sig.ok_or_else(invalid)
}

/// What execve(2) takes, checked before anything is made so that a run
/// with a huge environment fails at once (125) rather than after its
/// container exists (126): one string at most `MAX_ARG_STRLEN` (32 pages),
/// all strings and their pointers at most a quarter of the stack limit
/// (what `sysconf(_SC_ARG_MAX)` reports).
pub fn check_exec_size(args: &[String], env: &[String]) -> Result<(), RuntimeError> {
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    // SAFETY: as above.
    let arg_max = usize::try_from(unsafe { libc::sysconf(libc::_SC_ARG_MAX) }).unwrap_or(2 << 20);
    let per_string = 32 * page;
    let mut total = 0usize;
    for (what, list) in [("argument", args), ("environment variable", env)] {
        for s in list {
            let len = s.len() + 1;
            if len > per_string {
                let name = match what {
                    "argument" => String::new(),
                    _ => format!(" {}", s.split('=').next().unwrap_or_default()),
                };
                return Err(RuntimeError::Config(format!(
                    "{what}{name} is {len} bytes: the kernel takes at most {per_string} bytes per argument or variable"
                )));
            }
            total += len + std::mem::size_of::<usize>();
        }
    }
    if total > arg_max {
        return Err(RuntimeError::Config(format!(
            "the command and environment are {total} bytes: the kernel takes at most {arg_max}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_signals_parse() {
        let me = std::process::id() as i32;
        let start = start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("hup").unwrap(), libc::SIGHUP);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert_eq!(parse_signal("SIGQUIT").unwrap(), libc::SIGQUIT);
        assert_eq!(parse_signal("pwr").unwrap(), libc::SIGPWR);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert!(parse_signal("RTMIN+99").is_err());
        assert!(parse_signal("SIG").is_err());
    }

    #[test]
    fn exec_size_is_checked_per_string_and_in_total() {
        let args = vec!["sh".to_owned()];
        check_exec_size(&args, &["A=1".to_owned()]).unwrap();
        let big = format!("BIG={}", "x".repeat(1 << 20));
        let e = check_exec_size(&args, &[big]).unwrap_err().to_string();
        assert!(e.contains("variable BIG is"), "{e}");
        let many: Vec<String> = (0..100)
            .map(|i| format!("V{i}={}", "y".repeat(100_000)))
            .collect();
        let e = check_exec_size(&args, &many).unwrap_err().to_string();
        assert!(e.contains("command and environment"), "{e}");
    }

    #[test]
    fn pidfd_waits_and_signals() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        let fd = Pidfd::open(pid, start).unwrap().unwrap();
        assert!(!fd.wait_timeout(Some(Duration::from_millis(1))).unwrap());
        fd.signal(libc::SIGKILL).unwrap();
        assert!(fd.wait_timeout(None).unwrap());
        child.wait().unwrap();
        assert!(Pidfd::open(pid, start).unwrap().is_none());
    }
}
