//! Entering the working directory without leaving the rootfs.
//!
//! `-w /proc/self/fd/N` is the runc escape of CVE-2024-21626: a descriptor
//! of the host that is still open when the runtime changes directory makes
//! `/proc/self/fd/N` a door out of the container. The working directory is
//! therefore resolved beneath `/` with `RESOLVE_IN_ROOT` and
//! `RESOLVE_NO_MAGICLINKS` (pocky-fs's resolver), which refuses every
//! `/proc/.../fd` link, and entered with `fchdir` on the resolved fd.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use pocky_fs::CreateKind;
use pocky_ns::ChildError;

/// Enters `cwd` (relative to the current root), creating it when missing
/// as Docker does. Runs after pivot_root, so `/` is the container's root.
pub fn enter(cwd: &Path) -> Result<(), ChildError> {
    let shown = cwd.display().to_string();
    let fail = |errno: i32, why: String| ChildError {
        stage: "cwd",
        errno,
        message: format!("chdir to cwd {shown:?} set in config.json failed: {why}"),
        exit_code: 126,
    };
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(e as i32, e.to_string()))?;
    let dir = pocky_fs::create_in_root(&root, cwd, CreateKind::Dir)
        .map_err(|e| fail(libc::ENOENT, e.to_string()))?;
    nix::unistd::fchdir(dir.as_fd()).map_err(|e| fail(e as i32, e.to_string()))
}
