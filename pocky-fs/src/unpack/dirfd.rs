//! File-descriptor-relative resolution beneath the layer root.
//!
//! Every lookup goes through `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, one directory at a time when something is missing
//! or wrong, so neither a symlink planted by an earlier entry nor a race can
//! lead a later entry outside the root. No path strings are ever checked
//! for safety; the kernel does it.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{Mode, SFlag, fchmod, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::entry_path::EntryPath;
use crate::FsError;

/// Mode of directories an entry implies but the tar does not list (Docker's
/// choice too).
const IMPLIED_DIR_MODE: u32 = 0o755;

fn resolve_flags() -> ResolveFlag {
    ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Opens the directory `path` beneath `dir`, refusing any symlink on the way
/// (including `path`'s last component) and any escape.
pub(crate) fn open_dir_beneath<P: AsRef<Path>>(
    dir: BorrowedFd<'_>,
    path: P,
) -> nix::Result<OwnedFd> {
    let how = OpenHow::new().flags(dir_flags()).resolve(resolve_flags());
    openat2(dir, path.as_ref(), how)
}

/// Why a parent directory could not be reached.
#[derive(Debug)]
pub(crate) enum WalkError {
    /// The named prefix is a symlink.
    Symlink(String),
    /// The named prefix exists but is not a directory.
    NotDir(String),
    /// The named prefix does not exist (only when not creating).
    Missing(String),
    /// Any other failure, on the named prefix.
    Os(&'static str, String, Errno),
}

impl WalkError {
    /// The error for an entry whose parent this was.
    pub(crate) fn into_entry_error(self, entry: &str) -> FsError {
        let entry = entry.to_owned();
        match self {
            WalkError::Symlink(symlink) => FsError::ThroughSymlink { entry, symlink },
            WalkError::NotDir(component) => FsError::NotADirectory { entry, component },
            WalkError::Missing(component) => FsError::Io {
                op: "resolve",
                entry,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{component} does not exist"),
                ),
            },
            WalkError::Os(op, component, errno) => FsError::Io {
                op,
                entry,
                source: std::io::Error::new(
                    std::io::Error::from(errno).kind(),
                    format!("{component}: {errno}"),
                ),
            },
        }
    }

    /// A short reason, for hardlink targets.
    pub(crate) fn reason(&self) -> String {
        match self {
            WalkError::Symlink(p) => format!("target passes through symlink {p}"),
            WalkError::NotDir(p) => format!("target passes through non-directory {p}"),
            WalkError::Missing(p) => format!("target directory {p} does not exist"),
            WalkError::Os(op, p, e) => format!("{op} {p}: {e}"),
        }
    }
}

/// Opens the parent directory of `path` beneath `root`. With `create`,
/// missing directories are made one component at a time.
pub(crate) fn resolve_parent(
    root: &OwnedFd,
    path: &EntryPath,
    create: bool,
) -> Result<OwnedFd, WalkError> {
    let parents = path.parents();
    let dup = |fd: &OwnedFd| {
        fd.try_clone()
            .map_err(|e| WalkError::Os("dup", ".".into(), errno_of(&e)))
    };
    if parents.is_empty() {
        return dup(root);
    }
    // Fast path: the whole parent in one syscall. Any failure falls back to
    // the walk, which also pinpoints the offending component.
    let joined: std::path::PathBuf = parents.iter().collect();
    if let Ok(fd) = open_dir_beneath(root.as_fd(), &joined) {
        return Ok(fd);
    }
    let mut cur = dup(root)?;
    for (i, comp) in parents.iter().enumerate() {
        cur = step(&cur, comp, create, || path.prefix_display(i + 1))?;
    }
    Ok(cur)
}

fn step(
    cur: &OwnedFd,
    comp: &OsStr,
    create: bool,
    prefix: impl Fn() -> String,
) -> Result<OwnedFd, WalkError> {
    let classify = |errno: Errno| match errno {
        // Which of the two the kernel reports for a symlink depends on the
        // open flags; lstat tells them apart for the message.
        Errno::ELOOP | Errno::ENOTDIR => {
            match fstatat(cur.as_fd(), comp, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if is_symlink(st.st_mode) => WalkError::Symlink(prefix()),
                _ if errno == Errno::ELOOP => WalkError::Symlink(prefix()),
                _ => WalkError::NotDir(prefix()),
            }
        }
        Errno::ENOENT => WalkError::Missing(prefix()),
        e => WalkError::Os("open", prefix(), e),
    };
    match open_dir_beneath(cur.as_fd(), comp) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create => {}
        Err(e) => return Err(classify(e)),
    }
    let made = match mkdirat(
        cur.as_fd(),
        comp,
        Mode::from_bits_truncate(IMPLIED_DIR_MODE),
    ) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(WalkError::Os("mkdir", prefix(), e)),
    };
    let fd = open_dir_beneath(cur.as_fd(), comp).map_err(classify)?;
    if made {
        // mkdirat applied the umask; implied directories get exactly 0755.
        fchmod(fd.as_fd(), Mode::from_bits_truncate(IMPLIED_DIR_MODE))
            .map_err(|e| WalkError::Os("chmod", prefix(), e))?;
    }
    Ok(fd)
}

/// What was found at an entry's final name before creating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing there (or it was removed).
    Nothing,
    /// A directory, kept because the new entry is a directory too.
    KeptDir,
}

/// Clears `name` in `parent` for a new entry. A directory survives only when
/// `new_is_dir`; anything else is unlinked, directories recursively.
pub(crate) fn clear_name(
    parent: &OwnedFd,
    name: &OsStr,
    new_is_dir: bool,
) -> Result<Existing, (&'static str, Errno)> {
    let st = match fstatat(parent.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(Existing::Nothing),
        Err(e) => return Err(("stat", e)),
    };
    if is_dir(st.st_mode) {
        if new_is_dir {
            return Ok(Existing::KeptDir);
        }
        remove_tree(parent, name)?;
    } else {
        unlinkat(parent.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(|e| ("unlink", e))?;
    }
    Ok(Existing::Nothing)
}

pub(crate) fn is_dir(mode: nix::libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

fn is_symlink(mode: nix::libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFLNK
}

/// Removes the directory `name` in `parent` and all it holds, never leaving
/// the tree: each level is opened `O_NOFOLLOW` relative to the one above.
///
/// Holds one fd per level, so a tree deeper than the fd limit fails (with an
/// error, not an escape).
fn remove_tree(parent: &OwnedFd, name: &OsStr) -> Result<(), (&'static str, Errno)> {
    let fd = openat(
        parent.as_fd(),
        name,
        dir_flags() | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| ("open", e))?;
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| ("opendir", e))?;
    let mut children = Vec::new();
    for ent in dir.iter() {
        let ent = ent.map_err(|e| ("readdir", e))?;
        let child = ent.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push(std::ffi::OsString::from(
                <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(child),
            ));
        }
    }
    let dir_fd = dir
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| ("dup", errno_of(&e)))?;
    drop(dir);
    for child in children {
        clear_name(&dir_fd, &child, false)?;
    }
    unlinkat(parent.as_fd(), name, UnlinkatFlags::RemoveDir).map_err(|e| ("rmdir", e))
}

/// The errno inside an OS error (fd duplication only fails with one).
pub(crate) fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO))
}
