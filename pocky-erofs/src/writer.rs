//! The streaming writer: file data goes to the image as the tar brings it;
//! directories, symlinks and inodes follow at [`Builder::finish`].

use std::io::{Read, Seek, SeekFrom, Write};

use crate::Error;
use crate::format::{self, BLOCK_SIZE, INODE_SIZE, Inode, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use crate::layout::Layout;
use crate::tree::{Content, Meta, NodeId, ROOT, Tree, WalkFailure};

/// How much data is gathered before one write.
const BUFFER: usize = 256 * 1024;
/// EROFS (and Linux) names are at most 255 bytes.
pub const NAME_MAX: usize = 255;

/// What an image holds, once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of the image file.
    pub image_bytes: u64,
    /// Inodes laid out (what the root reaches).
    pub inodes: u64,
    /// Regular-file bytes written (replaced files included).
    pub file_bytes: u64,
}

/// Buffered, position-tracking output.
pub(crate) struct Out<W> {
    inner: W,
    buf: Box<[u8]>,
    len: usize,
    /// Image offset of `buf[0]`.
    flushed: u64,
}

impl<W: Write + Seek> Out<W> {
    pub(crate) fn new(inner: W) -> Out<W> {
        Out {
            inner,
            buf: vec![0u8; BUFFER].into_boxed_slice(),
            len: 0,
            flushed: 0,
        }
    }

    pub(crate) fn pos(&self) -> u64 {
        self.flushed + self.len as u64
    }

    pub(crate) fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let n = (BUFFER - self.len).min(data.len());
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len == BUFFER {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Zeros up to `offset`.
    pub(crate) fn pad_to(&mut self, offset: u64) -> Result<(), Error> {
        const ZEROS: [u8; 4096] = [0; 4096];
        while self.pos() < offset {
            let n = usize::try_from(offset - self.pos()).map_or(ZEROS.len(), |n| n.min(4096));
            self.write(&ZEROS[..n])?;
        }
        Ok(())
    }

    pub(crate) fn pad_block(&mut self) -> Result<(), Error> {
        self.pad_to(self.pos().next_multiple_of(BLOCK_SIZE))
    }

    /// Reads `data` to its end straight into the buffer.
    fn copy_from(&mut self, data: &mut dyn Read) -> Result<u64, Error> {
        let mut total = 0u64;
        loop {
            if self.len == BUFFER {
                self.flush()?;
            }
            match data.read(&mut self.buf[self.len..]) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    self.len += n;
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Read(e)),
            }
        }
    }

    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.inner
            .write_all(&self.buf[..self.len])
            .map_err(|e| Error::Io("write", e))?;
        self.flushed += self.len as u64;
        self.len = 0;
        Ok(())
    }
}

/// Writes one EROFS image from a stream of entries.
///
/// Paths are slices of components, already checked by the caller to be
/// names (no `/`, `.`, `..` or empty ones); the builder checks them again
/// and refuses anything it could not lay out.
pub struct Builder<W: Write + Seek> {
    out: Out<W>,
    tree: Tree,
    build_time: i64,
    file_bytes: u64,
}

impl<W: Write + Seek> std::fmt::Debug for Builder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("pos", &self.out.pos())
            .finish()
    }
}

fn check_name(name: &[u8]) -> Result<(), Error> {
    if name.is_empty()
        || name == b"."
        || name == b".."
        || name.contains(&b'/')
        || name.contains(&0)
        || name.len() > NAME_MAX
    {
        return Err(Error::BadName(String::from_utf8_lossy(name).into_owned()));
    }
    Ok(())
}

/// The parents and the final name of `path`.
fn split<'a, 'b>(path: &'a [&'b [u8]]) -> Result<(&'a [&'b [u8]], &'b [u8]), Error> {
    let Some((name, parents)) = path.split_last() else {
        return Err(Error::BadName(String::new()));
    };
    for c in path {
        check_name(c)?;
    }
    Ok((parents, name))
}

impl<W: Write + Seek> Builder<W> {
    /// Starts an image at the beginning of `out`. `build_time` is the
    /// superblock's time and that of directories a path implies.
    pub fn new(out: W, build_time: i64) -> Result<Builder<W>, Error> {
        let mut out = Out::new(out);
        // Block 0 holds the superblock, written last.
        out.pad_to(BLOCK_SIZE)?;
        Ok(Builder {
            out,
            tree: Tree::new(build_time),
            build_time,
            file_bytes: 0,
        })
    }

    fn parent(&mut self, parents: &[&[u8]]) -> Result<NodeId, Error> {
        self.tree.walk(parents, true).map_err(Error::Walk)
    }

    /// A directory; an existing one keeps its children.
    pub fn dir(&mut self, path: &[&[u8]], meta: Meta) -> Result<(), Error> {
        let (parents, name) = split(path)?;
        Tree::check_xattrs(&meta)?;
        let parent = self.parent(parents)?;
        match self.tree.clear(parent, name, true) {
            Some(kept) => self.tree.update_dir(kept, meta),
            None => {
                let dir = Content::Dir(Default::default());
                self.tree.insert(parent, name, S_IFDIR, meta, dir);
            }
        }
        Ok(())
    }

    /// A regular file whose content is `data`, read to its end. Returns
    /// the bytes read.
    pub fn file(&mut self, path: &[&[u8]], meta: Meta, data: &mut dyn Read) -> Result<u64, Error> {
        let (parents, name) = split(path)?;
        Tree::check_xattrs(&meta)?;
        let parent = self.parent(parents)?;
        self.tree.clear(parent, name, false);
        let start = self.out.pos();
        let blkaddr = u32::try_from(start / BLOCK_SIZE).map_err(|_| Error::TooLarge)?;
        let size = self.out.copy_from(data)?;
        self.out.pad_block()?;
        self.file_bytes += size;
        let content = Content::File { blkaddr, size };
        self.tree.insert(parent, name, S_IFREG, meta, content);
        Ok(size)
    }

