//! The one tree walker behind every tar pocky writes: `pocky cp`'s
//! [`crate::pack`], and the layers and exports of [`crate::layer_pack`].
//!
//! The tree is read with fd-relative calls only: each directory is opened
//! `O_NOFOLLOW | O_DIRECTORY` beneath its parent's descriptor, every other
//! entry `O_PATH | O_NOFOLLOW` and checked to be the inode the listing saw.
//! A regular file is reopened for reading through that descriptor's magic
//! link, and nothing else is opened for real, so what a container's process
//! plants or swaps in mid-walk (a symlink, a device node) is archived as
//! what it is and never followed or opened. Depth is bounded (one fd per
//! level). Each directory's entries are sorted by their archive names, and
//! a directory comes before its contents, so one tree gives one archive.

pub(crate) mod fsio;
mod xattr;

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use tar::EntryType;

use fsio::{ReadErrors, changed, io_err_io, kind, same_inode};
pub(crate) use fsio::{io_err, reopen_read, write_err};
use xattr::{Source, Xattrs};

use crate::FsError;

/// Directory depth past which the walk stops: one fd per level stays well
/// under the default limit of 1024 open files.
const MAX_DEPTH: usize = 256;

/// The largest id a ustar header holds in octal; larger ones also get PAX
/// records (the GNU header's base-256 form is not read by every tool).
const MAX_OCTAL_ID: u64 = 0o7_777_777;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What the tree is and what its archive keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// `pocky cp`: plain files. No xattrs, hard links as separate files,
    /// device nodes left out.
    Copy,
    /// `pocky export`: a merged rootfs as it is, xattrs, hard links and
    /// device nodes kept.
    Tree,
    /// An overlay upper directory as an OCI layer: [`Flavour::Tree`] plus
    /// overlay whiteouts and opaque directories turned into OCI's.
    Layer,
}

impl Flavour {
    fn full(self) -> bool {
        self != Flavour::Copy
    }
}

/// What a walk wrote and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) entries: u64,
    pub(crate) file_bytes: u64,
    pub(crate) hardlinks: u64,
    pub(crate) whiteouts: u64,
    pub(crate) opaque_dirs: u64,
    pub(crate) devices: u64,
    pub(crate) sockets_skipped: u64,
    pub(crate) devices_skipped: u64,
}

/// One name of a directory, stat'ed, with the name it gets in the archive.
struct Child {
    name: CString,
    st: FileStat,
    archived: Vec<u8>,
    whiteout: bool,
}

pub(crate) struct Walker<W: Write> {
    tar: tar::Builder<W>,
    flavour: Flavour,
    stats: Stats,
    /// (dev, ino) of multiply linked entries → the first archive name.
    links: HashMap<(u64, u64), PathBuf>,
    /// Archive names left out with everything below them.
    skip: Vec<PathBuf>,
    /// Stay on this mount (its device and mount id): what is mounted over
    /// the tree (volumes, `/proc`, bind-mounted files) is not the tree's
    /// own.
    one_dev: Option<(u64, u64)>,
}

impl<W: Write> Walker<W> {
    pub(crate) fn new(out: W, flavour: Flavour) -> Self {
        Self {
            tar: tar::Builder::new(out),
            flavour,
            stats: Stats::default(),
            links: HashMap::new(),
            skip: Vec::new(),
            one_dev: None,
        }
    }

    /// Leaves out `paths` (relative to the top, a leading `/` ignored).
    pub(crate) fn skipping(mut self, paths: &[PathBuf]) -> Self {
        self.skip = paths
            .iter()
            .map(|p| p.strip_prefix("/").unwrap_or(p).to_owned())
            .collect();
        self
    }

    /// Archives only what is on the mount `(dev, mount id)`: a directory
    /// mounted from elsewhere is an entry without contents, any other
    /// mount point is left out.
    pub(crate) fn one_filesystem(mut self, dev: u64, mount_id: u64) -> Self {
        self.one_dev = Some((dev, mount_id));
        self
    }

    /// Whether `name` in `dir` (or `dir` itself) is on another mount. The
    /// device number decides first; where it differs the mount id does,
    /// because overlayfs reports the device of the layer a file comes
    /// from (an EROFS layer's, not the overlay's) when its layers are on
    /// different filesystems.
    fn foreign(&self, st: &FileStat, dir: &OwnedFd, name: Option<&CStr>) -> bool {
        match self.one_dev {
            Some((dev, _)) if st.st_dev == dev => false,
            Some((_, mnt)) => fsio::mount_id(dir.as_fd(), name) != Some(mnt),
            None => false,
        }
    }

