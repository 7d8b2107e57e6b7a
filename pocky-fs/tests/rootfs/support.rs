//! Forking into a private mount namespace, and tiny rootfs builders.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe, write};
use oci_spec::runtime::{Mount, Root, Spec};

/// Runs `f` in a forked child that first enters a new mount namespace with
/// every mount private, so nothing it mounts reaches the host. The child's
/// `Err` (or panic) comes back as the parent's `Err`.
///
/// The test harness is multithreaded, hence the fork: `unshare` and
/// `pivot_root` apply to the calling process, which must be the child.
pub fn in_private_mount_ns(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (read_end, write_end) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the child only runs `f` (test code that allocates, which
    // glibc's fork handlers keep safe) and leaves with `_exit`, never
    // returning into the harness or running its destructors.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(read_end);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(|e| format!("make / private: {e}"))?;
                f()
            }));
            let message = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(m)) => Some(m),
                Err(panic) => Some(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "child panicked".to_owned()),
                ),
            };
            let code = match message {
                Some(m) => {
                    let _ = write(&write_end, m.as_bytes());
                    1
                }
                None => 0,
            };
            // SAFETY: ends the forked child without unwinding into the
            // harness or flushing state it shares with the parent.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut message = String::new();
            let _ = fs::File::from(read_end).read_to_string(&mut message);
            match waitpid(child, None).map_err(|e| format!("waitpid: {e}"))? {
                WaitStatus::Exited(_, 0) if message.is_empty() => Ok(()),
                status => Err(format!("child {status:?}: {message}")),
            }
        }
    }
}

/// Turns a child's `Result` into a test failure with its message.
pub fn check(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Makes `dir` a minimal rootfs: `/bin/busybox` (static) and `/bin/sh`.
pub fn busybox_rootfs(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
}

/// A spec with `root.path` = `root` and the given mounts.
pub fn spec(root: &str, readonly: bool, mounts: Vec<Mount>) -> Spec {
    let mut spec = Spec::default();
    let mut r = Root::default();
    r.set_path(root.into());
    r.set_readonly(Some(readonly));
    spec.set_root(Some(r));
    spec.set_mounts(Some(mounts));
    spec
}

/// A bind mount of `source` on `destination` with `options`.
pub fn bind(source: &Path, destination: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(destination.into());
    m.set_typ(Some("bind".to_owned()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(options.iter().map(|o| (*o).to_owned()).collect()));
    m
}

/// The mount points listed in `/proc/self/mountinfo`, in order.
pub fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .collect()
}

/// Fails with `what` unless `cond`.
pub fn ensure(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}
