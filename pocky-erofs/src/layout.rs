//! Where each inode and each directory's content goes, and writing them:
//! the second half of [`crate::Builder`], once every entry is known.

use std::io::{Seek, Write};

use crate::Error;
use crate::format::{
    self, BLOCK_SIZE, DIRENT_SIZE, INODE_SIZE, LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN, SLOT_SIZE,
    XATTR_HEADER_SIZE,
};
use crate::tree::{Content, Meta, NodeId, ROOT, Tree};
use crate::writer::{INODE_ROOM, Out, inode_of};

const UNSEEN: u32 = u32::MAX;

struct Plan {
    /// Byte offset in the metadata area (nid = pos / 32).
    pos: u64,
    inline: bool,
    /// Content size (directory bytes, symlink target, file size).
    size: u64,
    /// First block of content written at layout time (large directories
    /// and symlinks).
    blkaddr: u32,
    xattr_size: usize,
    nlink: u32,
    parent: NodeId,
}

pub(crate) struct Layout {
    order: Vec<NodeId>,
    index: Vec<u32>,
    plans: Vec<Plan>,
    data_end: u64,
    pub(crate) meta_blkaddr: u32,
}

fn xattr_size(meta: &Meta) -> usize {
    if meta.xattrs.is_empty() {
        return 0;
    }
    XATTR_HEADER_SIZE
        + meta
            .xattrs
            .iter()
            .map(|(k, v)| {
                let suffix = format::xattr_index(k).map_or(k.len(), |(_, s)| s.len());
                format::xattr_entry_len(suffix, v.len())
            })
            .sum::<usize>()
}

/// A directory's entries, `.` and `..` included, in the kernel's order.
fn dir_entries(tree: &Tree, id: NodeId, parent: NodeId) -> Vec<(&[u8], NodeId)> {
    let mut out: Vec<(&[u8], NodeId)> = vec![(b".", id), (b"..", parent)];
    if let Content::Dir(children) = &tree.nodes[id as usize].content {
        out.extend(children.iter().map(|(k, v)| (&**k, *v)));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out
}

/// The entries grouped into directory blocks.
fn dir_blocks<'e, 'n>(entries: &'e [(&'n [u8], NodeId)]) -> Vec<&'e [(&'n [u8], NodeId)]> {
    let mut blocks = Vec::new();
    let (mut start, mut used) = (0, 0usize);
    for (i, (name, _)) in entries.iter().enumerate() {
        let need = DIRENT_SIZE + name.len();
        if used + need > BLOCK_SIZE as usize {
            blocks.push(&entries[start..i]);
            start = i;
            used = 0;
        }
        used += need;
    }
    blocks.push(&entries[start..]);
    blocks
}

fn dir_size(entries: &[(&[u8], NodeId)]) -> u64 {
    let blocks = dir_blocks(entries);
    let last: usize = blocks
        .last()
        .map_or(0, |b| b.iter().map(|(n, _)| DIRENT_SIZE + n.len()).sum());
    (blocks.len() as u64 - 1) * BLOCK_SIZE + last as u64
}

impl Layout {
    pub(crate) fn plan(tree: &Tree, data_end: u64) -> Result<Layout, Error> {
        let mut index = vec![UNSEEN; tree.nodes.len()];
        let mut order = vec![ROOT];
        let mut parents = vec![ROOT];
        let mut links = vec![1u32];
        index[ROOT as usize] = 0;
        let mut subdirs = vec![0u32];
        let mut next = 0;
        while next < order.len() {
            let id = order[next];
            if let Content::Dir(children) = &tree.nodes[id as usize].content {
                for &child in children.values() {
                    if tree.is_dir(child) {
                        subdirs[next] += 1;
                    }
                    match index[child as usize] {
                        UNSEEN => {
                            index[child as usize] =
                                u32::try_from(order.len()).map_err(|_| Error::TooLarge)?;
                            order.push(child);
                            parents.push(id);
                            links.push(1);
                            subdirs.push(0);
                        }
                        seen => links[seen as usize] += 1,
                    }
                }
            }
            next += 1;
        }

        let mut plans = Vec::with_capacity(order.len());
        let mut pos = 0u64;
        let mut extra = data_end / BLOCK_SIZE;
        for (i, &id) in order.iter().enumerate() {
            let node = &tree.nodes[id as usize];
            let xattr_size = xattr_size(&node.meta);
            let (size, inlinable, nlink) = match &node.content {
                Content::Dir(_) => {
                    let entries = dir_entries(tree, id, parents[i]);
                    (dir_size(&entries), true, 2 + subdirs[i])
                }
                Content::Symlink(t) => (t.len() as u64, true, links[i]),
                Content::File { size, .. } => (*size, false, links[i]),
                Content::Special { .. } => (0, false, links[i]),
            };
            let base = (INODE_SIZE + xattr_size) as u64;
            if base > INODE_ROOM {
                return Err(Error::XattrTooLarge(
                    "all of an entry's extended attributes".into(),
                ));
            }
            let inline = inlinable && base + size <= INODE_ROOM;
            let room = if inline { base + size } else { base };
            pos = pos.next_multiple_of(SLOT_SIZE);
            if pos % BLOCK_SIZE + room > BLOCK_SIZE {
                pos = pos.next_multiple_of(BLOCK_SIZE);
            }
            let mut blkaddr = 0;
            if inlinable && !inline {
                blkaddr = u32::try_from(extra).map_err(|_| Error::TooLarge)?;
                extra += size.div_ceil(BLOCK_SIZE);
            }
            plans.push(Plan {
                pos,
                inline,
                size,
                blkaddr,
                xattr_size,
                nlink,
                parent: parents[i],
            });
            pos += room;
        }
        Ok(Layout {
            order,
            index,
            plans,
            data_end,
            meta_blkaddr: u32::try_from(extra).map_err(|_| Error::TooLarge)?,
        })
    }

