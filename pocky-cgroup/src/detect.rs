//! Which cgroup hierarchy the host runs, and where v1 controllers live.
//!
//! Detection looks at the filesystem type of the cgroup root, as runc and
//! youki do: a cgroup2 mount there means the unified hierarchy; a tmpfs means
//! v1 controllers mounted one (or a few) per directory beneath it, possibly
//! beside a cgroup2 mount at `unified/` (hybrid, which pocky drives as v1
//! because the controllers live in v1). The root and the mountinfo text are
//! parameters so tests can describe any host with a temporary directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, FsType, TMPFS_MAGIC, statfs};

use crate::error::{CgroupError, Result};

/// Where Linux distributions mount the cgroup hierarchies.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// The mount table of the calling process, which lists v1 controller mounts.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The host's cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// Per-controller v1 mounts (legacy or hybrid hosts).
    V1(V1Mounts),
    /// The unified hierarchy mounted at `root`.
    V2 { root: PathBuf },
}

impl Hierarchy {
    /// Detects the hierarchy of this host at [`DEFAULT_ROOT`].
    pub fn detect() -> Result<Self> {
        let mountinfo = std::fs::read_to_string(MOUNTINFO).map_err(|source| CgroupError::Read {
            path: PathBuf::from(MOUNTINFO),
            source,
        })?;
        Self::detect_at(Path::new(DEFAULT_ROOT), &mountinfo)
    }

    /// Detects the hierarchy at `root` (`statfs`), taking v1 mount points
    /// from `mountinfo` (the text of a `/proc/<pid>/mountinfo`).
    pub fn detect_at(root: &Path, mountinfo: &str) -> Result<Self> {
        let fs = statfs(root).map_err(|source| CgroupError::Detect {
            path: root.to_path_buf(),
            source,
        })?;
        Self::from_fs_type(fs.filesystem_type(), root, mountinfo)
    }

    /// The decision `detect_at` makes once it knows the root's filesystem
    /// type; apart so tests can give any type for a temporary directory.
    pub fn from_fs_type(fs: FsType, root: &Path, mountinfo: &str) -> Result<Self> {
        if fs == CGROUP2_SUPER_MAGIC {
            Ok(Self::V2 {
                root: root.to_path_buf(),
            })
        } else if fs == TMPFS_MAGIC || fs == CGROUP_SUPER_MAGIC {
            V1Mounts::from_mountinfo(root, mountinfo).map(Self::V1)
        } else {
            Err(CgroupError::UnknownHierarchy {
                path: root.to_path_buf(),
                #[allow(clippy::useless_conversion)] // the width of f_type varies by target
                magic: i64::from(fs.0),
            })
        }
    }

    /// "v1" or "v2", for messages and `inspect`.
    pub fn version(&self) -> &'static str {
        match self {
            Self::V1(_) => "v1",
            Self::V2 { .. } => "v2",
        }
    }
}

/// The mount point of each v1 controller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V1Mounts {
    controllers: BTreeMap<String, PathBuf>,
}

/// Mount options of a v1 cgroup mount that are not controller names.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "none",
];

impl V1Mounts {
    /// Collects the `cgroup` mounts under `root` from mountinfo text. A
    /// combined mount (`cpu,cpuacct`) maps each controller to the same
    /// directory; named hierarchies (`name=systemd`) are not controllers and
    /// are left alone. Where a controller is mounted twice, the first
    /// mount wins, as the later ones are usually bind mounts of it.
    pub fn from_mountinfo(root: &Path, mountinfo: &str) -> Result<Self> {
        let mut controllers = BTreeMap::new();
        for line in mountinfo.lines() {
            let Some(m) = MountLine::parse(line) else {
                continue;
            };
            if m.fstype != "cgroup" || !m.mount_point.starts_with(root) {
                continue;
            }
            for opt in m.super_options.split(',') {
                if opt.contains('=') || NOT_CONTROLLERS.contains(&opt) || opt.is_empty() {
                    continue;
                }
                controllers
                    .entry(opt.to_owned())
                    .or_insert_with(|| m.mount_point.clone());
            }
        }
        if controllers.is_empty() {
            return Err(CgroupError::NoControllers {
                path: root.to_path_buf(),
            });
        }
        Ok(Self { controllers })
    }

    /// Builds the table directly, for callers that know their mounts.
    pub fn from_pairs<I, S, P>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, P)>,
        S: Into<String>,
        P: Into<PathBuf>,
    {
        Self {
            controllers: pairs
                .into_iter()
                .map(|(c, p)| (c.into(), p.into()))
                .collect(),
        }
    }

    /// Where `controller` is mounted, if it is.
    pub fn mount(&self, controller: &str) -> Option<&Path> {
        self.controllers.get(controller).map(PathBuf::as_path)
    }

    /// Every controller and its mount point, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.controllers
            .iter()
            .map(|(c, p)| (c.as_str(), p.as_path()))
    }
}

/// The fields of one mountinfo line that detection needs.
struct MountLine {
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

impl MountLine {
    /// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`:
    /// the fifth field is the mount point; after the ` - ` separator (the
    /// optional fields before it vary in number) come the type, the
    /// source and the super options.
    fn parse(line: &str) -> Option<Self> {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let fstype = right.next()?;
        let _source = right.next()?;
        let super_options = right.next()?;
        Some(Self {
            mount_point: PathBuf::from(unescape(mount_point)),
            fstype: fstype.to_owned(),
            super_options: super_options.to_owned(),
        })
    }
}

/// Undoes the kernel's octal escapes (`\040` for a space, and tab, newline
/// and backslash likewise).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let [b'\\', x @ b'0'..=b'3', y @ b'0'..=b'7', z @ b'0'..=b'7', ..] = &b[i..] {
            out.push((x - b'0') * 64 + (y - b'0') * 8 + (z - b'0'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
