//! The archive's own namespace: entry names mapped to stored files, links
//! and directories, with links resolved lexically inside it. Nothing here
//! touches the host filesystem: a link is a string to follow through this
//! map, never a path handed to the kernel.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use crate::error::{ArchiveError, shown};
use crate::names::entry_path;

/// Linux's own bound on links followed in one lookup (ELOOP).
const MAX_HOPS: usize = 40;

/// A regular file of the archive, copied into scratch.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) path: PathBuf,
    pub(crate) digest: String,
    pub(crate) size: u64,
    /// The archive name it was stored under, for messages.
    pub(crate) name: String,
}

#[derive(Debug)]
enum Node {
    Dir,
    File(usize),
    /// Target as written, relative to the link's directory.
    Symlink(String),
    /// Target as an archive path from the top.
    Hardlink(String),
}

#[derive(Debug, Default)]
pub(crate) struct Namespace {
    nodes: HashMap<String, Node>,
    files: Vec<StoredFile>,
}

/// What adding a file did: a second copy of an identical file is dropped.
pub(crate) enum Added {
    Kept,
    Duplicate,
}

impl Namespace {
    pub(crate) fn add_dir(&mut self, name: String) -> Result<(), ArchiveError> {
        match self.nodes.get(&name) {
            None => {
                self.nodes.insert(name, Node::Dir);
                Ok(())
            }
            Some(Node::Dir) => Ok(()),
            Some(_) => Err(ArchiveError::Duplicate { path: shown(&name) }),
        }
    }

    pub(crate) fn add_file(&mut self, name: String, f: StoredFile) -> Result<Added, ArchiveError> {
        match self.nodes.get(&name) {
            None => {
                self.files.push(f);
                self.nodes.insert(name, Node::File(self.files.len() - 1));
                Ok(Added::Kept)
            }
            Some(Node::File(i)) if self.files[*i].digest == f.digest => Ok(Added::Duplicate),
            Some(_) => Err(ArchiveError::Duplicate { path: shown(&name) }),
        }
    }

