//! The small fd-level pieces of the walk: listing a directory, reopening an
//! `O_PATH` descriptor, reading a file whose size may change, and the
//! errors, each with the entry's path.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{FileStat, Mode, SFlag};

use crate::FsError;

/// Reopens what the `O_PATH` (or any) descriptor `fd` holds for reading.
/// The magic link resolves to exactly that inode, without a lookup by name,
/// so nothing swapped in under the name since can be opened instead.
pub(crate) fn reopen_read(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    open(
        proc.as_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The names in `dir`, `.` and `..` left out, in no particular order.
pub(crate) fn entry_names(dir: &OwnedFd) -> nix::Result<Vec<CString>> {
    let fd = dir.try_clone().map_err(|e| errno_of(&e))?;
    let mut d = Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let n = entry?.file_name().to_owned();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            out.push(n);
        }
    }
    Ok(out)
}

/// procfs and sysfs inside a running container's tree: their files claim
/// sizes they do not have, and they describe the kernel, not the data.
pub(crate) fn skip_contents(dir: &OwnedFd) -> bool {
    use nix::sys::statfs::{PROC_SUPER_MAGIC, SYSFS_MAGIC, fstatfs};
    fstatfs(dir.as_fd()).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == PROC_SUPER_MAGIC || t == SYSFS_MAGIC
    })
}

pub(crate) fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// True when `now` is still the inode the listing saw, as the same type.
pub(crate) fn same_inode(seen: &FileStat, now: &FileStat) -> bool {
    seen.st_ino == now.st_ino && seen.st_dev == now.st_dev && kind(seen) == kind(now)
}

/// A reader that ends at its first error and keeps it, so the padding
/// after it never hides a failed read.
pub(crate) struct ReadErrors<R> {
    inner: R,
    pub(crate) error: Option<io::Error>,
}

impl<R> ReadErrors<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, error: None }
    }
}

impl<R: Read> Read for ReadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return Ok(0);
                }
                ok => return ok,
            }
        }
    }
}

/// The errno inside an OS error (fd duplication only fails with one).
pub(crate) fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

pub(crate) fn io_err(op: &'static str, path: &Path, e: Errno) -> FsError {
    io_err_io(op, path, e.into())
}

pub(crate) fn io_err_io(op: &'static str, path: &Path, source: io::Error) -> FsError {
    FsError::Io {
        op,
        entry: display(path),
        source,
    }
}

pub(crate) fn write_err(path: &Path, source: io::Error) -> FsError {
    FsError::Write {
        entry: display(path),
        source,
    }
}

pub(crate) fn changed(path: &Path) -> FsError {
    io_err_io(
        "open",
        path,
        io::Error::other("the entry changed while it was being archived"),
    )
}

pub(crate) fn display(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        return ".".to_owned();
    }
    path.to_string_lossy().into_owned()
}

/// The mount id of `name` in `dir` (of `dir` itself without a name), not
/// following a symlink; `None` where the kernel does not say.
pub(crate) fn mount_id(
    dir: std::os::fd::BorrowedFd<'_>,
    name: Option<&std::ffi::CStr>,
) -> Option<u64> {
    use std::os::fd::AsRawFd;
    const STATX_MNT_ID: u32 = 0x1000;
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let mut flags = libc::AT_SYMLINK_NOFOLLOW;
    if name.is_none() {
        flags |= libc::AT_EMPTY_PATH;
    }
    let path = name.unwrap_or(c"");
    // SAFETY: `path` is NUL-terminated, `stx` is valid for writing, and
    // `dir` is an open descriptor for the call.
    let rc = unsafe {
        libc::statx(
            dir.as_raw_fd(),
            path.as_ptr(),
            flags,
            STATX_MNT_ID,
            &mut stx,
        )
    };
    (rc == 0 && stx.stx_mask & STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}