    pub fn symlink(&mut self, path: &[&[u8]], meta: Meta, target: &[u8]) -> Result<(), Error> {
        let (parents, name) = split(path)?;
        Tree::check_xattrs(&meta)?;
        if target.is_empty() || target.len() >= 4096 || target.contains(&0) {
            return Err(Error::BadName(String::from_utf8_lossy(target).into_owned()));
        }
        let parent = self.parent(parents)?;
        self.tree.clear(parent, name, false);
        let content = Content::Symlink(target.into());
        self.tree.insert(parent, name, S_IFLNK, meta, content);
        Ok(())
    }

    /// A device node, FIFO or socket: `kind` is its `S_IF*` type.
    pub fn special(
        &mut self,
        path: &[&[u8]],
        meta: Meta,
        kind: u32,
        rdev: u32,
    ) -> Result<(), Error> {
        let (parents, name) = split(path)?;
        Tree::check_xattrs(&meta)?;
        let kind = kind & format::S_IFMT;
        if ![
            format::S_IFCHR,
            format::S_IFBLK,
            format::S_IFIFO,
            format::S_IFSOCK,
        ]
        .contains(&kind)
        {
            return Err(Error::BadName(String::from_utf8_lossy(name).into_owned()));
        }
        let parent = self.parent(parents)?;
        self.tree.clear(parent, name, false);
        self.tree
            .insert(parent, name, kind, meta, Content::Special { rdev });
        Ok(())
    }

    /// An overlayfs whiteout (character device 0:0, mode 0) at `path`.
    pub fn whiteout(&mut self, path: &[&[u8]]) -> Result<(), Error> {
        let meta = Meta {
            mtime: self.build_time,
            ..Meta::default()
        };
        self.special(path, meta, S_IFCHR, 0)
    }

    /// Marks the directory `dir` (made if missing) opaque to lower layers.
    pub fn opaque(&mut self, dir: &[&[u8]]) -> Result<(), Error> {
        for c in dir {
            check_name(c)?;
        }
        let id = self.parent(dir)?;
        self.tree.set_xattr(id, b"trusted.overlay.opaque", b"y");
        Ok(())
    }

    /// A second name for the non-directory at `target`, which must exist;
    /// nothing is resolved through a symlink (a link to a symlink names
    /// the symlink).
    pub fn hardlink(&mut self, path: &[&[u8]], target: &[&[u8]]) -> Result<(), Error> {
        let (parents, name) = split(path)?;
        let (t_parents, t_name) = split(target)?;
        let resolve = |tree: &mut Tree| -> Result<NodeId, Error> {
            let dir = tree.walk(t_parents, false).map_err(Error::LinkTarget)?;
            let id = tree
                .get(dir, t_name)
                .ok_or(Error::LinkTarget(WalkFailure::Missing(t_parents.len())))?;
            if tree.is_dir(id) {
                return Err(Error::LinkToDirectory);
            }
            Ok(id)
        };
        if path == target {
            resolve(&mut self.tree)?;
            return Ok(());
        }
        let id = resolve(&mut self.tree)?;
        let parent = self.parent(parents)?;
        self.tree.clear(parent, name, false);
        // Clearing the name may have removed the target with it (a link
        // named like a directory above its own target).
        if resolve(&mut self.tree).ok() != Some(id) {
            return Err(Error::LinkTarget(WalkFailure::Missing(t_parents.len())));
        }
        self.tree.link(parent, name, id);
        Ok(())
    }

    /// Lays out directories and inodes and writes the superblock.
    pub fn finish(mut self) -> Result<(W, Summary), Error> {
        let layout = Layout::plan(&self.tree, self.out.pos())?;
        layout.write(&self.tree, &mut self.out)?;
        let end = self.out.pos();
        self.out.flush()?;
        let blocks = u32::try_from(end / BLOCK_SIZE).map_err(|_| Error::TooLarge)?;
        let sb = format::Superblock {
            root_nid: u16::try_from(layout.nid_of(ROOT)).map_err(|_| Error::TooLarge)?,
            inos: layout.inodes(),
            build_time: u64::try_from(self.build_time).unwrap_or(0),
            build_time_nsec: 0,
            blocks,
            meta_blkaddr: layout.meta_blkaddr,
        };
        let inner = &mut self.out.inner;
        inner
            .seek(SeekFrom::Start(format::SUPERBLOCK_OFFSET))
            .and_then(|_| inner.write_all(&sb.encode()))
            .and_then(|()| inner.seek(SeekFrom::Start(end)))
            .and_then(|_| inner.flush())
            .map_err(|e| Error::Io("write superblock", e))?;
        let summary = Summary {
            image_bytes: end,
            inodes: layout.inodes(),
            file_bytes: self.file_bytes,
        };
        Ok((self.out.inner, summary))
    }
}

/// The inode an entry gets (without placement).
pub(crate) fn inode_of(mode: u32, meta: &Meta) -> Inode {
    Inode {
        mode: u16::try_from(mode & 0xffff).unwrap_or(0),
        uid: meta.uid,
        gid: meta.gid,
        mtime: meta.mtime,
        mtime_nsec: meta.mtime_nsec,
        ..Inode::default()
    }
}

/// The most an inode, its xattrs and inline content may take: one block.
pub(crate) const INODE_ROOM: u64 = BLOCK_SIZE;
pub(crate) const _ASSERT_INODE: () = assert!(INODE_SIZE as u64 <= INODE_ROOM);
