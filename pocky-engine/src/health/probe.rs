//! One probe: the check exec'd in the container (as `pocky exec` would,
//! through [`crate::exec`]), its combined stdout and stderr captured up to
//! Docker's 4096 bytes, killed with everything it started when it
//! exceeds its timeout or when the prober is told to stop.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Instant;

use nix::fcntl::OFlag;
use oci_spec::runtime::Spec;
use pocky_runtime::exec::ExecOptions;
use pocky_runtime::launch::Stdio;
use pocky_store::HealthResult;

use super::config::{Settings, go_duration_string};
use crate::exec::{ExecError, ExecProcess};
use crate::state::now;

/// Docker keeps this much of a probe's output.
pub const MAX_OUTPUT: usize = 4096;

/// How a probe ended.
#[derive(Debug)]
pub enum Outcome {
    Done(HealthResult),
    /// The prober was told to stop meanwhile; the probe was killed.
    Stopped,
}

/// Runs the check once in the container whose first process is `pid`.
/// `stop` becomes readable (closed) when the prober must stop.
pub fn run(pid: i32, spec: &Spec, settings: &Settings, stop: BorrowedFd<'_>) -> Outcome {
    let start = now();
    let failed = |message: String| {
        Outcome::Done(HealthResult {
            start,
            end: now(),
            exit_code: -1,
            output: message,
        })
    };
    let want = ExecProcess {
        args: settings.probe.argv(),
        ..ExecProcess::default()
    };
    let process = match crate::exec::process_for(spec, &want) {
        Ok(p) => p,
        Err(e) => return failed(crate::one_line(&e)),
    };
    let (out_r, stdio) = match pipes() {
        Ok(p) => p,
        Err(e) => return failed(format!("making the probe's pipes: {e}")),
    };
    let opts = ExecOptions {
        new_session: true,
        ..ExecOptions::default()
    };
    let child = match crate::exec::spawn(pid, spec, &process, stdio, opts) {
        Ok(c) => c,
        // Docker reports a check that cannot start with -1 and the error.
        Err(ExecError::Child { message, .. }) => return failed(message),
        Err(ExecError::Runtime(e)) => return failed(pocky_runtime::one_line_error(&e)),
    };
    let leader = child.pid.as_raw();
    let pidfd = match pidfd_open(leader) {
        Ok(fd) => fd,
        Err(e) => {
            kill_group(leader);
            let _ = child.wait();
            return failed(format!("watching the probe: {e}"));
        }
    };
    let mut output = Output::new(out_r);
    let deadline = Instant::now() + settings.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = vec![pollfd(stop.as_raw_fd()), pollfd(pidfd.as_raw_fd())];
        if let Some(fd) = output.raw_fd() {
            fds.push(pollfd(fd));
        }
        let ms = libc::c_int::try_from(left.as_millis().saturating_add(1)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid pollfd array for the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            kill_group(leader);
            let _ = child.wait();
            return failed("waiting for the probe".into());
        }
        if fds[0].revents != 0 {
            kill_group(leader);
            let _ = child.wait();
            return Outcome::Stopped;
        }
        if fds.get(2).is_some_and(|f| f.revents != 0) {
            output.read_available();
        }
        if fds[1].revents != 0 {
            // Exited (not yet reaped, so its pid and group id cannot be
            // reused): what it left running in its session goes too.
            kill_group(leader);
            output.read_available();
            let code = child.wait().map_or(-1, |s| s.code);
            return Outcome::Done(HealthResult {
                start,
                end: now(),
                exit_code: code,
                output: output.text(),
            });
        }
        if Instant::now() >= deadline {
            kill_group(leader);
            let _ = child.wait();
            return Outcome::Done(HealthResult {
                start,
                end: now(),
                exit_code: -1,
                output: format!(
                    "Health check exceeded timeout ({})",
                    go_duration_string(settings.timeout)
                ),
            });
        }
    }
}

/// stdin on /dev/null; stdout and stderr one pipe, whose read end (not
/// blocking, so a probe's background child holding the pipe cannot stall
/// the prober) comes back.
fn pipes() -> std::io::Result<(OwnedFd, Stdio)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    let null: OwnedFd = std::fs::File::open("/dev/null")?.into();
    let err = w.try_clone()?;
    Ok((
        r,
        Stdio {
            stdin: Some(null),
            stdout: Some(w),
            stderr: Some(err),
            terminal: false,
        },
    ))
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// SIGKILL to the probe's session (it is its group's leader), and to the
/// probe itself in case it never got as far as its own session.
fn kill_group(leader: i32) {
    // SAFETY: kill(2) with our own child's pid and its process group.
    unsafe {
        libc::kill(-leader, libc::SIGKILL);
        libc::kill(leader, libc::SIGKILL);
    }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The first [`MAX_OUTPUT`] bytes of what the probe wrote.
struct Output {
    pipe: Option<std::fs::File>,
    kept: Vec<u8>,
}

impl Output {
    fn new(fd: OwnedFd) -> Self {
        Output {
            pipe: Some(fd.into()),
            kept: Vec::new(),
        }
    }

    fn raw_fd(&self) -> Option<i32> {
        self.pipe.as_ref().map(|p| p.as_raw_fd())
    }

    /// Reads what is there now; past the limit it is read and dropped,
    /// so the probe never blocks on a full pipe.
    fn read_available(&mut self) {
        let Some(pipe) = self.pipe.as_mut() else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.pipe = None;
                    return;
                }
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pipe = None;
                    return;
                }
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_first_4096_bytes_and_drains_the_rest() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        let mut out = Output::new(r);
        let mut w = std::fs::File::from(w);
        std::io::Write::write_all(&mut w, &[b'a'; 5000]).unwrap();
        out.read_available();
        assert!(out.raw_fd().is_some(), "still open, nothing more yet");
        drop(w);
        out.read_available();
        assert_eq!(out.raw_fd(), None, "closed at EOF");
        assert_eq!(out.text().len(), MAX_OUTPUT);
    }
}
