//! The cgroups a process is in, for runc's reading of a relative
//! `cgroupsPath`: below the cgroup of the runtime itself, per controller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::detect::{Hierarchy, V1Mounts};
use crate::error::{CgroupError, Result};

/// The parsed `/proc/<pid>/cgroup` of one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCgroups {
    /// v1 controller -> path below that controller's root.
    v1: BTreeMap<String, PathBuf>,
    /// The path in the unified hierarchy (the `0::` line).
    v2: Option<PathBuf>,
}

impl ProcCgroups {
    /// `4:memory:/a/b` lines; `cpu,cpuacct` give both controllers the
    /// path, named hierarchies (`name=systemd`) are not controllers.
    pub fn parse(text: &str) -> Self {
        let mut own = Self::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let path = PathBuf::from(path);
            if id == "0" && controllers.is_empty() {
                own.v2 = Some(path);
                continue;
            }
            for c in controllers.split(',').filter(|c| !c.contains('=')) {
                own.v1.insert(c.to_owned(), path.clone());
            }
        }
        own
    }

    /// The calling process's cgroups.
    pub fn of_self() -> Result<Self> {
        let path = Path::new("/proc/self/cgroup");
        std::fs::read_to_string(path)
            .map(|t| Self::parse(&t))
            .map_err(|source| CgroupError::Read {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// `mount` moved down to `own` (absolute in the hierarchy, as the kernel
/// prints it); a `..` in it is ignored rather than followed.
fn below(mount: &Path, own: Option<&PathBuf>) -> PathBuf {
    let mut p = mount.to_path_buf();
    for c in own.into_iter().flat_map(|o| o.components()) {
        if let std::path::Component::Normal(part) = c {
            p.push(part);
        }
    }
    p
}

impl Hierarchy {
    /// This hierarchy with each root moved down to the cgroup `own` is
    /// in, so that a cgroup path made on it is relative to the process
    /// (runc's meaning of a `cgroupsPath` without a leading `/`).
    pub fn below(&self, own: &ProcCgroups) -> Hierarchy {
        match self {
            Self::V1(mounts) => Self::V1(V1Mounts::from_pairs(
                mounts
                    .iter()
                    .map(|(c, m)| (c.to_owned(), below(m, own.v1.get(c)))),
            )),
            Self::V2 { root } => Self::V2 {
                root: below(root, own.v2.as_ref()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n\
                          1:cpu,cpuacct:/user.slice\n0::/\n";

    #[test]
    fn parses_v1_controllers_and_the_unified_line() {
        let own = ProcCgroups::parse(HYBRID);
        assert_eq!(own.v1["memory"], PathBuf::from("/process_api/abc"));
        assert_eq!(own.v1["cpuacct"], PathBuf::from("/user.slice"));
        assert!(!own.v1.contains_key("name=systemd"));
        assert_eq!(own.v2, Some(PathBuf::from("/")));
    }

    #[test]
    fn v1_roots_move_down_per_controller() {
        let mounts = V1Mounts::from_pairs([
            ("memory", "/sys/fs/cgroup/memory"),
            ("pids", "/sys/fs/cgroup/pids"),
            ("cpu", "/sys/fs/cgroup/cpu,cpuacct"),
            ("freezer", "/sys/fs/cgroup/freezer"),
        ]);
        let Hierarchy::V1(m) = Hierarchy::V1(mounts).below(&ProcCgroups::parse(HYBRID)) else {
            panic!()
        };
        assert_eq!(
            m.mount("memory"),
            Some(Path::new("/sys/fs/cgroup/memory/process_api/abc"))
        );
        assert_eq!(m.mount("pids"), Some(Path::new("/sys/fs/cgroup/pids")));
        assert_eq!(
            m.mount("cpu"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice"))
        );
        // A controller the process's file does not list stays at its root.
        assert_eq!(
            m.mount("freezer"),
            Some(Path::new("/sys/fs/cgroup/freezer"))
        );
    }

    #[test]
    fn v2_root_moves_down_and_dotdot_is_not_followed() {
        let h = Hierarchy::V2 {
            root: PathBuf::from("/sys/fs/cgroup"),
        };
        let own = ProcCgroups::parse("0::/system.slice/../x.service\n");
        assert_eq!(
            h.below(&own),
            Hierarchy::V2 {
                root: PathBuf::from("/sys/fs/cgroup/system.slice/x.service")
            }
        );
    }
}
