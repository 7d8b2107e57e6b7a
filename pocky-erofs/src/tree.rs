//! The image's tree while a layer streams in: what a directory unpacker
//! would leave on disk, kept in memory until [`crate::Builder::finish`]
//! lays it out.
//!
//! The rules are those of pocky's directory unpacker, so that both stores
//! hold the same layer: a later entry replaces an earlier one at its name
//! (a directory stays only for a new directory, which then takes the new
//! owner and mode and adds its xattrs), missing parents are made as
//! `0755` directories, nothing is ever resolved through a symlink, and a
//! hardlink names an existing non-directory.

use std::collections::BTreeMap;

use crate::Error;

/// Index of a node in the arena.
pub(crate) type NodeId = u32;
pub(crate) const ROOT: NodeId = 0;

/// Owner, mode, time and xattrs of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (with setuid, setgid, sticky); the type comes from
    /// the call that adds the entry.
    pub mode: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Full names (`trusted.overlay.opaque`) and values.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug)]
pub(crate) enum Content {
    Dir(BTreeMap<Box<[u8]>, NodeId>),
    /// Regular file: first block and length of its data.
    File {
        blkaddr: u32,
        size: u64,
    },
    Symlink(Box<[u8]>),
    /// Character or block device, FIFO or socket (the type is in the mode).
    Special {
        rdev: u32,
    },
}

#[derive(Debug)]
pub(crate) struct Node {
    /// `S_IF*` type bits plus permission bits.
    pub(crate) mode: u32,
    pub(crate) meta: Meta,
    pub(crate) content: Content,
}

/// Where a path could not be followed: how many leading components were
/// fine before the one that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkFailure {
    /// Component `n` (0-based) is a symlink.
    Symlink(usize),
    /// Component `n` exists and is not a directory.
    NotDir(usize),
    /// Component `n` does not exist.
    Missing(usize),
}

#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    implied_mtime: i64,
}

impl Tree {
    pub(crate) fn new(implied_mtime: i64) -> Tree {
        let root = Node {
            mode: crate::format::S_IFDIR | 0o755,
            meta: Meta {
                mode: 0o755,
                mtime: implied_mtime,
                ..Meta::default()
            },
            content: Content::Dir(BTreeMap::new()),
        };
        Tree {
            nodes: vec![root],
            implied_mtime,
        }
    }

    fn children(&self, id: NodeId) -> Option<&BTreeMap<Box<[u8]>, NodeId>> {
        match &self.nodes[id as usize].content {
            Content::Dir(c) => Some(c),
            _ => None,
        }
    }

    fn children_mut(&mut self, id: NodeId) -> Option<&mut BTreeMap<Box<[u8]>, NodeId>> {
        match &mut self.nodes[id as usize].content {
            Content::Dir(c) => Some(c),
            _ => None,
        }
    }

    pub(crate) fn is_dir(&self, id: NodeId) -> bool {
        self.children(id).is_some()
    }

    /// The directory `parents` names, made where missing when `create`.
    pub(crate) fn walk(&mut self, parents: &[&[u8]], create: bool) -> Result<NodeId, WalkFailure> {
        let mut cur = ROOT;
        for (i, name) in parents.iter().enumerate() {
            let found = self.children(cur).and_then(|c| c.get(*name).copied());
            cur = match found {
                Some(id) if self.is_dir(id) => id,
                Some(id)
                    if self.nodes[id as usize].mode & crate::format::S_IFMT
                        == crate::format::S_IFLNK =>
                {
                    return Err(WalkFailure::Symlink(i));
                }
                Some(_) => return Err(WalkFailure::NotDir(i)),
                None if create => {
                    let meta = Meta {
                        mode: 0o755,
                        mtime: self.implied_mtime,
                        ..Meta::default()
                    };
                    let dir = Content::Dir(BTreeMap::new());
                    self.insert(cur, name, crate::format::S_IFDIR, meta, dir)
                }
                None => return Err(WalkFailure::Missing(i)),
            };
        }
        Ok(cur)
    }

    /// The node at `name` in directory `parent`.
    pub(crate) fn get(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        self.children(parent).and_then(|c| c.get(name).copied())
    }

    /// Clears `name` in `parent` for a new entry; a directory stays when
    /// the new entry is one too. Returns the directory kept.
    pub(crate) fn clear(
        &mut self,
        parent: NodeId,
        name: &[u8],
        new_is_dir: bool,
    ) -> Option<NodeId> {
        let existing = self.get(parent, name)?;
        if new_is_dir && self.is_dir(existing) {
            return Some(existing);
        }
        // The node stays in the arena (a hardlink may still name it);
        // only what the root can reach is laid out.
        if let Some(c) = self.children_mut(parent) {
            c.remove(name);
        }
        None
    }

    /// Adds a new node at `name` in `parent` (which the caller cleared).
    pub(crate) fn insert(
        &mut self,
        parent: NodeId,
        name: &[u8],
        kind: u32,
        meta: Meta,
        content: Content,
    ) -> NodeId {
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NodeId::MAX);
        self.nodes.push(Node {
            mode: kind | (meta.mode & 0o7777),
            meta,
            content,
        });
        self.link(parent, name, id);
        id
    }

    /// Another name for `id`.
    pub(crate) fn link(&mut self, parent: NodeId, name: &[u8], id: NodeId) {
        if let Some(c) = self.children_mut(parent) {
            c.insert(name.into(), id);
        }
    }

    /// Replaces a kept directory's owner, mode and time, and sets its
    /// xattrs over the ones it had (as chown, chmod and setxattr would).
    pub(crate) fn update_dir(&mut self, id: NodeId, meta: Meta) {
        let node = &mut self.nodes[id as usize];
        node.mode = crate::format::S_IFDIR | (meta.mode & 0o7777);
        let mut xattrs = std::mem::take(&mut node.meta.xattrs);
        for (k, v) in meta.xattrs.iter() {
            set_xattr(&mut xattrs, k, v);
        }
        node.meta = Meta { xattrs, ..meta };
    }

    pub(crate) fn set_xattr(&mut self, id: NodeId, name: &[u8], value: &[u8]) {
        set_xattr(&mut self.nodes[id as usize].meta.xattrs, name, value);
    }

    /// Checks an entry's xattrs before they reach the tree.
    pub(crate) fn check_xattrs(meta: &Meta) -> Result<(), Error> {
        for (name, value) in &meta.xattrs {
            let Some((_, suffix)) = crate::format::xattr_index(name) else {
                return Err(Error::UnsupportedXattr(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            };
            if suffix.len() > usize::from(u8::MAX) || value.len() > usize::from(u16::MAX) {
                return Err(Error::XattrTooLarge(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
        }
        Ok(())
    }
}

fn set_xattr(xattrs: &mut Vec<(Vec<u8>, Vec<u8>)>, name: &[u8], value: &[u8]) {
    match xattrs.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value.to_vec(),
        None => xattrs.push((name.to_vec(), value.to_vec())),
    }
}
