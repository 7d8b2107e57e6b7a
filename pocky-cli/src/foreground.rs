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
