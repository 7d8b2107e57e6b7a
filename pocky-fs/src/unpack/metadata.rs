//! Ownership, mode, xattrs and times of unpacked entries.
//!
//! Everything is applied through a file descriptor opened `O_NOFOLLOW` on
//! the entry itself, or with `AT_SYMLINK_NOFOLLOW` for symlinks, so no
//! metadata can land on a link's target.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, UtimensatFlags, fchmod, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use crate::FsError;

/// Metadata of one tar entry, PAX overrides applied.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Permission bits including setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) mtime: TimeSpec,
    pub(crate) xattrs: Vec<(CString, Vec<u8>)>,
}

/// Whether failures to chown or to set `trusted.*` xattrs are errors.
///
/// As root they are: a layer unpacked with the wrong owner is a broken
/// image. Unprivileged (unit tests) they cannot succeed and are ignored.
/// Root of a user namespace (rootless pocky) chowns within its ids, so an
/// owner outside them is an error too, but no `trusted.*` xattr can be
/// set there: those are skipped, as podman does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) strict: bool,
    pub(crate) trusted: bool,
}

impl Policy {
    pub(crate) fn detect() -> Self {
        let strict = nix::unistd::geteuid().is_root();
        Self {
            strict,
            trusted: strict && crate::in_initial_userns(),
        }
    }

    pub(crate) fn tolerate(self, r: Result<(), Errno>) -> Result<(), Errno> {
        match r {
            Err(Errno::EPERM | Errno::EINVAL) if !self.strict => Ok(()),
            other => other,
        }
    }

    fn tolerate_trusted(self, r: Result<(), Errno>) -> Result<(), Errno> {
        match r {
            Err(Errno::EPERM | Errno::EINVAL) if !self.trusted => Ok(()),
            other => other,
        }
    }
}

fn io_err<'a>(op: &'static str, entry: &'a str) -> impl FnOnce(Errno) -> FsError + 'a {
    move |e| FsError::Io {
        op,
        entry: entry.to_owned(),
        source: e.into(),
    }
}

/// Owner, mode and xattrs of a file or directory, through its own fd.
/// Times are separate: directories get theirs at the very end.
pub(crate) fn apply_fd(
    fd: &OwnedFd,
    meta: &Meta,
    policy: Policy,
    with_xattrs: bool,
    entry: &str,
) -> Result<(), FsError> {
    // chown first: it clears setuid/setgid and security.capability, which
    // the mode and xattrs below then set for good.
    policy
        .tolerate(fchown(
            fd.as_fd(),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        ))
        .map_err(io_err("chown", entry))?;
    fchmod(fd.as_fd(), Mode::from_bits_retain(meta.mode & 0o7777))
        .map_err(io_err("chmod", entry))?;
    if with_xattrs {
        for (name, value) in &meta.xattrs {
            let r = set_xattr(fd, name, value);
            let r = if name.to_bytes().starts_with(b"trusted.") {
                policy.tolerate_trusted(r)
            } else {
                r
            };
            r.map_err(|e| FsError::Io {
                op: "setxattr",
                entry: format!("{entry} ({})", name.to_string_lossy()),
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

/// Sets atime and mtime through an fd.
pub(crate) fn set_times_fd(fd: &OwnedFd, meta: &Meta, entry: &str) -> Result<(), FsError> {
    futimens(fd.as_fd(), &meta.mtime, &meta.mtime).map_err(io_err("set times of", entry))
}

/// Owner and times of a symlink, which has no mode of its own.
pub(crate) fn apply_symlink(
    parent: &OwnedFd,
    name: &OsStr,
    meta: &Meta,
    policy: Policy,
    entry: &str,
) -> Result<(), FsError> {
    policy
        .tolerate(fchownat(
            parent.as_fd(),
            name,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ))
        .map_err(io_err("chown", entry))?;
    utimensat(
        parent.as_fd(),
        name,
        &meta.mtime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io_err("set times of", entry))
}

/// `fsetxattr`, which nix does not wrap.
pub(crate) fn set_xattr(fd: &OwnedFd, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated, `value` is valid for `value.len()`
    // bytes, and `fd` is an open descriptor owned by the caller.
    let rc = unsafe {
        nix::libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative) into a
/// timespec; `None` if it is not a number.
pub(crate) fn parse_pax_time(value: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(value).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().ok()?;
    let ts = TimeSpec::new(secs, nanos);
    Some(if neg { TimeSpec::new(0, 0) - ts } else { ts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"12"), Some(TimeSpec::new(12, 0)));
        assert_eq!(
            parse_pax_time(b"12.5"),
            Some(TimeSpec::new(12, 500_000_000))
        );
        assert_eq!(
            parse_pax_time(b"1.1234567891"),
            Some(TimeSpec::new(1, 123_456_789))
        );
        assert_eq!(
            parse_pax_time(b"-1.5"),
            Some(TimeSpec::new(-2, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b"1.x"), None);
    }
}
