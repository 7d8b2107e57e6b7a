//! Entering the prepared root: `pivot_root`, never a bare chroot.
//!
//! `pivot_root(".", ".")` stacks the old root on top of the new one at `/`;
//! a detached unmount of `.` then drops it, so no `put_old` directory is
//! needed in the image (youki's and runc's way). A chroot alone would leave
//! the host's mounts reachable (`chroot` again, or `..` from an fd).

use std::io;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{chdir, pivot_root};

use crate::FsError;

fn error(op: &'static str, path: &Path, errno: nix::errno::Errno) -> FsError {
    FsError::Rootfs {
        op,
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

/// Makes `root` (a mount point) the process's `/`, drops the old root, and
/// remounts `/` read-only when `readonly`.
pub fn enter_rootfs(root: &Path, readonly: bool) -> Result<(), FsError> {
    chdir(root).map_err(|e| error("chdir", root, e))?;
    pivot_root(".", ".").map_err(|e| error("pivot_root", root, e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| error("unmount old root", root, e))?;
    chdir("/").map_err(|e| error("chdir", Path::new("/"), e))?;
    if readonly {
        remount_root_readonly()?;
    }
    Ok(())
}

/// A bind remount replaces all per-mount flags, so the ones `/` has are
/// carried over (in a user namespace dropping a locked one is EPERM).
fn remount_root_readonly() -> Result<(), FsError> {
    let root = Path::new("/");
    let current = statvfs(root)
        .map_err(|e| error("statvfs", root, e))?
        .flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(st) {
            flags |= ms;
        }
    }
    mount(None::<&str>, root, None::<&str>, flags, None::<&str>)
        .map_err(|e| error("remount read-only", root, e))
}
