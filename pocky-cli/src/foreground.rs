//! A container process in the foreground of `pocky run` and `pocky exec`:
//! signals sent to pocky pass on to it (through one `SignalForwarder`,
//! blocked before the process exists, so none is lost or kills pocky in
//! between), its terminal is relayed, and pocky returns its status.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::Result;
use pocky_engine::runtime::{ExitStatus, SignalForwarder};

/// Blocks the forwarded signals: call before starting the process.
pub fn forwarder() -> Result<SignalForwarder> {
    Ok(SignalForwarder::new()?)
}

/// Relays `pty` (when the process has one) while passing signals on to
/// `pid`, a child of this process, until it exits.
pub fn attend(
    forwarder: &SignalForwarder,
    pid: nix::unistd::Pid,
    pty: Option<OwnedFd>,
    interactive: bool,
) -> Result<ExitStatus> {
    let relay = pty.map(|master| {
        let _ = pocky_engine::runtime::copy_winsize(std::io::stdin().as_fd(), master.as_fd());
        // The relay ends when the last process holding the pty closes it.
        std::thread::spawn(move || pocky_engine::runtime::relay(master, interactive))
    });
    let status = forwarder.run(pid)?;
    if let Some(r) = relay {
        match r.join() {
            Ok(res) => res?,
            Err(_) => anyhow::bail!("the terminal relay panicked"),
        }
    }
    Ok(status)
}

/// This process's stdout and stderr pointed at /dev/null while the
/// container runs, for the streams `-a` leaves out; put back on drop.
pub struct Silenced {
    saved: Vec<(i32, OwnedFd)>,
}

impl Silenced {
    /// Silences stdout and stderr unless `attach` is empty (all shown) or
    /// names them.
    pub fn unless(attach: &[String]) -> Result<Silenced> {
        let mut saved = Vec::new();
        if attach.is_empty() {
            return Ok(Silenced { saved });
        }
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        for (fd, name) in [(1, "stdout"), (2, "stderr")] {
            if attach.iter().any(|a| a == name) {
                continue;
            }
            // SAFETY: fds 1 and 2 are this process's stdout and stderr,
            // open for its whole life; the borrow ends with the dup.
            let keep = nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })?;
            // Replaced in place; `Drop` puts the saved one back.
            point(fd, &null)?;
            saved.push((fd, keep));
        }
        Ok(Silenced { saved })
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        for (fd, keep) in &self.saved {
            let _ = point(*fd, keep);
        }
    }
}

/// Makes stdout (1) or stderr (2) a copy of `to`.
fn point(fd: i32, to: impl AsFd) -> nix::Result<()> {
    match fd {
        1 => nix::unistd::dup2_stdout(to),
        _ => nix::unistd::dup2_stderr(to),
    }
}
