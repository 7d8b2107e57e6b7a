//! The user's network namespace's way out: slirp4netns (Debian package
//! `slirp4netns`), a user-mode TCP/IP stack that owns a tap device in the
//! namespace and makes the namespace's outbound connections as ordinary
//! sockets of the user on the host. The namespace routes through it
//! (10.0.2.100/24 on `tap0`, gateway 10.0.2.2), and the bridges' NAT rules
//! send containers' traffic that way. The host's loopback stays out of
//! reach (`--disable-host-loopback`), as it is for rootful containers.
//!
//! It starts with the holder and ends with it: its `--exit-fd` is a pipe
//! whose only write end the holder keeps.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::error::{Result, RootlessError};

/// The program that links the namespace to the host.
pub const SLIRP4NETNS: &str = "slirp4netns";
/// The record, in the runtime directory, that the uplink started.
const RECORD: &str = "uplink";
/// Or why it did not.
const FAILED: &str = "uplink.error";
/// How long slirp4netns may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Whether the uplink of the holder that `runtime` names was started,
/// or else why not.
pub fn state(runtime: &Path) -> std::result::Result<(), String> {
    if runtime.join(RECORD).exists() {
        return Ok(());
    }
    Err(std::fs::read_to_string(runtime.join(FAILED))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "it did not start".to_owned()))
}

/// The pid of the uplink that `runtime` names, if it started.
pub fn pid(runtime: &Path) -> Option<u32> {
    std::fs::read_to_string(runtime.join(RECORD))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Starts the uplink of a new holder (see [`try_start`]); a failure is
/// recorded for [`state`] rather than returned: without a way out the
/// user's containers still run, with `--network none`, and pocky refuses
/// to attach one to a network rather than give it a dead end.
pub(crate) fn start(holder: Pid, exit_fd: OwnedFd, runtime: &Path) {
    let _ = std::fs::remove_file(runtime.join(RECORD));
    let _ = std::fs::remove_file(runtime.join(FAILED));
    if let Err(e) = try_start(holder, exit_fd, runtime) {
        let _ = std::fs::write(runtime.join(FAILED), format!("{e}\n"));
    }
}

/// Starts slirp4netns for the holder `holder`, with `exit_fd` (the read
/// end of the holder's pipe) as its exit descriptor, and waits until it
/// configured the namespace.
fn try_start(holder: Pid, exit_fd: OwnedFd, runtime: &Path) -> Result<()> {
    let record = runtime.join(RECORD);
    let program = crate::idmap::find_program(SLIRP4NETNS).ok_or(RootlessError::MissingHelper {
        helper: SLIRP4NETNS,
        package: "slirp4netns",
    })?;
    let (mut ready_r, ready_w) = std::io::pipe().map_err(RootlessError::io("pipe", "-"))?;
    let log_path = runtime.join("slirp4netns.log");
    let log = File::create(&log_path).map_err(RootlessError::io("creating", &log_path))?;
    let (exit_raw, ready_raw) = (exit_fd.as_raw_fd(), ready_w.as_raw_fd());
    let mut cmd = Command::new(&program);
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
        "--exit-fd=3",
        "--ready-fd=4",
    ])
    .arg(holder.as_raw().to_string())
    .arg("tap0")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(log);
    // SAFETY: between fork and exec the closure calls only setsid, fcntl
    // and dup2, which are async-signal-safe; the two descriptors stay
    // open in this process until after the spawn. They go to 3 and 4
    // through close-on-exec copies above both, so neither move can
    // overwrite the other.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            let e = libc::fcntl(exit_raw, libc::F_DUPFD_CLOEXEC, 10);
            let r = libc::fcntl(ready_raw, libc::F_DUPFD_CLOEXEC, 10);
            if e < 0 || r < 0 || libc::dup2(e, 3) < 0 || libc::dup2(r, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(RootlessError::io("running", &program))?;
    drop(ready_w);
    drop(exit_fd);
    let failed = |what: String| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = log.lines().last().unwrap_or("").to_owned();
        RootlessError::Helper {
            helper: SLIRP4NETNS,
            message: format!("{what} (pid {}): {last}", child.id()),
        }
    };
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&ready_r),
        PollFlags::POLLIN,
    )];
    let ms = u16::try_from(READY_WITHIN.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(0) => return Err(failed("not ready in time".into())),
        Err(e) => return Err(failed(format!("waiting for it: {e}"))),
        Ok(_) => {}
    }
    let mut byte = [0u8; 1];
    match ready_r.read(&mut byte) {
        Ok(1) if byte[0] == b'1' => {}
        _ => return Err(failed("it exited before it was ready".into())),
    }
    std::fs::write(&record, format!("{}\n", child.id()))
        .map_err(RootlessError::io("writing", &record))?;
    Ok(())
}
