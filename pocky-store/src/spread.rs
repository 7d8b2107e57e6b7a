//! Spreading container directories over the filesystem's inode groups.
//!
//! ext4 puts a new file or subdirectory in its parent's block group. Every
//! container lives in `containers/<id>/` and makes about two dozen inodes
//! (records, bundle, overlay work and upper entries) that are freed again
//! when it is removed, so all of that churn lands in one group. On an ext4
//! without a journal the inode allocator skips any inode freed in the last
//! 30 seconds, looking up each one's inode-table block to learn so: after a
//! few hundred short-lived containers every allocation in that group walks
//! thousands of them. `perf` put this scan (`recently_deleted`) at a third
//! of `run --rm`'s CPU in a loop of runs on such a disk.
//!
//! The `T` attribute (`FS_TOPDIR_FL`, `chattr +T`) marks a directory as the
//! top of hierarchies for the Orlov allocator, which then places each new
//! subdirectory in a group of its own choosing (hashed from its name, among
//! groups with room), as it does for directories under `/`. Each container's
//! inodes then share a group with few recent deletions. Filesystems without
//! the attribute refuse or ignore it; it is a placement hint, so any error
//! is dropped.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `FS_TOPDIR_FL` from `linux/fs.h`; not exported by the libc crate.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Marks `dir` as a top directory for the inode allocator, if the
/// filesystem knows the attribute and it is not set yet.
pub(crate) fn mark_top_dir(dir: &Path) {
    let Ok(file) = File::open(dir) else {
        return;
    };
    let fd = file.as_raw_fd();
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer, which
    // points at a live int; the descriptor is owned by `file`.
    if unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) } != 0
        || flags & FS_TOPDIR_FL != 0
    {
        return;
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int through the pointer.
    unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(dir: &Path) -> Option<libc::c_int> {
        let file = File::open(dir).ok()?;
        let mut flags: libc::c_int = 0;
        // SAFETY: as in mark_top_dir.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        (rc == 0).then_some(flags)
    }

    fn on_ext4(dir: &Path) -> bool {
        nix::sys::statfs::statfs(dir)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::EXT4_SUPER_MAGIC)
    }

    #[test]
    fn marking_sets_the_attribute_on_ext4_and_is_harmless_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        mark_top_dir(dir.path());
        mark_top_dir(dir.path());
        mark_top_dir(&dir.path().join("missing"));
        if on_ext4(dir.path()) {
            let flags = flags(dir.path()).unwrap();
            assert_ne!(flags & FS_TOPDIR_FL, 0, "flags {flags:#x}");
        }
        assert!(dir.path().is_dir());
    }
}
