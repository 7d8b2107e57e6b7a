//! Turning a tar entry name into checked path components.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::FsError;

/// Linux's PATH_MAX: no entry name (or hardlink target) may be longer.
pub(crate) const MAX_PATH: usize = 4096;

/// An entry name split into components, relative to the layer root.
///
/// Leading `/` and `./` are dropped, as Docker does: layers built from a
/// root filesystem often name `/etc/passwd`, and it means `<dest>/etc/passwd`.
/// Empty and `.` components vanish; a `..` anywhere is an error, even one
/// that would stay inside the layer, because no honest layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPath {
    components: Vec<OsString>,
}

impl EntryPath {
    /// `entry` is the name used in error messages.
    pub(crate) fn parse(raw: &[u8], entry: &str) -> Result<Self, FsError> {
        if raw.len() > MAX_PATH {
            return Err(FsError::PathTooLong {
                entry: entry.to_owned(),
                len: raw.len(),
            });
        }
        let mut components = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    return Err(FsError::DotDot {
                        entry: entry.to_owned(),
                    });
                }
                name => components.push(OsStr::from_bytes(name).to_owned()),
            }
        }
        Ok(Self { components })
    }

    /// The directories leading to the final component.
    pub(crate) fn parents(&self) -> &[OsString] {
        match self.components.split_last() {
            Some((_, parents)) => parents,
            None => &[],
        }
    }

    /// The final component; `None` for the layer root itself (`/`, `.`,
    /// `./`, or an empty name).
    pub(crate) fn name(&self) -> Option<&OsStr> {
        self.components.last().map(OsString::as_os_str)
    }

    /// All components, joined, relative to the root (for re-resolution).
    pub(crate) fn relative(&self) -> PathBuf {
        self.components.iter().collect()
    }

    /// The first `n` components, joined, for naming a prefix in errors.
    pub(crate) fn prefix_display(&self, n: usize) -> String {
        let prefix: PathBuf = self.components.iter().take(n).collect();
        prefix.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> Vec<String> {
        let p = EntryPath::parse(raw.as_bytes(), raw).unwrap();
        p.components
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn absolute_and_dot_prefixes_are_relative_to_root() {
        assert_eq!(parts("/etc/passwd"), ["etc", "passwd"]);
        assert_eq!(parts("./etc//x/."), ["etc", "x"]);
        assert_eq!(parts("dir/"), ["dir"]);
    }

    #[test]
    fn root_forms() {
        for raw in ["", "/", ".", "./", "//./"] {
            assert!(
                EntryPath::parse(raw.as_bytes(), raw)
                    .unwrap()
                    .name()
                    .is_none(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn dotdot_anywhere_is_refused() {
        for raw in ["..", "../x", "a/../b", "a/..", "/../etc"] {
            assert!(
                matches!(
                    EntryPath::parse(raw.as_bytes(), raw),
                    Err(FsError::DotDot { .. })
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn long_paths_are_refused() {
        let raw = "a/".repeat(2049);
        assert!(matches!(
            EntryPath::parse(raw.as_bytes(), "long"),
            Err(FsError::PathTooLong { len: 4098, .. })
        ));
    }

    #[test]
    fn parents_and_name() {
        let p = EntryPath::parse(b"a/b/c", "a/b/c").unwrap();
        assert_eq!(p.parents(), [OsString::from("a"), OsString::from("b")]);
        assert_eq!(p.name(), Some(OsStr::new("c")));
        assert_eq!(p.prefix_display(2), "a/b");
    }
}
