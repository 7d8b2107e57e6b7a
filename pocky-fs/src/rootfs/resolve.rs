//! Resolution of container paths inside a root directory.
//!
//! Every lookup is one `openat2(RESOLVE_IN_ROOT)` from the root's fd, so the
//! kernel interprets symlinks and `..` as if the root were `/`: an image's
//! `/etc/x -> /` or `../../..` can never lead a mount or a device node out
//! of the rootfs, and no path string is ever checked for safety by hand.
//! Creating a missing path follows a dangling link's target by joining
//! strings, but each step is again resolved by the kernel from the root.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{Mode, mkdirat};

use crate::FsError;

/// Mode of directories created for mount points (runc's and Docker's).
const MOUNTPOINT_DIR_MODE: u32 = 0o755;
/// Mode of empty files created as bind-mount targets.
const MOUNTPOINT_FILE_MODE: u32 = 0o644;

/// What to create at a missing path's last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateKind {
    /// A directory (mount point of a filesystem or a directory bind).
    Dir,
    /// An empty regular file (target of a file bind mount).
    File,
}

fn resolve_flags() -> ResolveFlag {
    ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

fn resolve_error(path: &Path, errno: Errno) -> FsError {
    FsError::Resolve {
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

fn raw_open(root: &impl AsFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    // An empty path would make openat2 fail with ENOENT; "." names the root.
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(resolve_flags());
    // EAGAIN: a mount or rename anywhere on the system raced a `..` step,
    // and the kernel could not prove it stayed inside; it asks for a retry.
    let mut tries = 0;
    loop {
        match openat2(root.as_fd(), path, how) {
            Err(nix::errno::Errno::EAGAIN) if tries < 100 => tries += 1,
            other => return other,
        }
    }
}

/// Strips the leading `/` so the kernel resolves `path` from the root fd
/// (with RESOLVE_IN_ROOT an absolute path means the same, but a relative
/// one keeps error messages and joins simple).
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// Resolves `path` inside `root`, symlinks and `..` interpreted as if `root`
/// were `/`, and returns an `O_PATH` fd on what it names.
///
/// `flags` is OR-ed with `O_PATH | O_CLOEXEC`; useful extras are
/// `O_DIRECTORY` (the target must be a directory) and `O_NOFOLLOW` (return
/// a final symlink itself rather than its target). Magic links such as
/// `/proc/self/fd/N` inside the root are refused.
pub fn open_in_root(root: &impl AsFd, path: &Path, flags: OFlag) -> Result<OwnedFd, FsError> {
    raw_open(root, &relative(path), flags).map_err(|e| resolve_error(path, e))
}

/// [`open_in_root`], with `None` for a path that does not exist.
pub(crate) fn open_in_root_if_exists(
    root: &impl AsFd,
    path: &Path,
    flags: OFlag,
) -> Result<Option<OwnedFd>, FsError> {
    match raw_open(root, &relative(path), flags) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(resolve_error(path, e)),
    }
}

/// Like [`open_in_root`], but creates what is missing: every missing
/// ancestor as a directory (mode 0755) and the last component as `kind`.
///
/// Creation happens beneath an fd that was itself resolved inside the root,
/// so a symlink in the path still resolves inside it. A dangling symlink on
/// the way is followed the same way (its target is created inside the
/// root), up to [`MAX_LINKS`] links.
pub fn create_in_root(root: &impl AsFd, path: &Path, kind: CreateKind) -> Result<OwnedFd, FsError> {
    create_following(root, path, &relative(path), kind, 0)
}

/// Links followed by hand before giving up with ELOOP (the kernel's limit).
const MAX_LINKS: usize = 40;

fn create_following(
    root: &impl AsFd,
    path: &Path,
    rel: &Path,
    kind: CreateKind,
    links: usize,
) -> Result<OwnedFd, FsError> {
    match raw_open(root, rel, OFlag::empty()) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(resolve_error(path, e)),
    }
    let mut prefix = PathBuf::new();
    let components: Vec<Component<'_>> = rel.components().collect();
    let last = components.len().saturating_sub(1);
    for (i, component) in components.iter().enumerate() {
        let parent = raw_open(root, &prefix, OFlag::O_DIRECTORY)
            .map_err(|e| resolve_error(&prefix_display(&prefix), e))?;
        let parent_prefix = prefix.clone();
        prefix.push(component.as_os_str());
        match raw_open(root, &prefix, OFlag::empty()) {
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(resolve_error(&prefix_display(&prefix), e)),
        }
        // Only a normal name can be missing: `..` of a directory that
        // resolved always exists.
        let Component::Normal(name) = component else {
            return Err(resolve_error(&prefix_display(&prefix), Errno::ENOENT));
        };
        let want = if i == last { kind } else { CreateKind::Dir };
        match create_at(&parent, name, want) {
            Ok(()) => {}
            // The name exists but did not resolve: a dangling symlink.
            // Continue along its target, which the next round resolves
            // inside the root again (absolute targets from the root).
            Err(Errno::EEXIST) => {
                if links >= MAX_LINKS {
                    return Err(resolve_error(path, Errno::ELOOP));
                }
                let target = readlinkat(parent.as_fd(), *name)
                    .map_err(|e| resolve_error(&prefix_display(&prefix), e))?;
                let mut next = parent_prefix.join(relative(Path::new(&target)));
                if Path::new(&target).is_absolute() {
                    next = relative(Path::new(&target));
                }
                for rest in &components[i + 1..] {
                    next.push(rest.as_os_str());
                }
                return create_following(root, path, &next, kind, links + 1);
            }
            Err(e) => return Err(resolve_error(&prefix_display(&prefix), e)),
        }
    }
    raw_open(root, rel, OFlag::empty()).map_err(|e| resolve_error(path, e))
}

fn prefix_display(prefix: &Path) -> PathBuf {
    Path::new("/").join(prefix)
}

fn create_at(parent: &OwnedFd, name: &OsStr, kind: CreateKind) -> nix::Result<()> {
    match kind {
        CreateKind::Dir => mkdirat(
            parent.as_fd(),
            name,
            Mode::from_bits_truncate(MOUNTPOINT_DIR_MODE),
        ),
        CreateKind::File => openat(
            parent.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(MOUNTPOINT_FILE_MODE),
        )
        .map(drop),
    }
}

/// The `/proc/self/fd/N` path of an fd: `mount(2)` follows that magic link
/// to exactly the inode the fd holds, so no path is re-resolved in between.
pub(crate) fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
