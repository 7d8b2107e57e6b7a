//! Work in the user's network namespace (the holder's), where rootless
//! pocky keeps its bridges, veths' host ends and firewall rules.
//!
//! A rootless pocky process stays in the host's network namespace: it
//! talks to registries there and binds published ports there, and once
//! it entered the holder's namespace it could not come back (the host's
//! belongs to the initial user namespace, where it holds no capability).
//! So each piece of network work runs in a forked child that enters the
//! holder's namespace, does it, writes its answer to a pipe and exits.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

use crate::error::{Result, RootlessError};

/// Makes `iptables` findable: a user's PATH usually lacks the sbin
/// directories, where Debian puts it.
fn with_sbin_path() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    for sbin in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|d| d == Path::new(sbin)) {
            dirs.push(sbin.into());
        }
    }
    if let Ok(joined) = std::env::join_paths(dirs) {
        // SAFETY: called in the forked child, which has one thread: no
        // other thread can read the environment meanwhile.
        unsafe { std::env::set_var("PATH", joined) };
    }
}

/// Runs `f` in the network namespace `netns` (a `/proc/PID/ns/net`) in a
/// forked child and returns the bytes it produced. The fork is libc's,
/// whose handlers leave the allocator usable in the child even if another
/// thread of this process was allocating; `f` should still do only what
/// the network work needs (files, netlink, `iptables`).
pub fn run_in(netns: &Path, f: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
    let ns = File::open(netns).map_err(RootlessError::io("opening", netns))?;
    let (mut answer_r, answer_w) = std::io::pipe().map_err(RootlessError::io("pipe", "-"))?;
    // SAFETY: the child runs `f` on its copy of the memory and leaves with
    // _exit, never returning into the caller's frames; a panic is caught
    // before it could unwind there.
    match unsafe { fork() }.map_err(RootlessError::sys("fork"))? {
        ForkResult::Child => {
            drop(answer_r);
            let mut out = answer_w;
            let code = match nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET) {
                Ok(()) => {
                    drop(ns);
                    with_sbin_path();
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                        Ok(bytes) => i32::from(out.write_all(&bytes).is_err()),
                        Err(_) => 2,
                    }
                }
                Err(e) => {
                    let _ = write!(out, "\0setns: {e}");
                    3
                }
            };
            drop(out);
            // SAFETY: leaves the forked copy without running the caller's
            // destructors (its locks, its container handles).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(answer_w);
            drop(ns);
            let mut bytes = Vec::new();
            let read = answer_r.read_to_end(&mut bytes);
            let status = loop {
                match waitpid(child, None) {
                    Err(nix::errno::Errno::EINTR) => {}
                    other => break other,
                }
            };
            read.map_err(RootlessError::io(
                "reading the answer of",
                "the network child",
            ))?;
            match status {
                Ok(WaitStatus::Exited(_, 0)) => Ok(bytes),
                Ok(WaitStatus::Exited(_, 3)) => Err(RootlessError::Holder(format!(
                    "entering the user's network namespace {}: {}",
                    netns.display(),
                    String::from_utf8_lossy(bytes.strip_prefix(b"\0setns: ").unwrap_or(&bytes))
                ))),
                other => Err(RootlessError::Holder(format!(
                    "the network work in {} failed ({other:?})",
                    netns.display()
                ))),
            }
        }
    }
}
