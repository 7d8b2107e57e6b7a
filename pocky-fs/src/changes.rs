//! What a container changed: its overlay upper directory read against the
//! image's layers (`pocky diff`, and the base for `commit` and `build`).
//!
//! overlayfs records a deletion as a character device 0:0 (a whiteout) and
//! a directory whose lower contents are hidden with the
//! `trusted.overlay.opaque=y` xattr. Anything else in the upper directory
//! was added, or modified when a lower layer has that path (a copied-up
//! parent directory counts as modified, as in Docker). Entries are read with
//! `lstat` and never followed, so a symlink in the upper directory cannot
//! lead the walk outside it.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::FsError;
use crate::rootfs::Lower;

/// Docker's change kinds, with its API numbers (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Absolute inside the container, e.g. `/etc/passwd`.
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// The changes in `upper` over `lowers` (top-most first), sorted by path.
/// `skip` names container paths left out with what is below them (mount
/// points the runtime made, which are not the user's changes).
pub fn changes(upper: &Path, lowers: &[Lower], skip: &[PathBuf]) -> Result<Vec<Change>, FsError> {
    let mut views = Vec::with_capacity(lowers.len());
    for lower in lowers {
        views.push(View::open(lower)?);
    }
    let mut out = Vec::new();
    walk(upper, Path::new(""), &views, skip, &mut out)?;
    out.sort();
    Ok(out)
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
    let entry = path.display().to_string();
    move |source| FsError::Io { op, entry, source }
}

