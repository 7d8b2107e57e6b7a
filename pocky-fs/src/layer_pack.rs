//! OCI image layer tars of directories (`pocky commit`, `import`, `export`
//! and `build`).
//!
//! [`pack_layer`] reads an overlay upper directory, in which overlayfs
//! records a deletion as a character device 0:0 and a directory that hides
//! the lower layers with `trusted.overlay.opaque=y` (`user.overlay.opaque`
//! under `userxattr`), and writes the OCI form: an empty `.wh.NAME` file,
//! and an empty `.wh..wh..opq` file first inside the directory. It is the
//! inverse of [`crate::unpack_layer`].
//!
//! [`pack_tree`] writes a tree as it is (a container's merged rootfs, for
//! `pocky export`), with no such translation: a merged view has none.
//!
//! Both archive directories, regular files, symlinks (never followed),
//! FIFOs and device nodes with mode (setuid, setgid and sticky included),
//! numeric owner and modification time in seconds; hard links as links to
//! the first name archived; extended attributes as PAX `SCHILY.xattr.`
//! records, except overlayfs's own and `security.selinux`. Sockets are left
//! out (counted), and so is what procfs and sysfs mounts hold. Names are
//! relative (`etc/passwd`, `etc/`), the root itself has no entry, and the
//! same tree gives the same bytes. The walk is fd-relative and never
//! follows a symlink (the walker in `walk/`), so a hostile container's tree
//! cannot make it read anything outside.
//!
//! A layer cannot express overlayfs's `redirect_dir` (a renamed directory
//! whose contents stay in the lower layer) or `metacopy` (a file whose data
//! does): an upper directory using them is an error, not a wrong layer.

use std::io::Write;
use std::path::Path;

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, fstat};

use crate::FsError;
use crate::walk::{Flavour, Walker, io_err};

/// What [`pack_layer`] or [`pack_tree`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedLayer {
    /// Tar entries written (PAX and long-name headers not counted),
    /// whiteouts, opaque markers and hard links included.
    pub entries: u64,
    /// Sum of the regular files' sizes.
    pub file_bytes: u64,
    /// Hard link entries.
    pub hardlinks: u64,
    /// `.wh.NAME` whiteouts written.
    pub whiteouts: u64,
    /// Opaque directories (`.wh..wh..opq` markers written).
    pub opaque_dirs: u64,
    /// Device node entries (whiteouts not included).
    pub devices: u64,
    /// Sockets left out.
    pub skipped_sockets: u64,
}

/// Writes the OCI layer tar of the overlay upper directory `dir` to `out`.
pub fn pack_layer<W: Write>(dir: &Path, out: W) -> Result<PackedLayer, FsError> {
    pack_layer_skipping(dir, &[], out)
}

/// [`pack_layer`] without `skip` (paths in the layer, `/etc/hosts`) and
/// what is below them: a container's mount points are not its changes.
pub fn pack_layer_skipping<W: Write>(
    dir: &Path,
    skip: &[std::path::PathBuf],
    out: W,
) -> Result<PackedLayer, FsError> {
    let fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", dir, e))?;
    walk(&fd, dir, Walker::new(out, Flavour::Layer).skipping(skip))
}

/// A tar of the tree whose top directory `top` is (an `O_PATH`
/// descriptor will do), staying on its filesystem: `pocky export` of a
/// container's root without its volumes, `/proc` or bind mounts.
pub fn pack_tree_at<W: Write>(top: &impl AsFd, out: W) -> Result<PackedLayer, FsError> {
    let name = Path::new("/");
    let fd = openat(
        top.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", name, e))?;
    let st = fstat(&fd).map_err(|e| io_err("stat", name, e))?;
    walk(
        &fd,
        name,
        Walker::new(out, Flavour::Tree).one_filesystem(
            st.st_dev,
            crate::walk::fsio::mount_id(fd.as_fd(), None).unwrap_or(0),
        ),
    )
}

/// Writes a tar of the tree `dir` as it is, for `pocky export`.
pub fn pack_tree<W: Write>(dir: &Path, out: W) -> Result<PackedLayer, FsError> {
    pack_dir(dir, out, Flavour::Tree)
}

fn pack_dir<W: Write>(dir: &Path, out: W, flavour: Flavour) -> Result<PackedLayer, FsError> {
    let fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", dir, e))?;
    walk(&fd, dir, Walker::new(out, flavour))
}

fn walk<W: Write>(fd: &OwnedFd, dir: &Path, mut walker: Walker<W>) -> Result<PackedLayer, FsError> {
    let st = fstat(fd).map_err(|e| io_err("stat", dir, e))?;
    walker.dir(fd, &st, Path::new(""), false, 0)?;
    let s = walker.finish(dir)?;
    Ok(PackedLayer {
        entries: s.entries,
        file_bytes: s.file_bytes,
        hardlinks: s.hardlinks,
        whiteouts: s.whiteouts,
        opaque_dirs: s.opaque_dirs,
        devices: s.devices,
        skipped_sockets: s.sockets_skipped,
    })
}
