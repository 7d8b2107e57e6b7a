//! A spec mount of type `cgroup`: there is no such filesystem, so, as runc
//! does, pocky mounts what the host has at `/sys/fs/cgroup`.
//!
//! On a cgroup v2 host that is one `cgroup2` mount. On a v1 or hybrid host it
//! is a tmpfs holding one mount per hierarchy, each made with the host's
//! super options (`cpu`, `name=systemd`...) so it attaches to the existing
//! hierarchy. Without a cgroup namespace the container sees the hierarchies
//! from their roots; the default mount is read-only, so it can look but not
//! move itself. In a user namespace the kernel refuses v1 mounts: there, as
//! runc always does on v1, the container's own cgroup directory of each
//! hierarchy is bound instead (hierarchies it has none in stay empty).

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::mounts::{Target, remount_bind};
use super::options::MountOptions;
use super::resolve::{CreateKind, create_in_root, fd_path};
use crate::FsError;

const HOST_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One hierarchy mounted under the host's `/sys/fs/cgroup`.
#[derive(Debug, PartialEq, Eq)]
struct Hierarchy {
    /// Its directory name under `/sys/fs/cgroup` (`cpu`, `unified`...).
    name: String,
    fstype: String,
    /// Super options without `rw`/`ro`, e.g. `cpu` or `name=systemd`.
    data: String,
}

pub(crate) fn mount_cgroup(
    root: &std::os::fd::OwnedFd,
    opts: &MountOptions,
    target: &Target<'_>,
    cgroup_dirs: &[PathBuf],
) -> Result<(), FsError> {
    let v2 = statfs(HOST_CGROUP_ROOT).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    let dest = create_in_root(root, target.destination, CreateKind::Dir)?;
    if v2 {
        return mount(
            Some("cgroup2"),
            &fd_path(&dest),
            Some("cgroup2"),
            opts.flags,
            None::<&str>,
        )
        .map_err(|e| target.error(e));
    }

    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| FsError::Rootfs {
            op: "read",
            path: PathBuf::from("/proc/self/mountinfo"),
            source: e,
        })?;
    // The tmpfs stays writable until its mount points exist.
    mount(
        Some("tmpfs"),
        &fd_path(&dest),
        Some("tmpfs"),
        opts.flags & !MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .map_err(|e| target.error(e))?;
    for h in host_hierarchies(&mountinfo) {
        let sub = target.destination.join(&h.name);
        let sub_target = Target {
            fstype: &h.fstype,
            from: &h.data,
            destination: &sub,
        };
        let fd = create_in_root(root, &sub, CreateKind::Dir)?;
        let data = (!h.data.is_empty()).then_some(h.data.as_str());
        match mount(
            Some(h.fstype.as_str()),
            &fd_path(&fd),
            Some(h.fstype.as_str()),
            opts.flags,
            data,
        ) {
            Ok(()) => {}
            Err(Errno::EPERM) => {
                let host = Path::new(HOST_CGROUP_ROOT).join(&h.name);
                let Some(own) = cgroup_dirs.iter().find(|d| d.starts_with(&host)) else {
                    continue;
                };
                let bind = Target {
                    fstype: "bind",
                    from: &own.to_string_lossy(),
                    destination: &sub,
                };
                mount(
                    Some(own.as_path()),
                    &fd_path(&fd),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| bind.error(e))?;
                remount_bind(root, &bind, opts.bind_remount_flags())?;
            }
            Err(e) => return Err(sub_target.error(e)),
        }
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(root, target, opts.bind_remount_flags())?;
    }
    Ok(())
}

/// The cgroup hierarchies mounted directly under `/sys/fs/cgroup`.
fn host_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let super_opts = right.nth(1).unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let name = Path::new(mount_point)
                .strip_prefix(HOST_CGROUP_ROOT)
                .ok()?
                .to_str()?;
            if name.is_empty() || name.contains('/') {
                return None;
            }
            let data = if fstype == "cgroup2" {
                // cgroup2 options (nsdelegate...) are the hierarchy's own.
                String::new()
            } else {
                super_opts
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro")
                    .collect::<Vec<_>>()
                    .join(",")
            };
            Some(Hierarchy {
                name: name.to_owned(),
                fstype: fstype.to_owned(),
                data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_hierarchies_come_with_their_super_options() {
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 41 0:38 /x /sys/fs/cgroup/unified/x rw,relatime - cgroup2 cgroup2 rw
43 1 0:39 / /mnt/cpu rw,relatime - cgroup cgroup rw,cpu
";
        let h = host_hierarchies(info);
        let names: Vec<_> = h
            .iter()
            .map(|h| (h.name.as_str(), h.fstype.as_str(), h.data.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("cpu", "cgroup", "cpu"),
                ("systemd", "cgroup", "xattr,name=systemd"),
                ("unified", "cgroup2", ""),
            ]
        );
    }
}
