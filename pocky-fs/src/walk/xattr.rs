//! Extended attributes of an entry being archived, read through its own
//! descriptor so that no name is looked up again.
//!
//! overlayfs keeps its bookkeeping in `trusted.overlay.*` (or
//! `user.overlay.*` with `userxattr`): those are read here to find opaque
//! directories and what a layer cannot express, and never archived.
//! `security.selinux` is left out too: it is the host's label for the
//! container's files, not the image's data, and an image carrying one would
//! impose it on every host that runs it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::fsio::io_err;
use crate::FsError;

/// The kernel's bounds (XATTR_LIST_MAX, XATTR_SIZE_MAX): one buffer of this
/// size always holds the whole list or any one value.
const XATTR_MAX: usize = 64 * 1024;

const OVERLAY_PREFIXES: [&[u8]; 2] = [b"trusted.overlay.", b"user.overlay."];
const LEFT_OUT: [&[u8]; 1] = [b"security.selinux"];

/// How to reach an entry's xattrs.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A descriptor opened for reading (a file or directory): `f*xattr`.
    Fd(BorrowedFd<'a>),
    /// An `O_PATH` descriptor (a symlink, FIFO or device node, which are
    /// not opened for real: opening a device can act on it). The
    /// `/proc/self/fd` magic link leads to exactly its inode, a symlink
    /// itself included.
    Path(BorrowedFd<'a>),
}

/// What an entry's xattrs say.
#[derive(Debug, Default)]
pub(crate) struct Xattrs {
    /// To archive, sorted by name.
    pub(crate) keep: Vec<(String, Vec<u8>)>,
    /// `overlay.opaque` is `y`: the directory hides the lower layers.
    pub(crate) opaque: bool,
    /// Set to the overlay xattr that makes the upper entry incomplete on its
    /// own (`redirect`: a renamed directory whose contents stay below;
    /// `metacopy`: a file whose data stays below).
    pub(crate) incomplete: Option<String>,
}

/// Reads the xattrs of `src`; `path` names it in errors. A filesystem
/// without xattrs has none.
pub(crate) fn read(src: Source<'_>, path: &Path) -> Result<Xattrs, FsError> {
    let mut out = Xattrs::default();
    let list = match list(src) {
        Ok(list) => list,
        Err(Errno::ENOTSUP) => return Ok(out),
        Err(e) => return Err(io_err("listxattr", path, e)),
    };
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if LEFT_OUT.contains(&name) {
            continue;
        }
        let value = match get(src, name) {
            Ok(v) => v,
            // Removed since the listing.
            Err(Errno::ENODATA) => continue,
            Err(e) => {
                let shown = format!("{} ({})", path.display(), String::from_utf8_lossy(name));
                return Err(io_err("getxattr", Path::new(&shown), e));
            }
        };
        if let Some(key) = OVERLAY_PREFIXES.iter().find_map(|p| name.strip_prefix(*p)) {
            match key {
                b"opaque" => out.opaque |= value == b"y",
                b"redirect" | b"metacopy" => {
                    out.incomplete = Some(String::from_utf8_lossy(name).into_owned());
                }
                _ => {}
            }
            continue;
        }
        let name = String::from_utf8(name.to_vec()).map_err(|_| FsError::Unarchivable {
            entry: path.display().to_string(),
            reason: format!(
                "xattr name {} is not UTF-8, which a PAX record cannot carry",
                String::from_utf8_lossy(name)
            ),
        })?;
        out.keep.push((name, value));
    }
    out.keep.sort();
    Ok(out)
}

fn list(src: Source<'_>) -> Result<Vec<u8>, Errno> {
    let call = |buf: &mut [u8]| -> Result<usize, Errno> {
        let (ptr, len) = if buf.is_empty() {
            (std::ptr::null_mut(), 0)
        } else {
            (buf.as_mut_ptr().cast::<libc::c_char>(), buf.len())
        };
        let rc = match src {
            // SAFETY: `fd` is open for the borrow; `ptr` is null with length
            // 0 (a size query) or valid for `len` writable bytes.
            Source::Fd(fd) => unsafe { libc::flistxattr(fd.as_raw_fd(), ptr, len) },
            Source::Path(fd) => {
                let proc = proc_path(fd);
                // SAFETY: as above; `proc` is NUL-terminated and outlives
                // the call.
                unsafe { libc::listxattr(proc.as_ptr(), ptr, len) }
            }
        };
        Errno::result(rc).map(|n| usize::try_from(n).unwrap_or(0))
    };
    // Most entries have none: one syscall.
    if call(&mut [])? == 0 {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; XATTR_MAX];
    let n = call(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn get(src: Source<'_>, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let mut buf = vec![0u8; XATTR_MAX];
    let ptr = buf.as_mut_ptr().cast::<libc::c_void>();
    let rc = match src {
        // SAFETY: `fd` is open for the borrow, `name` is NUL-terminated and
        // `buf` is valid for its length of writable bytes.
        Source::Fd(fd) => unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, buf.len()) },
        Source::Path(fd) => {
            let proc = proc_path(fd);
            // SAFETY: as above; `proc` is NUL-terminated and outlives the
            // call.
            unsafe { libc::getxattr(proc.as_ptr(), name.as_ptr(), ptr, buf.len()) }
        }
    };
    let n = Errno::result(rc).map(|n| usize::try_from(n).unwrap_or(0))?;
    buf.truncate(n);
    Ok(buf)
}

fn proc_path(fd: BorrowedFd<'_>) -> CString {
    // Digits only: no NUL inside.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}