    pub(crate) fn inodes(&self) -> u64 {
        self.order.len() as u64
    }

    pub(crate) fn nid_of(&self, id: NodeId) -> u64 {
        self.plans[self.index[id as usize] as usize].pos / SLOT_SIZE
    }

    fn dir_bytes(&self, tree: &Tree, id: NodeId, parent: NodeId) -> Vec<u8> {
        let entries = dir_entries(tree, id, parent);
        let mut out = Vec::new();
        let blocks = dir_blocks(&entries);
        let last = blocks.len() - 1;
        for (b, block) in blocks.into_iter().enumerate() {
            let start = out.len();
            let mut nameoff = block.len() * DIRENT_SIZE;
            for (name, child) in block {
                let mut d = [0u8; DIRENT_SIZE];
                format::put64(&mut d, 0, self.nid_of(*child));
                format::put16(&mut d, 8, u16::try_from(nameoff).unwrap_or(u16::MAX));
                d[10] = format::file_type(tree.nodes[*child as usize].mode);
                out.extend_from_slice(&d);
                nameoff += name.len();
            }
            for (name, _) in block {
                out.extend_from_slice(name);
            }
            // Every block but the last is whole.
            if b != last {
                out.resize(start + BLOCK_SIZE as usize, 0);
            }
        }
        out
    }

    fn content(&self, tree: &Tree, i: usize) -> Vec<u8> {
        let id = self.order[i];
        match &tree.nodes[id as usize].content {
            Content::Dir(_) => self.dir_bytes(tree, id, self.plans[i].parent),
            Content::Symlink(t) => t.to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn write<W: Write + Seek>(
        &self,
        tree: &Tree,
        out: &mut Out<W>,
    ) -> Result<(), Error> {
        debug_assert_eq!(out.pos(), self.data_end);
        for (i, plan) in self.plans.iter().enumerate() {
            if plan.blkaddr != 0 {
                out.pad_to(u64::from(plan.blkaddr) * BLOCK_SIZE)?;
                out.write(&self.content(tree, i))?;
                out.pad_block()?;
            }
        }
        let meta_start = u64::from(self.meta_blkaddr) * BLOCK_SIZE;
        out.pad_to(meta_start)?;
        for (i, plan) in self.plans.iter().enumerate() {
            let node = &tree.nodes[self.order[i] as usize];
            let mut inode = inode_of(node.mode, &node.meta);
            inode.size = plan.size;
            inode.nlink = plan.nlink;
            inode.ino = u32::try_from(i + 1).unwrap_or(u32::MAX);
            inode.xattr_icount = match plan.xattr_size {
                0 => 0,
                n => u16::try_from((n - XATTR_HEADER_SIZE) / 4 + 1).unwrap_or(u16::MAX),
            };
            inode.layout = if plan.inline {
                LAYOUT_FLAT_INLINE
            } else {
                LAYOUT_FLAT_PLAIN
            };
            inode.raw = match &node.content {
                Content::File { blkaddr, size } if *size > 0 => *blkaddr,
                Content::Special { rdev } => *rdev,
                _ => plan.blkaddr,
            };
            out.pad_to(meta_start + plan.pos)?;
            out.write(&inode.encode())?;
            if plan.xattr_size > 0 {
                out.write(&xattr_bytes(&node.meta))?;
            }
            if plan.inline {
                out.write(&self.content(tree, i))?;
            }
        }
        out.pad_block()
    }
}

fn xattr_bytes(meta: &Meta) -> Vec<u8> {
    let mut out = vec![0u8; XATTR_HEADER_SIZE];
    for (name, value) in &meta.xattrs {
        let Some((index, suffix)) = format::xattr_index(name) else {
            continue;
        };
        let start = out.len();
        out.push(u8::try_from(suffix.len()).unwrap_or(u8::MAX));
        out.push(index);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.extend_from_slice(suffix);
        out.extend_from_slice(value);
        out.resize(
            start + format::xattr_entry_len(suffix.len(), value.len()),
            0,
        );
    }
    out
}