    pub(crate) fn add_symlink(&mut self, name: String, target: &[u8]) -> Result<(), ArchiveError> {
        let refuse = |reason: &str| ArchiveError::Link {
            path: shown(&name),
            reason: reason.to_string(),
        };
        let target = std::str::from_utf8(target).map_err(|_| refuse("target is not UTF-8"))?;
        if target.is_empty() || target.contains('\0') {
            return Err(refuse("empty target or target with NUL"));
        }
        if target.starts_with('/') {
            return Err(refuse("absolute target points outside the archive"));
        }
        // Climbing is checked here against the link's own directory; the
        // full walk in `resolve` catches climbs through other links.
        let mut depth = name.matches('/').count();
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." if depth == 0 => {
                    return Err(refuse("target climbs above the top of the archive"));
                }
                ".." => depth -= 1,
                _ => depth += 1,
            }
        }
        self.add_link(name, Node::Symlink(target.to_string()))
    }

    pub(crate) fn add_hardlink(&mut self, name: String, target: &[u8]) -> Result<(), ArchiveError> {
        let target = entry_path(target).map_err(|e| ArchiveError::Link {
            path: shown(&name),
            reason: format!("bad target: {e}"),
        })?;
        self.add_link(name, Node::Hardlink(target))
    }

    fn add_link(&mut self, name: String, node: Node) -> Result<(), ArchiveError> {
        if self.nodes.contains_key(&name) {
            return Err(ArchiveError::Duplicate { path: shown(&name) });
        }
        self.nodes.insert(name, node);
        Ok(())
    }

    /// Checks the namespace as a whole once every entry is in: no entry
    /// under a file or link (which would make its meaning depend on the
    /// order of extraction), and no link that loops or escapes, whether or
    /// not a manifest names it.
    pub(crate) fn check(&self) -> Result<(), ArchiveError> {
        for name in self.nodes.keys() {
            let mut prefix = name.as_str();
            while let Some(i) = prefix.rfind('/') {
                prefix = &prefix[..i];
                if matches!(self.nodes.get(prefix), Some(n) if !matches!(n, Node::Dir)) {
                    return Err(ArchiveError::UnsafePath {
                        path: shown(name),
                        reason: "lies under a file or link of the archive",
                    });
                }
            }
        }
        for (name, node) in &self.nodes {
            if !matches!(node, Node::Symlink(_) | Node::Hardlink(_)) {
                continue;
            }
            let Some(f) = self.resolve(name)? else {
                continue;
            };
            // A blob's name is a promise about its content, whichever
            // file a link leads to.
            if let Some(hex) = name.strip_prefix("blobs/sha256/")
                && f.digest.strip_prefix("sha256:") != Some(hex)
            {
                return Err(ArchiveError::DigestMismatch {
                    what: format!("blob link {}", shown(name)),
                    expected: format!("sha256:{hex}"),
                    actual: f.digest.clone(),
                });
            }
        }
        Ok(())
    }

    /// The stored file an archive path names, following links; `None` when
    /// nothing (or a directory, or a dangling link) is there.
    pub(crate) fn resolve(&self, path: &str) -> Result<Option<&StoredFile>, ArchiveError> {
        let link_err = |reason: &str| ArchiveError::Link {
            path: shown(path),
            reason: reason.to_string(),
        };
        let mut todo: VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if done.pop().is_none() {
                        return Err(link_err("resolves above the top of the archive"));
                    }
                    continue;
                }
                _ => done.push(c),
            }
            let key = done.join("/");
            let target = match self.nodes.get(&key) {
                None | Some(Node::Dir) => continue,
                Some(Node::File(i)) if todo.is_empty() => return Ok(Some(&self.files[*i])),
                Some(Node::File(_)) => return Ok(None),
                Some(Node::Symlink(t)) => {
                    done.pop();
                    t
                }
                Some(Node::Hardlink(t)) => {
                    done.clear();
                    t
                }
            };
            hops += 1;
            if hops > MAX_HOPS {
                return Err(link_err("too many levels of links (a loop?)"));
            }
            if target.starts_with('/') {
                return Err(link_err("absolute link target"));
            }
            for part in target.split('/').rev() {
                todo.push_front(part.to_string());
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ns: &mut Namespace, name: &str, digest: &str) {
        let f = StoredFile {
            path: PathBuf::from("/nonexistent"),
            digest: digest.to_string(),
            size: 0,
            name: name.to_string(),
        };
        ns.add_file(name.to_string(), f).unwrap();
    }

    #[test]
    fn links_resolve_inside_the_archive() {
        let mut ns = Namespace::default();
        file(&mut ns, "a/layer.tar", "A");
        ns.add_symlink("b/layer.tar".into(), b"../a/layer.tar")
            .unwrap();
        ns.add_hardlink("c".into(), b"b/layer.tar").unwrap();
        ns.add_symlink("d".into(), b"a").unwrap();
        ns.check().unwrap();
        for p in ["a/layer.tar", "b/layer.tar", "c", "d/layer.tar"] {
            assert_eq!(ns.resolve(p).unwrap().unwrap().digest, "A", "{p}");
        }
        assert!(ns.resolve("nothing").unwrap().is_none());
    }

    #[test]
    fn escaping_and_looping_links_are_refused() {
        let mut ns = Namespace::default();
        assert!(ns.add_symlink("x".into(), b"/etc/passwd").is_err());
        assert!(ns.add_symlink("a/x".into(), b"../../etc").is_err());
        assert!(ns.add_hardlink("h".into(), b"../h").is_err());

        let mut ns = Namespace::default();
        ns.add_symlink("p".into(), b"q").unwrap();
        ns.add_symlink("q".into(), b"p").unwrap();
        assert!(ns.check().is_err());

        // Each link stays inside on its own; together they climb out.
        let mut ns = Namespace::default();
        ns.add_symlink("d/up".into(), b"..").unwrap();
        ns.add_symlink("d/e".into(), b"up/../x").unwrap();
        assert!(ns.check().is_err());
    }

    #[test]
    fn different_content_under_one_name_is_refused() {
        let mut ns = Namespace::default();
        file(&mut ns, "f", "A");
        let same = StoredFile {
            path: PathBuf::new(),
            digest: "A".into(),
            size: 0,
            name: "f".into(),
        };
        assert!(matches!(
            ns.add_file("f".into(), same.clone()),
            Ok(Added::Duplicate)
        ));
        let other = StoredFile {
            digest: "B".into(),
            ..same
        };
        assert!(ns.add_file("f".into(), other).is_err());
        assert!(ns.add_symlink("f".into(), b"g").is_err());
    }
}
