//! The container's place in the hierarchy, checked once so that no later
//! `join` can walk out of the cgroup mount.

use std::path::{Component, Path, PathBuf};

use crate::error::{CgroupError, Result};

/// A cgroup path below the hierarchy root, such as `pocky/<id>`.
///
/// The OCI spec's `cgroupsPath` may be absolute (`/pocky/<id>`: relative to
/// the cgroup mount point) or relative (the runtime picks the base). pocky
/// takes both relative to the mount point of each hierarchy, as Docker's
/// cgroupfs driver does with `--cgroup-parent`, so the two spellings name the
/// same cgroup. `..` and `.` are refused: the path comes from a spec file
/// and must not reach a sibling's cgroup or the root itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CgroupPath(PathBuf);

impl CgroupPath {
    /// Checks and normalises `path` (leading `/` and repeated `/` dropped).
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        let raw = path.as_ref();
        let invalid = |reason| CgroupError::InvalidPath {
            path: raw.display().to_string(),
            reason,
        };
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::RootDir => {}
                Component::Normal(part) => out.push(part),
                Component::CurDir | Component::ParentDir => {
                    return Err(invalid("`.` and `..` are not allowed"));
                }
                Component::Prefix(_) => return Err(invalid("unexpected prefix")),
            }
        }
        if out.as_os_str().is_empty() {
            return Err(invalid("the hierarchy root cannot be a container's cgroup"));
        }
        Ok(Self(out))
    }

    /// The relative form, ready to `join` onto a mount point.
    pub fn as_relative(&self) -> &Path {
        &self.0
    }

    /// The directory of this cgroup under `mount`.
    pub fn under(&self, mount: &Path) -> PathBuf {
        mount.join(&self.0)
    }

    /// The ancestors strictly between `mount` and this cgroup, outermost
    /// first (for `pocky/abc` under `/m`: `[/m/pocky]`).
    pub fn ancestors_under(&self, mount: &Path) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .0
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| mount.join(p))
            .collect();
        dirs.reverse();
        dirs
    }
}

impl std::fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}", self.0.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_name_the_same_cgroup() {
        let a = CgroupPath::new("/pocky/abc").unwrap();
        let b = CgroupPath::new("pocky//abc/").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_relative(), Path::new("pocky/abc"));
        assert_eq!(a.to_string(), "/pocky/abc");
    }

    #[test]
    fn escapes_and_root_are_refused() {
        for bad in ["", "/", "../x", "pocky/../../etc", "./x"] {
            assert!(CgroupPath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ancestors_are_outermost_first_and_exclude_leaf() {
        let p = CgroupPath::new("a/b/c").unwrap();
        assert_eq!(
            p.ancestors_under(Path::new("/m")),
            vec![PathBuf::from("/m/a"), PathBuf::from("/m/a/b")]
        );
        assert!(
            CgroupPath::new("leaf")
                .unwrap()
                .ancestors_under(Path::new("/m"))
                .is_empty()
        );
    }
}
