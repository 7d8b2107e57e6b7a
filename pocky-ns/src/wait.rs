//! Waiting for a process and Docker's exit-code mapping.

use std::fmt;

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::NsError;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number for a killed process (as a
    /// shell and Docker report it).
    pub code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.signal {
            Some(sig) => write!(f, "killed by signal {sig}, code {}", self.code),
            None => write!(f, "exit code {}", self.code),
        }
    }
}

/// The final status in `ws`, or `None` for a stop/continue report.
pub fn exit_status_of(ws: WaitStatus) -> Option<ExitStatus> {
    match ws {
        WaitStatus::Exited(_, code) => Some(ExitStatus { code, signal: None }),
        WaitStatus::Signaled(_, sig, _) => Some(ExitStatus {
            code: 128 + sig as i32,
            signal: Some(sig as i32),
        }),
        _ => None,
    }
}

/// Waits for `pid` (a child of this process) to exit.
pub fn wait_exit(pid: Pid) -> Result<ExitStatus, NsError> {
    loop {
        match waitpid(pid, None) {
            Ok(ws) => {
                if let Some(st) = exit_status_of(ws) {
                    return Ok(st);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(NsError::Wait {
                    pid: pid.as_raw(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn signals_map_to_128_plus_n() {
        let pid = Pid::from_raw(7);
        assert_eq!(
            exit_status_of(WaitStatus::Exited(pid, 3)),
            Some(ExitStatus {
                code: 3,
                signal: None
            })
        );
        assert_eq!(
            exit_status_of(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(ExitStatus {
                code: 137,
                signal: Some(9)
            })
        );
        assert_eq!(
            exit_status_of(WaitStatus::Signaled(pid, Signal::SIGTERM, true)).map(|s| s.code),
            Some(143)
        );
        assert_eq!(
            exit_status_of(WaitStatus::Stopped(pid, Signal::SIGSTOP)),
            None
        );
    }
}
