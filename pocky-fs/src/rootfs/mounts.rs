//! The spec's `mounts`, each put on a destination resolved inside the rootfs.
//!
//! The destination is opened with `RESOLVE_IN_ROOT` (created if missing)
//! and the mount goes onto `/proc/self/fd/N` of that fd, so whatever the
//! image's symlinks say, the mount lands on the inode inside the rootfs that
//! the kernel resolved. Follow-up calls (a bind's read-only remount,
//! propagation) re-resolve the destination the same way, so they act on the
//! new mount rather than the directory under it.

use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Mount;

use super::cgroup::mount_cgroup;
use super::options::MountOptions;
use super::resolve::{CreateKind, create_in_root, fd_path, open_in_root};
use crate::FsError;

/// Where and what one mount call acts on, for error messages.
pub(crate) struct Target<'a> {
    pub fstype: &'a str,
    pub from: &'a str,
    pub destination: &'a Path,
}

impl Target<'_> {
    pub(crate) fn error(&self, errno: nix::errno::Errno) -> FsError {
        FsError::Mount {
            fstype: self.fstype.to_owned(),
            from: self.from.to_owned(),
            destination: self.destination.to_path_buf(),
            source: io::Error::from(errno),
        }
    }
}

/// Performs one spec mount inside the rootfs open at `root`. Relative bind
/// sources are relative to `bundle`, as the runtime spec allows.
/// `cgroup_dirs` are the container's own cgroup directories on the host,
/// for a `cgroup` mount that must bind them (see [`mount_cgroup`]).
pub(crate) fn mount_in_root(
    root: &std::os::fd::OwnedFd,
    m: &Mount,
    bundle: &Path,
    cgroup_dirs: &[PathBuf],
) -> Result<(), FsError> {
    let typ = m.typ().as_deref().unwrap_or("none");
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let destination = m.destination();
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let from = source.to_string_lossy();
    let target = Target {
        fstype: typ,
        from: &from,
        destination,
    };

    if opts.bind || typ == "bind" {
        bind_mount(root, &bundle.join(&source), &opts, &target)?;
    } else if typ == "cgroup" {
        mount_cgroup(root, &opts, &target, cgroup_dirs)?;
    } else {
        let dest = create_in_root(root, destination, CreateKind::Dir)?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        match mount(
            Some(source.as_path()),
            &fd_path(&dest),
            Some(typ),
            opts.flags,
            data,
        ) {
            Ok(()) => {}
            // A user namespace may mount sysfs only with a network
            // namespace of its own; without one (a rootless container on
            // the host's network) the host's is bound, as runc does.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
                let host = MountOptions {
                    flags: opts.flags | MsFlags::MS_REC,
                    ..opts.clone()
                };
                drop(dest);
                bind_mount(root, Path::new("/sys"), &host, &target)?;
            }
            Err(e) => return Err(target.error(e)),
        }
    }

    for propagation in &opts.propagation {
        let dest = open_in_root(root, destination, OFlag::empty())?;
        mount(
            None::<&str>,
            &fd_path(&dest),
            None::<&str>,
            *propagation,
            None::<&str>,
        )
        .map_err(|e| target.error(e))?;
    }
    Ok(())
}

fn bind_mount(
    root: &std::os::fd::OwnedFd,
    source: &Path,
    opts: &MountOptions,
    target: &Target<'_>,
) -> Result<(), FsError> {
    // The source is the engine's (a volume, a per-container /etc file), so
    // following its symlinks on the host is intended.
    let meta = std::fs::metadata(source).map_err(|e| FsError::Mount {
        fstype: target.fstype.to_owned(),
        from: target.from.to_owned(),
        destination: target.destination.to_path_buf(),
        source: e,
    })?;
    let kind = if meta.is_dir() {
        CreateKind::Dir
    } else {
        CreateKind::File
    };
    let dest = create_in_root(root, target.destination, kind)?;
    let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    mount(
        Some(source),
        &fd_path(&dest),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(|e| target.error(e))?;

    let remount = opts.bind_remount_flags();
    if !remount.is_empty() {
        remount_bind(root, target, remount)?;
    }
    Ok(())
}

/// Applies per-mount flags (read-only, nosuid...) to the mount now on top
/// of `target.destination`; a bind mount ignores them on creation.
pub(crate) fn remount_bind(
    root: &std::os::fd::OwnedFd,
    target: &Target<'_>,
    flags: MsFlags,
) -> Result<(), FsError> {
    let dest = open_in_root(root, target.destination, OFlag::empty())?;
    mount(
        None::<&str>,
        &fd_path(&dest),
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .map_err(|e| target.error(e))
}