    /// Ends the archive; `name` is for the error.
    pub(crate) fn finish(self, name: &Path) -> Result<Stats, FsError> {
        self.tar
            .into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| write_err(name, e))?;
        Ok(self.stats)
    }

    /// Archives the directory `dir` as `rel`. With `emit_self` the
    /// directory is an entry itself, else only what it holds (a layer's
    /// root has no entry of its own).
    pub(crate) fn dir(
        &mut self,
        dir: &OwnedFd,
        st: &FileStat,
        rel: &Path,
        emit_self: bool,
        depth: usize,
    ) -> Result<(), FsError> {
        if depth > MAX_DEPTH {
            return Err(io_err("walk", rel, Errno::ELOOP));
        }
        if emit_self {
            let x = self.xattrs(Source::Fd(dir.as_fd()), rel)?;
            let name = self.dir_name(rel);
            let mut h = header(st, EntryType::Directory);
            self.append(&mut h, &name, &x.keep, io::empty())?;
            if self.flavour == Flavour::Layer && x.opaque {
                // Before the children: a reader applies it to what is
                // below, not to what this layer adds.
                let mut h = marker_header();
                self.append(&mut h, &rel.join(OPAQUE_MARKER), &[], io::empty())?;
                self.stats.opaque_dirs += 1;
            }
        }
        if fsio::skip_contents(dir) || self.foreign(st, dir, None) {
            return Ok(());
        }
        for child in self.children(dir, rel)? {
            let here = rel.join(OsStr::from_bytes(child.name.to_bytes()));
            self.entry(dir, &child, &here, depth)?;
        }
        Ok(())
    }

    fn children(&self, dir: &OwnedFd, rel: &Path) -> Result<Vec<Child>, FsError> {
        let names = fsio::entry_names(dir).map_err(|e| io_err("list", rel, e))?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let st = match fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Gone since the listing (a running container's temp file).
                Err(Errno::ENOENT) => continue,
                Err(e) => {
                    let here = rel.join(OsStr::from_bytes(name.to_bytes()));
                    return Err(io_err("stat", &here, e));
                }
            };
            let whiteout =
                self.flavour == Flavour::Layer && kind(&st) == SFlag::S_IFCHR && st.st_rdev == 0;
            let archived = if whiteout {
                [WHITEOUT_PREFIX, name.to_bytes()].concat()
            } else {
                name.to_bytes().to_vec()
            };
            out.push(Child {
                name,
                st,
                archived,
                whiteout,
            });
        }
        out.sort_by(|a, b| a.archived.cmp(&b.archived));
        Ok(out)
    }

    fn entry(
        &mut self,
        dir: &OwnedFd,
        child: &Child,
        here: &Path,
        depth: usize,
    ) -> Result<(), FsError> {
        let st = &child.st;
        if self.skip.iter().any(|s| s == here)
            || (kind(st) != SFlag::S_IFDIR && self.foreign(st, dir, Some(&child.name)))
        {
            return Ok(());
        }
        if child.whiteout {
            // overlayfs links every whiteout of a mount to one shared inode:
            // each is its own `.wh.` file, never a hard link.
            let name = here.with_file_name(OsStr::from_bytes(&child.archived));
            let mut h = marker_header();
            self.append(&mut h, &name, &[], io::empty())?;
            self.stats.whiteouts += 1;
            return Ok(());
        }
        let name = child.name.as_c_str();
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let k = kind(st);
        if k == SFlag::S_IFDIR {
            let sub = openat(
                dir.as_fd(),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", here, e))?;
            let now = fstat(sub.as_fd()).map_err(|e| io_err("stat", here, e))?;
            if !same_inode(st, &now) {
                return Err(changed(here));
            }
            return self.dir(&sub, &now, here, true, depth + 1);
        }
        let fd = openat(dir.as_fd(), name, OFlag::O_PATH | nofollow, Mode::empty())
            .map_err(|e| io_err("open", here, e))?;
        self.other(fd.as_fd(), st, here)
    }

    /// A non-directory, through an `O_PATH` descriptor `fd` on it; `st` is
    /// what the caller saw of it (the top of `pack` included).
    pub(crate) fn other(
        &mut self,
        fd: BorrowedFd<'_>,
        seen: &FileStat,
        here: &Path,
    ) -> Result<(), FsError> {
        let st = fstat(fd).map_err(|e| io_err("stat", here, e))?;
        if !same_inode(seen, &st) {
            return Err(changed(here));
        }
        let k = kind(&st);
        if k == SFlag::S_IFSOCK {
            self.stats.sockets_skipped += 1;
            return Ok(());
        }
        if !self.flavour.full() && is_device(k) {
            self.stats.devices_skipped += 1;
            return Ok(());
        }
        if self.hardlink(&st, here)? {
            return Ok(());
        }
        match k {
            SFlag::S_IFREG => self.regular(fd, &st, here),
            SFlag::S_IFLNK => {
                let x = self.xattrs(Source::Path(fd), here)?;
                let target = readlinkat(fd, "").map_err(|e| io_err("readlink", here, e))?;
                let mut h = header(&st, EntryType::Symlink);
                self.pax(&h, &x.keep, here)?;
                self.tar
                    .append_link(&mut h, here, Path::new(&target))
                    .map_err(|e| write_err(here, e))?;
                self.stats.entries += 1;
                Ok(())
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                let x = self.xattrs(Source::Path(fd), here)?;
                let mut h = match k {
                    SFlag::S_IFIFO => header(&st, EntryType::Fifo),
                    SFlag::S_IFCHR => header(&st, EntryType::Char),
                    _ => header(&st, EntryType::Block),
                };
                if k != SFlag::S_IFIFO {
                    let bad = |e| io_err_io("archive device", here, e);
                    let (major, minor) = (
                        nix::sys::stat::major(st.st_rdev),
                        nix::sys::stat::minor(st.st_rdev),
                    );
                    let major = u32::try_from(major).map_err(|_| bad(overflow()))?;
                    let minor = u32::try_from(minor).map_err(|_| bad(overflow()))?;
                    h.set_device_major(major).map_err(bad)?;
                    h.set_device_minor(minor).map_err(bad)?;
                    self.stats.devices += 1;
                }
                self.append(&mut h, here, &x.keep, io::empty())
            }
            _ => {
                self.stats.devices_skipped += 1;
                Ok(())
            }
        }
    }

    fn regular(&mut self, fd: BorrowedFd<'_>, st: &FileStat, here: &Path) -> Result<(), FsError> {
        let file = File::from(reopen_read(fd).map_err(|e| io_err("open", here, e))?);
        let x = self.xattrs(Source::Fd(file.as_fd()), here)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = header(st, EntryType::Regular);
        h.set_size(size);
        // A file that shrinks while it is read is padded with zeros and one
        // that grows is cut: the header's size must stay true.
        let data = ReadErrors::new(file.take(size)).chain(io::repeat(0).take(size));
        let mut data = data.take(size);
        self.append(&mut h, here, &x.keep, &mut data)?;
        if let Some(e) = data.into_inner().into_inner().0.error {
            return Err(io_err_io("read", here, e));
        }
        self.stats.file_bytes += size;
        Ok(())
    }

    /// Writes a hard link entry when `st` is a further name of an inode
    /// already archived; records the first name otherwise.
    fn hardlink(&mut self, st: &FileStat, here: &Path) -> Result<bool, FsError> {
        if !self.flavour.full() || st.st_nlink < 2 {
            return Ok(false);
        }
        let key = (st.st_dev, st.st_ino);
        let Some(first) = self.links.get(&key).cloned() else {
            self.links.insert(key, here.to_owned());
            return Ok(false);
        };
        let mut h = header(st, EntryType::Link);
        self.tar
            .append_link(&mut h, here, &first)
            .map_err(|e| write_err(here, e))?;
        self.stats.entries += 1;
        self.stats.hardlinks += 1;
        Ok(true)
    }

    fn xattrs(&self, src: Source<'_>, here: &Path) -> Result<Xattrs, FsError> {
        if !self.flavour.full() {
            return Ok(Xattrs::default());
        }
        let x = xattr::read(src, here)?;
        if let (Flavour::Layer, Some(what)) = (self.flavour, &x.incomplete) {
            return Err(FsError::Unarchivable {
                entry: fsio::display(here),
                reason: format!(
                    "it carries {what}: its contents are in a lower layer (mount the \
                     overlay with redirect_dir=off and metacopy=off)"
                ),
            });
        }
        Ok(x)
    }

    /// A directory's archive name: with a trailing slash in layers and
    /// exports, as other tools write them; `pocky cp` keeps its own form.
    fn dir_name(&self, rel: &Path) -> PathBuf {
        if !self.flavour.full() {
            return rel.to_owned();
        }
        let mut bytes = rel.as_os_str().as_bytes().to_vec();
        bytes.push(b'/');
        PathBuf::from(OsString::from_vec(bytes))
    }

    fn pax(
        &mut self,
        h: &tar::Header,
        xattrs: &[(String, Vec<u8>)],
        here: &Path,
    ) -> Result<(), FsError> {
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        for (key, id) in [("uid", h.uid()), ("gid", h.gid())] {
            let id = id.map_err(|e| write_err(here, e))?;
            if id > MAX_OCTAL_ID {
                records.push((key.to_owned(), id.to_string().into_bytes()));
            }
        }
        for (name, value) in xattrs {
            records.push((format!("SCHILY.xattr.{name}"), value.clone()));
        }
        if records.is_empty() {
            return Ok(());
        }
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| write_err(here, e))
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        name: &Path,
        xattrs: &[(String, Vec<u8>)],
        data: impl Read,
    ) -> Result<(), FsError> {
        self.pax(h, xattrs, name)?;
        self.tar
            .append_data(h, name, data)
            .map_err(|e| write_err(name, e))?;
        self.stats.entries += 1;
        Ok(())
    }
}

fn is_device(k: SFlag) -> bool {
    k == SFlag::S_IFCHR || k == SFlag::S_IFBLK
}

fn overflow() -> io::Error {
    io::Error::other("device number out of range")
}

fn header(st: &FileStat, kind: EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

/// An OCI whiteout or opaque marker: an empty file owned by root, with no
/// metadata of its own (dated 0), so that a layer unpacked and packed
/// again gives the same bytes.
fn marker_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h
}
