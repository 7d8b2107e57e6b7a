//! A bounds-checked reader of the images [`crate::Builder`] writes: for
//! tests, for `pocky diff` (which asks whether a lower layer has a path)
//! and for checking a layer without mounting it. Every offset is checked
//! against the image's length, so a damaged image gives an error, never a
//! panic or a read elsewhere.

use std::os::unix::fs::FileExt;

use crate::Error;
use crate::format::{
    self, BLOCK_SIZE, DIRENT_SIZE, INODE_SIZE, Inode, LAYOUT_FLAT_INLINE, SLOT_SIZE, Superblock,
    XATTR_HEADER_SIZE,
};

/// Where the image's bytes come from.
pub trait Source {
    /// The image's length in bytes.
    fn size(&self) -> u64;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl Source for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        buf.copy_from_slice(self.get(start..end).ok_or_else(eof)?);
        Ok(())
    }
}

fn eof() -> std::io::Error {
    std::io::ErrorKind::UnexpectedEof.into()
}

/// Extended attributes: full names and values.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// An inode as read, with where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub nid: u64,
    pub inode: Inode,
    /// Image offset of the inode.
    pos: u64,
}

impl Node {
    pub fn mode(&self) -> u32 {
        u32::from(self.inode.mode)
    }
    pub fn is_dir(&self) -> bool {
        self.mode() & format::S_IFMT == format::S_IFDIR
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub nid: u64,
    pub file_type: u8,
}

/// An opened image.
#[derive(Debug)]
pub struct Image<S: Source + ?Sized> {
    pub superblock: Superblock,
    len: u64,
    source: Box<S>,
}

fn corrupt(what: &'static str) -> Error {
    Error::Corrupt(what)
}

impl<S: Source + ?Sized> Image<S> {
    pub fn open(source: Box<S>) -> Result<Image<S>, Error> {
        let len = source.size();
        let mut b = [0u8; format::SUPERBLOCK_SIZE];
        source
            .read_at(&mut b, format::SUPERBLOCK_OFFSET)
            .map_err(|_| corrupt("no superblock"))?;
        let superblock = Superblock::decode(&b).map_err(Error::Corrupt)?;
        Ok(Image {
            superblock,
            len,
            source,
        })
    }

    fn read(&self, offset: u64, n: u64) -> Result<Vec<u8>, Error> {
        let end = offset.checked_add(n).ok_or(corrupt("offset overflows"))?;
        if end > self.len {
            return Err(corrupt("reference past the end of the image"));
        }
        let mut buf = vec![0u8; usize::try_from(n).map_err(|_| corrupt("size"))?];
        self.source
            .read_at(&mut buf, offset)
            .map_err(|e| Error::Io("read", e))?;
        Ok(buf)
    }

    pub fn root(&self) -> Result<Node, Error> {
        self.node(u64::from(self.superblock.root_nid))
    }

    pub fn node(&self, nid: u64) -> Result<Node, Error> {
        let pos = u64::from(self.superblock.meta_blkaddr)
            .checked_mul(BLOCK_SIZE)
            .and_then(|m| nid.checked_mul(SLOT_SIZE).and_then(|o| m.checked_add(o)))
            .ok_or(corrupt("nid out of range"))?;
        let inode = Inode::decode(&self.read(pos, INODE_SIZE as u64)?).map_err(Error::Corrupt)?;
        Ok(Node { nid, inode, pos })
    }

    /// The inode's xattrs, full names.
    pub fn xattrs(&self, node: &Node) -> Result<Xattrs, Error> {
        let size = node.inode.xattr_size();
        if size == 0 {
            return Ok(Vec::new());
        }
        let raw = self.read(node.pos + INODE_SIZE as u64, size as u64)?;
        if raw[4] != 0 {
            return Err(corrupt("shared xattrs"));
        }
        let mut out = Vec::new();
        let mut at = XATTR_HEADER_SIZE;
        while at < raw.len() {
            let head = raw.get(at..at + 4).ok_or(corrupt("xattr entry"))?;
            let (name_len, index) = (usize::from(head[0]), head[1]);
            let value_len = usize::from(format::get16(head, 2));
            let body = at + 4;
            let value_at = body + name_len;
            let end = value_at + value_len;
            let prefix = format::xattr_prefix(index).ok_or(corrupt("xattr name index"))?;
            let suffix = raw.get(body..value_at).ok_or(corrupt("xattr name"))?;
            let value = raw.get(value_at..end).ok_or(corrupt("xattr value"))?;
            out.push(([prefix, suffix].concat(), value.to_vec()));
            at += format::xattr_entry_len(name_len, value_len);
        }
        if at != raw.len() {
            return Err(corrupt("xattr entries overrun their space"));
        }
        Ok(out)
    }

    /// The whole content of a file, directory or symlink.
    pub fn content(&self, node: &Node) -> Result<Vec<u8>, Error> {
        let size = node.inode.size;
        if size > self.len {
            return Err(corrupt("size larger than the image"));
        }
        if node.inode.layout == LAYOUT_FLAT_INLINE {
            if size >= BLOCK_SIZE {
                return Err(corrupt("inline content of a block or more"));
            }
            let at = node.pos + (INODE_SIZE + node.inode.xattr_size()) as u64;
            if at % BLOCK_SIZE + size > BLOCK_SIZE {
                return Err(corrupt("inline content crosses a block"));
            }
            return self.read(at, size);
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        self.read(u64::from(node.inode.raw) * BLOCK_SIZE, size)
    }

    pub fn read_dir(&self, node: &Node) -> Result<Vec<DirEntry>, Error> {
        if !node.is_dir() {
            return Err(corrupt("not a directory"));
        }
        let data = self.content(node)?;
        let mut out = Vec::new();
        for block in data.chunks(BLOCK_SIZE as usize) {
            if block.len() < DIRENT_SIZE {
                return Err(corrupt("short directory block"));
            }
            let first = usize::from(format::get16(block, 8));
            if first % DIRENT_SIZE != 0 || first == 0 || first > block.len() {
                return Err(corrupt("directory block header"));
            }
            let count = first / DIRENT_SIZE;
            for i in 0..count {
                let d = &block[i * DIRENT_SIZE..(i + 1) * DIRENT_SIZE];
                let start = usize::from(format::get16(d, 8));
                let end = if i + 1 < count {
                    usize::from(format::get16(block, (i + 1) * DIRENT_SIZE + 8))
                } else {
                    let tail = &block[start.min(block.len())..];
                    start + tail.iter().position(|b| *b == 0).unwrap_or(tail.len())
                };
                let name = block.get(start..end).ok_or(corrupt("dirent name"))?;
                if name.is_empty() {
                    return Err(corrupt("empty name"));
                }
                out.push(DirEntry {
                    name: name.to_vec(),
                    nid: format::get64(d, 0),
                    file_type: d[10],
                });
            }
        }
        if !out.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(corrupt("directory entries out of order"));
        }
        Ok(out)
    }

    /// The node at `path` (components), without following symlinks.
    pub fn lookup(&self, path: &[&[u8]]) -> Result<Option<Node>, Error> {
        let mut cur = self.root()?;
        for name in path {
            if !cur.is_dir() {
                return Ok(None);
            }
            let found = self.read_dir(&cur)?.into_iter().find(|e| e.name == *name);
            match found {
                Some(e) => cur = self.node(e.nid)?,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }
}
