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
//! Hard links are archived as separate files.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, open, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use crate::FsError;

/// Directory depth past which the walk stops: one fd per level stays well
/// under the default limit of 1024 open files.
const MAX_DEPTH: usize = 256;

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
    let mut p = Packer {
        tar: tar::Builder::new(out),
        stats: Packed::default(),
    };
    let st = fstat(top.as_fd()).map_err(|e| io_err("stat", name, e))?;
    match kind(&st) {
        SFlag::S_IFDIR => {
            let dir = openat(
                top.as_fd(),
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", name, e))?;
            p.dir(&dir, &st, name, 0)?;
        }
        SFlag::S_IFREG => {
            // An O_PATH fd cannot be read; its magic link reopens exactly
            // the inode it holds, without a lookup by name.
            let proc = format!("/proc/self/fd/{}", top.as_fd().as_raw_fd());
            let fd = open(
                proc.as_str(),
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", name, e))?;
            p.file(fd, &st, name)?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(top.as_fd(), "").map_err(|e| io_err("readlink", name, e))?;
            p.symlink(&st, name, Path::new(&target))?;
        }
        SFlag::S_IFIFO => p.plain(&st, name, tar::EntryType::Fifo)?,
        _ => p.stats.skipped += 1,
    }
    p.tar
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| write_err(name, e))?;
    Ok(p.stats)
}

struct Packer<W: Write> {
    tar: tar::Builder<W>,
    stats: Packed,
}

impl<W: Write> Packer<W> {
    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    fn plain(&mut self, st: &FileStat, name: &Path, kind: tar::EntryType) -> Result<(), FsError> {
        let mut h = self.header(st, kind);
        self.tar
            .append_data(&mut h, name, io::empty())
            .map_err(|e| write_err(name, e))?;
        self.stats.entries += 1;
        Ok(())
    }

    fn symlink(&mut self, st: &FileStat, name: &Path, target: &Path) -> Result<(), FsError> {
        let mut h = self.header(st, tar::EntryType::Symlink);
        self.tar
            .append_link(&mut h, name, target)
            .map_err(|e| write_err(name, e))?;
        self.stats.entries += 1;
        Ok(())
    }

    /// `fd` was opened `O_NONBLOCK`, so a FIFO swapped in for the file does
    /// not hang the walk; its own fstat decides what it is.
    fn file(&mut self, fd: OwnedFd, at_walk: &FileStat, name: &Path) -> Result<(), FsError> {
        let st = fstat(fd.as_fd()).map_err(|e| io_err("stat", name, e))?;
        if kind(&st) != SFlag::S_IFREG || st.st_ino != at_walk.st_ino {
            // Replaced between the listing and the open.
            return Err(io_err_io(
                "open",
                name,
                io::Error::other("the file changed while it was being copied"),
            ));
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = self.header(&st, tar::EntryType::Regular);
        h.set_size(size);
        // A file that shrinks while it is read is padded with zeros and one
        // that grows is cut: the header's size must stay true.
        let data = ReadErrors::new(File::from(fd).take(size)).chain(io::repeat(0).take(size));
        let mut data = data.take(size);
        self.tar
            .append_data(&mut h, name, &mut data)
            .map_err(|e| write_err(name, e))?;
        let inner = data.into_inner().into_inner().0;
        if let Some(e) = inner.error {
            return Err(io_err_io("read", name, e));
        }
        self.stats.entries += 1;
        self.stats.file_bytes += size;
        Ok(())
    }

    fn dir(
        &mut self,
        dir: &OwnedFd,
        st: &FileStat,
        name: &Path,
        depth: usize,
    ) -> Result<(), FsError> {
        if depth > MAX_DEPTH {
            return Err(io_err("walk", name, nix::errno::Errno::ELOOP));
        }
        self.plain(st, name, tar::EntryType::Directory)?;
        if skip_contents(dir) {
            return Ok(());
        }
        for child in entry_names(dir).map_err(|e| io_err("list", name, e))? {
            let here = name.join(OsStr::from_bytes(child.to_bytes()));
            self.entry(dir, &child, &here, depth)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        dir: &OwnedFd,
        child: &CString,
        here: &Path,
        depth: usize,
    ) -> Result<(), FsError> {
        let st = match fstatat(dir.as_fd(), child.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone since the listing (a running container's temp file).
            Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(io_err("stat", here, e)),
        };
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match kind(&st) {
            SFlag::S_IFDIR => {
                let sub = openat(
                    dir.as_fd(),
                    child.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    Mode::empty(),
                )
                .map_err(|e| io_err("open", here, e))?;
                self.dir(&sub, &st, here, depth + 1)
            }
            SFlag::S_IFREG => {
                let fd = openat(
                    dir.as_fd(),
                    child.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_NONBLOCK | nofollow,
                    Mode::empty(),
                )
                .map_err(|e| io_err("open", here, e))?;
                self.file(fd, &st, here)
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(dir.as_fd(), child.as_c_str())
                    .map_err(|e| io_err("readlink", here, e))?;
                self.symlink(&st, here, Path::new(&target))
            }
            SFlag::S_IFIFO => self.plain(&st, here, tar::EntryType::Fifo),
            _ => {
                self.stats.skipped += 1;
                Ok(())
            }
        }
    }
}

/// A reader that ends at its first error and keeps it, so the padding
/// after it never hides a failed read.
struct ReadErrors<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R> ReadErrors<R> {
    fn new(inner: R) -> Self {
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

/// procfs and sysfs inside a running container's tree.
fn skip_contents(dir: &OwnedFd) -> bool {
    use nix::sys::statfs::{PROC_SUPER_MAGIC, SYSFS_MAGIC, fstatfs};
    fstatfs(dir.as_fd()).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == PROC_SUPER_MAGIC || t == SYSFS_MAGIC
    })
}

fn entry_names(dir: &OwnedFd) -> nix::Result<Vec<CString>> {
    let fd = dir
        .try_clone()
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut d = Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let n = entry?.file_name().to_owned();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            out.push(n);
        }
    }
    // A stable order makes two copies of one tree the same archive.
    out.sort();
    Ok(out)
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn io_err(op: &'static str, path: &Path, e: nix::errno::Errno) -> FsError {
    io_err_io(op, path, e.into())
}

fn io_err_io(op: &'static str, path: &Path, source: io::Error) -> FsError {
    FsError::Io {
        op,
        entry: display(path),
        source,
    }
}

fn write_err(path: &Path, source: io::Error) -> FsError {
    FsError::Write {
        entry: display(path),
        source,
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
