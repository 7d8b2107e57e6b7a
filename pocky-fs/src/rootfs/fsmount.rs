//! The new mount API (`fsopen`, `fsconfig`, `fsmount`, `move_mount`):
//! EROFS layer images mounted as detached mounts straight from their
//! files (Linux 6.12's file-backed EROFS: no loop device), and the overlay
//! stacked on them by descriptor (6.13's `lowerdir+` with an fd; 6.8's
//! string form through `/proc/self/fd` otherwise).
//!
//! A detached mount belongs to no mount namespace and vanishes with its
//! last descriptor, so a layer mounted here can never leak; the overlay
//! holds its own references to its layers once made.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::FsError;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
pub(crate) const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A filesystem context being configured.
struct Context {
    fd: OwnedFd,
    fstype: &'static str,
}

impl Context {
    fn open(fstype: &'static str, name: &CStr) -> io::Result<Context> {
        // SAFETY: `name` is NUL-terminated and outlives the call.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        let fd = check_fd(fd)?;
        Ok(Context { fd, fstype })
    }

    fn set_string(&self, key: &CStr, value: &CStr) -> io::Result<()> {
        // SAFETY: key and value are NUL-terminated and outlive the call;
        // the context fd is open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        check(rc)
    }

    fn set_fd(&self, key: &CStr, fd: &OwnedFd) -> io::Result<()> {
        // SAFETY: key is NUL-terminated; both fds are open for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_SET_FD,
                key.as_ptr(),
                std::ptr::null::<libc::c_char>(),
                fd.as_raw_fd(),
            )
        };
        check(rc)
    }

    /// Creates the superblock and a detached mount of it.
    fn mount(&self, attrs: libc::c_uint) -> io::Result<OwnedFd> {
        // SAFETY: the context fd is open; the null key and value are what
        // FSCONFIG_CMD_CREATE takes.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        check(rc)?;
        // SAFETY: the context fd is open and configured.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.fd.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                attrs,
            )
        };
        check_fd(fd)
    }

    /// The error with the kernel's own words, which the context keeps.
    fn error(&self, what: &str, path: &Path, e: io::Error) -> FsError {
        let mut buf = [0u8; 256];
        let mut why = String::new();
        // SAFETY: `buf` is valid for its length; reading a context fd
        // returns one queued message or fails.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if let Ok(n) = usize::try_from(n)
            && n > 2
        {
            why = format!(" ({})", String::from_utf8_lossy(&buf[2..n]));
        }
        FsError::Mount {
            fstype: self.fstype.to_owned(),
            from: format!("{what}{why}"),
            destination: path.to_path_buf(),
            source: e,
        }
    }
}

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn check_fd(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(rc).map_err(|_| io::Error::last_os_error())?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mounts the EROFS image file `image` read-only as a detached mount.
pub fn mount_erofs(image: &Path) -> Result<OwnedFd, FsError> {
    let err = |e| FsError::Mount {
        fstype: "erofs".into(),
        from: image.display().to_string(),
        destination: "(detached)".into(),
        source: e,
    };
    let ctx = Context::open("erofs", c"erofs").map_err(err)?;
    let source = cstr(image.as_os_str().as_bytes()).map_err(err)?;
    ctx.set_string(c"source", &source)
        .and_then(|()| ctx.mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV))
        .map_err(|e| ctx.error(&image.display().to_string(), Path::new("(detached)"), e))
}

/// One lower layer handed to overlayfs.
pub(crate) enum LowerRef<'a> {
    Path(&'a Path),
    Mount(OwnedFd),
}

/// Mounts an overlay of `lowers` (top-most first) with `upper` and `work`
/// on `target`, with the mount attributes `attrs`.
pub(crate) fn mount_overlay_fds(
    lowers: &[LowerRef<'_>],
    upper: &Path,
    work: &Path,
    target: &Path,
    attrs: libc::c_uint,
) -> Result<(), FsError> {
    let ctx = Context::open("overlay", c"overlay")
        .map_err(|e| Context::error_without_fd("overlay", target, e))?;
    let fail = |what: &str, e| ctx.error(what, target, e);
    for lower in lowers {
        match lower {
            LowerRef::Path(p) => {
                let s = cstr(p.as_os_str().as_bytes()).map_err(|e| fail("lowerdir+", e))?;
                ctx.set_string(c"lowerdir+", &s)
                    .map_err(|e| fail(&format!("lowerdir+={}", p.display()), e))?;
            }
            LowerRef::Mount(fd) => {
                if let Err(e) = ctx.set_fd(c"lowerdir+", fd) {
                    if e.raw_os_error() != Some(libc::EINVAL) {
                        return Err(fail("lowerdir+ (a layer image)", e));
                    }
                    // Before 6.13 layers are named by path only.
                    let p = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())
                        .map_err(|e| fail("lowerdir+", e))?;
                    ctx.set_string(c"lowerdir+", &p)
                        .map_err(|e| fail("lowerdir+ (a layer image)", e))?;
                }
            }
        }
    }
    let upper_s = cstr(upper.as_os_str().as_bytes()).map_err(|e| fail("upperdir", e))?;
    let work_s = cstr(work.as_os_str().as_bytes()).map_err(|e| fail("workdir", e))?;
    ctx.set_string(c"upperdir", &upper_s)
        .map_err(|e| fail(&format!("upperdir={}", upper.display()), e))?;
    ctx.set_string(c"workdir", &work_s)
        .map_err(|e| fail(&format!("workdir={}", work.display()), e))?;
    let mnt = ctx.mount(attrs).map_err(|e| fail("create", e))?;
    let to = cstr(target.as_os_str().as_bytes()).map_err(|e| fail("target", e))?;
    // SAFETY: `mnt` is an open mount fd, the empty path and `to` are
    // NUL-terminated and outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(rc).map_err(|e| FsError::Mount {
        fstype: "overlay".into(),
        from: "move_mount".into(),
        destination: target.to_path_buf(),
        source: e,
    })
}

impl Context {
    fn error_without_fd(fstype: &str, target: &Path, e: io::Error) -> FsError {
        FsError::Mount {
            fstype: fstype.to_owned(),
            from: "fsopen".into(),
            destination: target.to_path_buf(),
            source: e,
        }
    }
}

/// Whether this kernel mounts EROFS image files (Linux 6.12 and later):
/// writes a one-directory image in `dir`, mounts it detached (so no mount
/// namespace changes) and removes it again. Needs root.
pub fn probe_erofs(dir: &Path) -> Result<(), FsError> {
    let path = dir.join(format!(".erofs-probe-{}", std::process::id()));
    let write = || -> Result<(), FsError> {
        let file = std::fs::File::create(&path).map_err(|source| FsError::Io {
            op: "create",
            entry: path.display().to_string(),
            source,
        })?;
        let erofs = |source| FsError::Erofs {
            entry: path.display().to_string(),
            source,
        };
        pocky_erofs::Builder::new(file, 0)
            .and_then(pocky_erofs::Builder::finish)
            .map_err(erofs)?;
        Ok(())
    };
    let result = write().and_then(|()| mount_erofs(&path).map(drop));
    let _ = std::fs::remove_file(&path);
    result
}