/// Walks one directory; returns whether it held a skipped entry.
fn walk(
    upper: &Path,
    rel: &Path,
    lowers: &[View],
    skip: &[PathBuf],
    out: &mut Vec<Change>,
) -> Result<bool, FsError> {
    let dir = upper.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(io("reading", &dir))?
        .collect::<Result<_, _>>()
        .map_err(io("reading", &dir))?;
    entries.sort_by_key(|e| e.file_name());
    let mut skipped = false;
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let shown = Path::new("/").join(&rel);
        if skip.contains(&shown) {
            skipped = true;
            continue;
        }
        let path = upper.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(io("reading", &path))?;
        if is_whiteout(&meta) {
            out.push(Change {
                path: shown,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let kind = match in_lowers(&rel, lowers) {
            true => ChangeKind::Modified,
            false => ChangeKind::Added,
        };
        let at = out.len();
        out.push(Change { path: shown, kind });
        if meta.is_dir() {
            // Below an opaque directory no lower entry shows through.
            let below: &[View] = if is_opaque(&path) { &[] } else { lowers };
            let held_skipped = walk(upper, &rel, below, skip, out)?;
            // A directory copied up only to hold a mount point (/etc for
            // /etc/hosts) is the runtime's doing, not a change.
            if held_skipped && kind == ChangeKind::Modified && out.len() == at + 1 {
                out.pop();
            }
        }
    }
    Ok(skipped)
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    get_xattr(dir, c"trusted.overlay.opaque").is_some_and(|v| v == b"y")
}

/// What a lower layer says about one path.
struct Probe {
    whiteout: bool,
    dir: bool,
    opaque: bool,
}

/// A lower layer, read without mounting it.
enum View {
    Dir(PathBuf),
    Erofs(Box<pocky_erofs::Image<fs::File>>),
}

impl View {
    fn open(lower: &Lower) -> Result<View, FsError> {
        Ok(match lower {
            Lower::Dir(p) => View::Dir(p.clone()),
            Lower::Erofs(p) => {
                let file = fs::File::open(p).map_err(io("opening", p))?;
                let image =
                    pocky_erofs::Image::open(Box::new(file)).map_err(|source| FsError::Erofs {
                        entry: p.display().to_string(),
                        source,
                    })?;
                View::Erofs(Box::new(image))
            }
        })
    }

    /// `None` when the layer has nothing at `rel` (or cannot be read).
    fn probe(&self, rel: &Path) -> Option<Probe> {
        match self {
            View::Dir(lower) => {
                let p = lower.join(rel);
                let m = fs::symlink_metadata(&p).ok()?;
                Some(Probe {
                    whiteout: is_whiteout(&m),
                    dir: m.is_dir(),
                    opaque: m.is_dir() && is_opaque(&p),
                })
            }
            View::Erofs(image) => {
                let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
                let node = image.lookup(&parts).ok()??;
                let mode = node.mode() & pocky_erofs::format::S_IFMT;
                let opaque = node.is_dir()
                    && image.xattrs(&node).ok()?.iter().any(|(k, v)| {
                        k.as_slice() == b"trusted.overlay.opaque" && v.as_slice() == b"y"
                    });
                Some(Probe {
                    whiteout: mode == pocky_erofs::format::S_IFCHR && node.inode.raw == 0,
                    dir: node.is_dir(),
                    opaque,
                })
            }
        }
    }
}

/// Whether the merged lower layers have `rel`: the top-most layer that
/// says anything about it decides (a whiteout or an opaque parent hides
/// what is below).
fn in_lowers(rel: &Path, lowers: &[View]) -> bool {
    for lower in lowers {
        if let Some(p) = lower.probe(rel) {
            return !p.whiteout;
        }
        let hidden = rel
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| {
                lower
                    .probe(a)
                    .is_some_and(|p| p.whiteout || !p.dir || p.opaque)
            });
        if hidden {
            return false;
        }
    }
    false
}

/// One xattr of `path` itself (not a symlink's target); None when unset
/// or unreadable.
fn get_xattr(path: &Path, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: both strings are NUL-terminated and `buf` is valid for
    // `buf.len()` bytes; the kernel writes at most that many.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    usize::try_from(n).ok().map(|n| buf[..n].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(root: &Path, rel: &str, dir: bool) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        if dir {
            fs::create_dir_all(p).unwrap();
        } else {
            fs::write(p, b"x").unwrap();
        }
    }

    fn whiteout(root: &Path, rel: &str) -> bool {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .is_ok()
    }

    #[test]
    fn added_modified_deleted_against_the_layers() {
        let t = tempfile::tempdir().unwrap();
        let (upper, low1, low2) = (t.path().join("u"), t.path().join("l1"), t.path().join("l2"));
        mk(&low2, "etc/passwd", false);
        mk(&low2, "etc/gone", false);
        mk(&low2, "bin/sh", false);
        mk(&low1, "usr/share", true);
        mk(&upper, "etc/passwd", false);
        mk(&upper, "etc/new", false);
        mk(&upper, "srv/data/file", false);
        mk(&upper, "run/secrets/x", false);
        mk(&low2, "mnt", true);
        mk(&upper, "mnt/point", true);
        if !whiteout(&upper, "etc/gone") {
            // mknod needs CAP_MKNOD: the walk is still checked without it.
            fs::write(upper.join("etc/gone"), b"").unwrap();
            fs::remove_file(upper.join("etc/gone")).unwrap();
        }
        let lowers = [Lower::Dir(low1), Lower::Dir(low2)];
        let skip = [PathBuf::from("/run/secrets"), PathBuf::from("/mnt/point")];
        let got = changes(&upper, &lowers, &skip).unwrap();
        let text: Vec<String> = got
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path.display()))
            .collect();
        let mut want = vec![
            "C /etc",
            "A /etc/new",
            "C /etc/passwd",
            "A /run",
            "A /srv",
            "A /srv/data",
            "A /srv/data/file",
        ];
        if upper.join("etc/gone").exists() || fs::symlink_metadata(upper.join("etc/gone")).is_ok() {
            want.insert(1, "D /etc/gone");
        }
        assert_eq!(text, want);
    }

    #[test]
    fn a_lower_whiteout_hides_what_is_below_it() {
        let t = tempfile::tempdir().unwrap();
        let (upper, low1, low2) = (t.path().join("u"), t.path().join("l1"), t.path().join("l2"));
        mk(&low2, "opt/tool", false);
        mk(&low1, "x", false);
        // In l1, /opt is replaced by a file: l2's /opt/tool is gone.
        mk(&low1, "opt", false);
        fs::create_dir_all(&upper).unwrap();
        let views = [View::Dir(low1), View::Dir(low2)];
        assert!(!in_lowers(Path::new("opt/tool"), &views));
        assert!(in_lowers(Path::new("opt"), &views));
    }
}
