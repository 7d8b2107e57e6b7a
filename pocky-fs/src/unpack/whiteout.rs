//! OCI whiteouts, converted to the overlayfs form on the fly.
//!
//! OCI layers mark deletions with `.wh.<name>` files and opaque directories
//! with `.wh..wh..opq`; overlayfs wants a 0:0 character device named
//! `<name>` and the `trusted.overlay.opaque=y` xattr instead
//! (`user.overlay.opaque` in a user namespace, where pocky mounts with
//! `userxattr`). Unpacking straight into the overlay form lets the
//! unpacked layer be a lower directory as is.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};

use crate::FsError;

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";
const USER_OPAQUE_XATTR: &std::ffi::CStr = c"user.overlay.opaque";

/// The xattr that marks a directory opaque for the overlays this process
/// mounts (see [`crate::in_initial_userns`]).
fn opaque_xattr() -> &'static std::ffi::CStr {
    if crate::in_initial_userns() {
        OPAQUE_XATTR
    } else {
        USER_OPAQUE_XATTR
    }
}

/// Whether an xattr of a layer entry is overlayfs's own bookkeeping,
/// which a layer does not carry: it says opaque with `.wh..wh..opq`, and
/// a planted `redirect` or `origin` would steer the overlay.
pub(crate) fn is_overlay_xattr(name: &std::ffi::CStr) -> bool {
    let n = name.to_bytes();
    n.starts_with(b"trusted.overlay.") || n.starts_with(b"user.overlay.")
}

/// What an entry's final name means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Whiteout<'a> {
    /// An ordinary name.
    None,
    /// `.wh.<name>`: `<name>` is deleted.
    Remove(&'a OsStr),
    /// `.wh..wh..opq`: the parent directory hides the lower layers.
    Opaque,
    /// Other `.wh..wh.` names: aufs bookkeeping (`.wh..wh.plnk` etc.), not
    /// content.
    Skip,
}

/// Classifies the final component `name` of `entry`.
pub(crate) fn classify<'a>(name: &'a OsStr, entry: &str) -> Result<Whiteout<'a>, FsError> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE {
        return Ok(Whiteout::Opaque);
    }
    if bytes.starts_with(META_PREFIX) {
        return Ok(Whiteout::Skip);
    }
    let Some(target) = bytes.strip_prefix(PREFIX) else {
        return Ok(Whiteout::None);
    };
    // `.wh.`, `.wh..`, `.wh...`: deleting "", "." or ".." means deleting the
    // directory itself or its parent, which no tool writes on purpose.
    if target.iter().all(|b| *b == b'.') {
        return Err(FsError::MalformedWhiteout {
            entry: entry.to_owned(),
        });
    }
    Ok(Whiteout::Remove(OsStr::from_bytes(target)))
}

/// True for aufs bookkeeping names (`.wh..wh.plnk`, `.wh..wh.aufs`), whose
/// contents are skipped along with them. aufs hardlink farms are therefore
/// not supported: a link into one fails as a link to an absent target.
pub(crate) fn is_aufs_meta(name: &OsStr) -> bool {
    name.as_bytes().starts_with(META_PREFIX)
}

/// Creates the overlayfs whiteout (char device 0:0, mode 0) `name` in
/// `parent`, which the caller has cleared.
pub(crate) fn make_whiteout(parent: &OwnedFd, name: &OsStr) -> nix::Result<()> {
    mknodat(
        parent.as_fd(),
        name,
        SFlag::S_IFCHR,
        Mode::empty(),
        makedev(0, 0),
    )
}

/// Marks the directory `dir` opaque.
pub(crate) fn make_opaque(dir: &OwnedFd) -> Result<(), Errno> {
    super::metadata::set_xattr(dir, opaque_xattr(), b"y")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> Result<Whiteout<'_>, FsError> {
        classify(OsStr::new(name), name)
    }

    #[test]
    fn names_classify() {
        assert_eq!(class("file").unwrap(), Whiteout::None);
        assert_eq!(class(".whatever").unwrap(), Whiteout::None);
        assert_eq!(
            class(".wh.file").unwrap(),
            Whiteout::Remove(OsStr::new("file"))
        );
        assert_eq!(
            class(".wh..hidden").unwrap(),
            Whiteout::Remove(OsStr::new(".hidden"))
        );
        assert_eq!(class(".wh..wh..opq").unwrap(), Whiteout::Opaque);
        assert_eq!(class(".wh..wh.plnk").unwrap(), Whiteout::Skip);
        assert_eq!(class(".wh..wh.aufs").unwrap(), Whiteout::Skip);
    }

    #[test]
    fn dotted_whiteouts_are_malformed() {
        for name in [".wh.", ".wh..", ".wh...", ".wh...."] {
            assert!(
                matches!(class(name), Err(FsError::MalformedWhiteout { .. })),
                "{name}"
            );
        }
    }
}
