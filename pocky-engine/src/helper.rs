//! The small processes a container's owner forks beside it (the health
//! prober, the attach server): processes rather than threads because the
//! owner forks again (probes enter the container, a restart policy starts
//! it anew), which a threaded process must not.
//!
//! A helper gets its own session (no terminal's signals reach it), default
//! signal handling, stdio on /dev/null, and no descriptor of its parent's
//! but a stop pipe on fd 3 and the ones it was given on fds 4 and up: it
//! must not hold the CLI's pipes, the monitor lock or the container's
//! output open, so a killed owner leaves nothing held. The owner stops it
//! by closing the pipe (which a dead owner does too), waits a bounded time,
//! then SIGKILLs it.

use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The fd a helper finds its stop pipe on; the given fds follow it.
pub const STOP_FD: RawFd = 3;

/// A running helper; dropping it stops it and reaps it.
#[derive(Debug)]
pub struct Helper {
    pid: Pid,
    stop: Option<OwnedFd>,
    grace: Duration,
}

/// Forks `body` as a helper with `keep` on fds 4, 5, ... (in order); its
/// return value is the exit code. `grace` is how long a stop may take
/// before SIGKILL. Call it from a single-threaded process. None when the
/// fork fails (logged as `what`): the container runs on without it.
pub fn spawn(
    what: &str,
    keep: Vec<OwnedFd>,
    grace: Duration,
    body: impl FnOnce(BorrowedFd<'static>) -> i32,
) -> Option<Helper> {
    let (stop_r, stop_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            crate::log::debug!("{what}: {e}");
            return None;
        }
    };
    // SAFETY: the caller is single-threaded; the child runs this process's
    // Rust code and leaves with _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(stop_w);
            let code = match prepare_child(stop_r, keep) {
                Ok(stop) => body(stop),
                Err(_) => 1,
            };
            // SAFETY: leaves without running the owner's destructors (its
            // container handle, its locks) in this copy of it.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => Some(Helper {
            pid: child,
            stop: Some(stop_w),
            grace,
        }),
        Err(e) => {
            crate::log::debug!("{what}: fork: {e}");
            None
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing the pipe is the request to stop.
        drop(self.stop.take());
        let deadline = Instant::now() + self.grace;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    return;
                }
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }
}

fn prepare_child(stop: OwnedFd, keep: Vec<OwnedFd>) -> std::io::Result<BorrowedFd<'static>> {
    let _ = nix::unistd::setsid();
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
        Signal::SIGPIPE,
    ] {
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let fds: Vec<RawFd> = std::iter::once(stop)
        .chain(keep)
        .map(IntoRawFd::into_raw_fd)
        .collect();
    let last = STOP_FD + RawFd::try_from(fds.len()).unwrap_or(RawFd::MAX - STOP_FD) - 1;
    // SAFETY: moves the descriptors (released above) to 3, 4, ... through
    // duplicates above them all (so no move overwrites one still to be
    // moved), puts /dev/null on 0-2, then closes everything after the
    // last; no Rust object of this process owns any of those numbers
    // afterwards (`null` is closed by the range and forgotten below).
    unsafe {
        use std::os::fd::AsRawFd;
        let high: Vec<RawFd> = fds
            .iter()
            .map(|&fd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100))
            .collect();
        if high.iter().any(|&fd| fd < 0) {
            return Err(std::io::Error::last_os_error());
        }
        for fd in 0..3 {
            libc::dup2(null.as_raw_fd(), fd);
        }
        for (target, fd) in (STOP_FD..).zip(high) {
            if libc::dup3(fd, target, libc::O_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let first = libc::c_uint::try_from(last + 1).unwrap_or(libc::c_uint::MAX);
        libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0);
    }
    // The fd was closed by close_range: dropping the File would close it
    // again (or another fd that took its number).
    let _ = null.into_raw_fd();
    // SAFETY: fd 3 is the stop pipe, open for the rest of this process.
    Ok(unsafe { BorrowedFd::borrow_raw(STOP_FD) })
}
