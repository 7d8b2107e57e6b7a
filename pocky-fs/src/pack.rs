//! A tar of one file or tree, for `pocky cp`.
//!
//! The tree is read with fd-relative calls only, each entry opened
//! `O_NOFOLLOW` beneath the descriptor of its directory: a symlink inside
//! the tree is archived as a symlink and never followed, so what a
//! container's process plants (or swaps in mid-walk) cannot make the copy
//! read anything outside the tree. The caller opens the top itself (inside
//! a container's root with `openat2(RESOLVE_IN_ROOT)`, say).
//!
//! Archived: directories, regular files, symlinks and FIFOs with mode
//! (setuid, setgid and sticky included), owner and modification time. Left
//! out: device nodes and sockets, extended attributes, and the contents of
//! procfs and sysfs mounts met inside the tree (their files claim sizes they
//! do not have, and they describe the kernel, not the container's data).
//! Hard links are archived as separate files. The walk is
//! `walk/`'s, shared with the layer writer.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

use crate::FsError;
use crate::walk::{Flavour, Walker, io_err};

/// What [`pack`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// Tar entries written.
    pub entries: u64,
    /// Sum of the regular files' sizes.
    pub file_bytes: u64,
    /// Device nodes and sockets left out.
    pub skipped: u64,
}

/// Writes a tar of what `top` (any descriptor, `O_PATH` included, on a
/// file, directory, symlink or FIFO) names to `out`, its entry called
/// `name` and a directory's entries `name/...`. `name` `.` makes the
/// entries of a directory `./...`: its contents.
pub fn pack<W: Write>(top: &impl AsFd, name: &Path, out: W) -> Result<Packed, FsError> {
    let mut walker = Walker::new(out, Flavour::Copy);
    let st = fstat(top.as_fd()).map_err(|e| io_err("stat", name, e))?;
    if is_dir(&st) {
        let dir = openat(
            top.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", name, e))?;
        walker.dir(&dir, &st, name, true, 0)?;
    } else {
        walker.other(top.as_fd(), &st, name)?;
    }
    let stats = walker.finish(name)?;
    Ok(Packed {
        entries: stats.entries,
        file_bytes: stats.file_bytes,
        skipped: stats.devices_skipped + stats.sockets_skipped,
    })
}

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}
