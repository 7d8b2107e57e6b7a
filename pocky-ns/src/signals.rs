//! Forwarding the runtime's signals to a foreground container.
//!
//! `pocky run` without `-d` should behave like the command it runs: a
//! Ctrl-C or a `kill` aimed at pocky goes to the container's process, and
//! pocky exits with that process's status. [`SignalForwarder`] blocks the
//! forwarded signals plus SIGCHLD and reads them from a signalfd, so there
//! is no handler code and no race between "child exited" and "signal
//! arrived". Create it before [`spawn`](crate::spawn): a signal sent in
//! between then waits in the signalfd instead of killing pocky. The child
//! does not inherit the mask: it resets its mask before exec.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::error::NsError;
use crate::wait::{ExitStatus, exit_status_of};

/// What a foreground run passes on. Job-control signals (TSTP, TTIN, TTOU)
/// and WINCH (see [`pty::Winch`](crate::pty::Winch)) are left alone, as are
/// PIPE and CHLD, which concern pocky itself.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
];

/// Blocks [`FORWARDED`] and SIGCHLD while it lives; restores the previous
/// mask on drop.
#[derive(Debug)]
pub struct SignalForwarder {
    fd: SignalFd,
    previous: SigSet,
    /// False (`--sig-proxy=false`): the signals are taken and dropped, so
    /// they neither reach the process nor end the caller.
    forward: bool,
}

impl SignalForwarder {
    /// Blocks the signals and opens the signalfd. Call it before spawning.
    pub fn new() -> Result<Self, NsError> {
        let mut set = SigSet::empty();
        for sig in FORWARDED {
            set.add(sig);
        }
        set.add(Signal::SIGCHLD);
        let mut previous = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous))
            .map_err(|source| NsError::Signal {
                op: "sigprocmask",
                source,
            })?;
        let fd = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => fd,
            Err(source) => {
                // Best effort: the error below is the one worth reporting.
                let _ = previous.thread_set_mask();
                return Err(NsError::Signal {
                    op: "signalfd",
                    source,
                });
            }
        };
        Ok(SignalForwarder {
            fd,
            previous,
            forward: true,
        })
    }

    /// Whether the signals go on to the process (the default) or are
    /// dropped.
    pub fn set_forward(&mut self, forward: bool) {
        self.forward = forward;
    }

    /// Passes every forwarded signal to `pid` until it exits, and returns
    /// its status. `pid` must be a child of this process.
    pub fn run(&self, pid: Pid) -> Result<ExitStatus, NsError> {
        loop {
            // A SIGCHLD may have been merged with an earlier one or come
            // before the fd existed: ask waitpid each time round.
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(ws) => {
                    if let Some(status) = exit_status_of(ws) {
                        return Ok(status);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(source) => {
                    return Err(NsError::Wait {
                        pid: pid.as_raw(),
                        source,
                    });
                }
            }
            let info = match self.fd.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) | Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(NsError::Signal {
                        op: "read signalfd",
                        source,
                    });
                }
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            if sig != Signal::SIGCHLD && self.forward {
                // ESRCH: it just exited; the next waitpid collects it.
                let _ = kill(pid, sig);
            }
        }
    }
}

impl Drop for SignalForwarder {
    fn drop(&mut self) {
        // Signals still pending for the old mask are delivered now, which
        // is what the caller would have seen without a forwarder.
        let _ = self.previous.thread_set_mask();
    }
}
