//! The spec's `linux.maskedPaths` and `linux.readonlyPaths` (Docker's
//! defaults below), applied inside the rootfs after its mounts.
//!
//! A masked directory gets a read-only empty tmpfs on top, a masked file the
//! host's `/dev/null`; a read-only path is bound onto itself and remounted
//! read-only. Paths the kernel does not have are skipped, as runc does.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{SFlag, fstat};
use nix::sys::statvfs::{FsFlags, fstatvfs};

use super::resolve::{fd_path, open_in_root_if_exists};
use crate::FsError;

/// Docker's masked paths (moby `oci.DefaultSpec`).
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Docker's read-only paths (moby `oci.DefaultSpec`).
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn mount_error(fstype: &str, from: &str, path: &Path, errno: nix::errno::Errno) -> FsError {
    FsError::Mount {
        fstype: fstype.to_owned(),
        from: from.to_owned(),
        destination: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

fn is_dir(fd: &OwnedFd, path: &Path) -> Result<bool, FsError> {
    let st = fstat(fd.as_fd()).map_err(|e| FsError::Rootfs {
        op: "stat",
        path: path.to_path_buf(),
        source: io::Error::from(e),
    })?;
    Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// Makes each existing path in `paths` read-only, keeping the nosuid,
/// nodev and noexec its mount has.
pub(crate) fn make_readonly(root: &OwnedFd, paths: &[String]) -> Result<(), FsError> {
    for path in paths.iter().map(Path::new) {
        let Some(fd) = open_in_root_if_exists(root, path, OFlag::empty())? else {
            continue;
        };
        mount(
            Some(&fd_path(&fd)),
            &fd_path(&fd),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| mount_error("bind", &path.to_string_lossy(), path, e))?;
        // Re-resolved: the remount must hit the new bind, not what is under.
        let Some(top) = open_in_root_if_exists(root, path, OFlag::empty())? else {
            continue;
        };
        let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        if let Ok(st) = fstatvfs(top.as_fd()) {
            for (s, m) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            ] {
                if st.flags().contains(s) {
                    flags |= m;
                }
            }
        }
        mount(
            None::<&str>,
            &fd_path(&top),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| mount_error("bind", "read-only remount", path, e))?;
    }
    Ok(())
}

/// Hides each existing path in `paths`.
pub(crate) fn mask(root: &OwnedFd, paths: &[String]) -> Result<(), FsError> {
    for path in paths.iter().map(Path::new) {
        let Some(fd) = open_in_root_if_exists(root, path, OFlag::empty())? else {
            continue;
        };
        if is_dir(&fd, path)? {
            mount(
                Some("tmpfs"),
                &fd_path(&fd),
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0,mode=755"),
            )
            .map_err(|e| mount_error("tmpfs", "mask", path, e))?;
        } else {
            mount(
                Some("/dev/null"),
                &fd_path(&fd),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| mount_error("bind", "/dev/null", path, e))?;
        }
    }
    Ok(())
}
