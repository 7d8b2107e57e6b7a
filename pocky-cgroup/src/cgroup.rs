//! The version-independent handle: an enum over the two backends.

use std::path::{Path, PathBuf};

use crate::CgroupManager;
use crate::detect::Hierarchy;
use crate::devices::DeviceRule;
use crate::error::Result;
use crate::limits::Limits;
use crate::path::CgroupPath;
use crate::stats::Stats;
use crate::v1::V1Cgroup;
use crate::v2::V2Cgroup;

/// One container's cgroup on whichever hierarchy the host runs.
#[derive(Clone, Debug)]
pub enum Cgroup {
    V1(V1Cgroup),
    V2(V2Cgroup),
}

impl Cgroup {
    /// A handle on `path` (`pocky/<id>` or `/pocky/<id>`) in `hierarchy`.
    /// Touches nothing: use it both to make a new cgroup (then
    /// [`CgroupManager::create`]) and to reach an existing one from a later
    /// command (`stop`, `rm`).
    pub fn new(hierarchy: &Hierarchy, path: impl AsRef<Path>) -> Result<Self> {
        let path = CgroupPath::new(path)?;
        Ok(match hierarchy {
            Hierarchy::V1(mounts) => Self::V1(V1Cgroup::new(mounts.clone(), path)),
            Hierarchy::V2 { root } => Self::V2(V2Cgroup::new(root.clone(), path)),
        })
    }

    /// [`Cgroup::new`] on this host's detected hierarchy.
    pub fn detect(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(&Hierarchy::detect()?, path)
    }

    /// The cgroup's path relative to the hierarchy root.
    pub fn path(&self) -> &CgroupPath {
        match self {
            Self::V1(c) => c.path(),
            Self::V2(c) => c.path(),
        }
    }

    /// "v1" or "v2".
    pub fn version(&self) -> &'static str {
        match self {
            Self::V1(_) => "v1",
            Self::V2(_) => "v2",
        }
    }

    /// Every directory that makes up the cgroup (one on v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Self::V1(c) => c.dirs(),
            Self::V2(c) => vec![c.dir()],
        }
    }

    /// Whether the freezer holds the cgroup's tasks (`pause`): v1's
    /// `freezer.state` says FROZEN, or v2's `cgroup.freeze` is 1. A cgroup
    /// that is gone is not frozen.
    pub fn is_frozen(&self) -> bool {
        self.dirs().iter().any(|d| {
            let v1 = std::fs::read_to_string(d.join("freezer.state"));
            let v2 = std::fs::read_to_string(d.join("cgroup.freeze"));
            v1.is_ok_and(|s| s.trim() == "FROZEN") || v2.is_ok_and(|s| s.trim() == "1")
        })
    }
}

/// Forwards a trait method to the backend in use.
macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            Cgroup::V1($c) => $call,
            Cgroup::V2($c) => $call,
        }
    };
}

impl CgroupManager for Cgroup {
    fn create(&self) -> Result<()> {
        dispatch!(self, c => c.create())
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        dispatch!(self, c => c.add_task(pid))
    }
    fn apply(&self, limits: &Limits) -> Result<()> {
        dispatch!(self, c => c.apply(limits))
    }
    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        dispatch!(self, c => c.apply_devices(rules))
    }
    fn stats(&self) -> Result<Stats> {
        dispatch!(self, c => c.stats())
    }
    fn pids(&self) -> Result<Vec<i32>> {
        dispatch!(self, c => c.pids())
    }
    fn freeze(&self) -> Result<()> {
        dispatch!(self, c => c.freeze())
    }
    fn thaw(&self) -> Result<()> {
        dispatch!(self, c => c.thaw())
    }
    fn kill_all(&self) -> Result<()> {
        dispatch!(self, c => c.kill_all())
    }
    fn remove(&self) -> Result<()> {
        dispatch!(self, c => c.remove())
    }
}

#[cfg(test)]
mod tests;
