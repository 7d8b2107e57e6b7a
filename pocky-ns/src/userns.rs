//! User namespaces: the id maps the parent writes for a new one, and the
//! switch to the namespace's root that the child makes once it is in one
//! (new or joined), as runc's nsexec does.

use std::fmt::Write as _;

use nix::errno::Errno;
use nix::unistd::{Gid, Pid, Uid};

use crate::error::NsError;
use crate::spawn::ChildError;

/// One line of a `uid_map` or `gid_map`: `count` ids from `inside` in the
/// namespace are `outside` in the parent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The maps of a new user namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMaps {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
}

/// The kernel takes at most this many lines per map (since Linux 4.15).
const MAX_LINES: usize = 340;

fn map_text(map: &[IdMap]) -> String {
    let mut text = String::new();
    for m in map {
        let _ = writeln!(text, "{} {} {}", m.inside, m.outside, m.count);
    }
    text
}

impl IdMaps {
    pub(crate) fn validate(&self) -> Result<(), NsError> {
        for (what, map) in [("uid", &self.uid), ("gid", &self.gid)] {
            if map.is_empty() || map.len() > MAX_LINES {
                return Err(NsError::Config(format!(
                    "a user namespace needs 1 to {MAX_LINES} {what} mappings, not {}",
                    map.len()
                )));
            }
            if map.iter().any(|m| m.count == 0) {
                return Err(NsError::Config(format!("a {what} mapping of size 0")));
            }
            if !map.iter().any(|m| m.inside == 0) {
                return Err(NsError::Config(format!(
                    "the {what} mappings must map the container's 0 (its root)"
                )));
            }
        }
        Ok(())
    }

    /// Writes `/proc/<pid>/uid_map` and `gid_map`, each in one write as
    /// the kernel requires. A root parent may map any ids without
    /// denying setgroups first.
    pub(crate) fn write(&self, pid: Pid) -> Result<(), NsError> {
        for (file, map) in [("uid_map", &self.uid), ("gid_map", &self.gid)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map_text(map)).map_err(|source| NsError::IdMap {
                path: path.clone().into(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Becomes uid and gid 0 of the user namespace the child is now in, with
/// no supplementary groups: until then it holds the ids it came with,
/// which the namespace may not map (they then read as the overflow id).
pub(crate) fn become_root() -> Result<(), ChildError> {
    let fail = |what: &str, e: Errno| {
        ChildError::setup(
            "userns",
            e,
            format!("{what} in the user namespace: {e} (is 0 mapped?)"),
        )
    };
    let root_gid = Gid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid).map_err(|e| fail("setresgid 0", e))?;
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
    let root = Uid::from_raw(0);
    nix::unistd::setresuid(root, root, root).map_err(|e| fail("setresuid 0", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }

    #[test]
    fn maps_are_written_one_line_each() {
        assert_eq!(
            map_text(&[m(0, 100_000, 1), m(1, 200_000, 65535)]),
            "0 100000 1\n1 200000 65535\n"
        );
    }

    #[test]
    fn a_useless_map_is_refused() {
        let ok = IdMaps {
            uid: vec![m(0, 100_000, 65536)],
            gid: vec![m(0, 100_000, 65536)],
        };
        ok.validate().unwrap();
        for bad in [
            IdMaps {
                uid: vec![],
                ..ok.clone()
            },
            IdMaps {
                gid: vec![m(1, 100_000, 10)],
                ..ok.clone()
            },
            IdMaps {
                uid: vec![m(0, 100_000, 0)],
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
