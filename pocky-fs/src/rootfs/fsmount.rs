//! The new mount API (`fsopen`, `fsconfig`, `fsmount`): an EROFS image
//! mounted as a detached mount straight from its file (Linux 6.12's
//! file-backed EROFS: no loop device), to learn whether this kernel can
//! (a detached mount belongs to no mount namespace and vanishes with its
//! descriptor). Containers mount their layers with plain mount(2) inside
//! their own namespace instead (see `overlay.rs`): dropping a detached
//! mount waits for an RCU grace period.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::FsError;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

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
