//! Building and entering a container's root filesystem from an OCI spec.
//!
//! Runs in the container's first process, inside its new mount namespace,
//! before exec: [`prepare_rootfs`] mounts the rootfs and the spec's mounts
//! and makes `/dev`; [`enter_rootfs`] pivots into it; [`setup_rootfs`] does
//! both. Every path from the spec or image is resolved inside the rootfs by
//! the kernel ([`open_in_root`]), so no symlink in an image can carry a
//! mount or a device node onto the host.

mod cgroup;
mod defaults;
mod devices;
mod etc_files;
mod fsmount;
mod masking;
mod mounts;
mod options;
mod overlay;
mod pivot;
mod resolve;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, fstatat};
use oci_spec::runtime::Spec;

pub use defaults::default_mounts;
pub use etc_files::{host_resolv_conf, hosts_file, resolv_conf};
pub use fsmount::{mount_erofs, probe_erofs};
pub use masking::{default_masked_paths, default_readonly_paths};
pub use overlay::{Lower, Overlay, mount_overlay, mount_overlay_ro, share_layer_images};
pub use pivot::enter_rootfs;

pub use resolve::{CreateKind, create_in_root, open_in_root};

use crate::FsError;

/// `linux.rootfsPropagation` as mount flags; `None` when the spec has
/// none, which means runc's default: `rslave`, so mounts made on the host
/// later reach the container's bind mounts and nothing flows back.
fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>, FsError> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    options::propagation_of(p)
        .map(Some)
        .ok_or_else(|| FsError::UnsafeRootfs {
            path: PathBuf::from(p),
            reason: "is not a rootfsPropagation (use shared, slave, private or unbindable, \
                     with or without r)",
        })
}

/// Makes the mount that holds `path` private (not recursive).
fn make_parent_private(path: &Path) -> Result<(), FsError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| FsError::Rootfs {
            op: "read",
            path: PathBuf::from("/proc/self/mountinfo"),
            source,
        })?;
    let parent = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(Path::new)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.components().count())
        .unwrap_or(Path::new("/"));
    mount(
        None::<&str>,
        parent,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| rootfs_error("make parent mount private", parent, e))
}

/// After the pivot, `/` gets the asked propagation itself (as runc does:
/// before, a shared `/` would have carried it to the host's namespace).
fn apply_root_propagation(spec: &Spec) -> Result<(), FsError> {
    match root_propagation(spec)? {
        Some(p) if !p.contains(MsFlags::MS_PRIVATE) => {
            mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
                .map_err(|e| rootfs_error("set root propagation", Path::new("/"), e))
        }
        _ => Ok(()),
    }
}

/// Top-level directories that get kernel filesystems mounted on them; an
/// image may not make them symlinks (or anything but directories).
const SPECIAL_DIRS: [&str; 3] = ["proc", "sys", "dev"];

fn rootfs_error(op: &'static str, path: &Path, errno: Errno) -> FsError {
    FsError::Rootfs {
        op,
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

/// Builds the container's rootfs and enters it: [`prepare_rootfs`] then
/// [`enter_rootfs`] (read-only `/` when `spec.root.readonly`).
pub fn setup_rootfs(spec: &Spec, bundle: &Path, overlay: Option<&Overlay>) -> Result<(), FsError> {
    let root = prepare_rootfs(spec, bundle, overlay)?;
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    enter_rootfs(&root, readonly)?;
    apply_root_propagation(spec)
}

/// Prepares the rootfs without entering it; returns its path (a mount
/// point). In order:
///
/// 1. gives every mount `linux.rootfsPropagation` (default rslave),
///    recursively, so nothing propagates back to the host unless the spec
///    asks for shared;
/// 2. mounts `overlay` on `root.path` (relative to `bundle`), or else binds
///    `root.path` onto itself, since pivot_root needs a mount point;
/// 3. refuses a rootfs whose `/proc`, `/sys` or `/dev` is a symlink or not a
///    directory;
/// 4. performs the spec's mounts in order, each destination resolved inside
///    the rootfs;
/// 5. unless the spec binds `/dev`, creates the devices (the spec's plus
///    Docker's defaults) and the standard `/dev` links;
/// 6. makes `linux.readonlyPaths` read-only, then masks `linux.maskedPaths`.
///
/// Mounts go onto `/proc/self/fd/N` of fds resolved in the rootfs, so the
/// host's `/proc` must be mounted (it is, before the pivot).
pub fn prepare_rootfs(
    spec: &Spec,
    bundle: &Path,
    overlay: Option<&Overlay>,
) -> Result<PathBuf, FsError> {
    let prepared = prepare(spec, bundle, overlay, false)?;
    Ok(prepared.root)
}

/// A rootfs prepared but for its cgroup mounts, which must wait until the
/// process is in its cgroup namespace (a cgroup filesystem mounted before
/// shows the host's hierarchy from its root).
#[derive(Debug)]
pub struct Prepared {
    root: PathBuf,
    deferred: Vec<oci_spec::runtime::Mount>,
    cgroup_dirs: Vec<PathBuf>,
}

impl Prepared {
    /// The container's cgroup directories on the host. A `cgroup` mount
    /// binds them where it may not mount a v1 hierarchy (in a user
    /// namespace), as runc does.
    pub fn set_cgroup_dirs(&mut self, dirs: Vec<PathBuf>) {
        self.cgroup_dirs = dirs;
    }
}

/// [`prepare_rootfs`] without the spec's cgroup mounts: the slow part of a
/// container's start can then run before the process joins its cgroup.
/// Finish with [`finish_rootfs`].
pub fn prepare_rootfs_early(
    spec: &Spec,
    bundle: &Path,
    overlay: Option<&Overlay>,
) -> Result<Prepared, FsError> {
    prepare(spec, bundle, overlay, true)
}

/// Performs the cgroup mounts [`prepare_rootfs_early`] left, then
/// [`enter_rootfs`].
pub fn finish_rootfs(prepared: Prepared, spec: &Spec, bundle: &Path) -> Result<(), FsError> {
    if !prepared.deferred.is_empty() {
        let root = open(
            &prepared.root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| rootfs_error("open", &prepared.root, e))?;
        for m in &prepared.deferred {
            mounts::mount_in_root(&root, m, bundle, &prepared.cgroup_dirs)?;
        }
    }
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    enter_rootfs(&prepared.root, readonly)?;
    apply_root_propagation(spec)
}

fn prepare(
    spec: &Spec,
    bundle: &Path,
    overlay: Option<&Overlay>,
    defer_cgroup: bool,
) -> Result<Prepared, FsError> {
    let propagation = root_propagation(spec)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        propagation.unwrap_or(MsFlags::MS_REC | MsFlags::MS_SLAVE),
        None::<&str>,
    )
    .map_err(|e| rootfs_error("set mount propagation", Path::new("/"), e))?;

    let root_path = spec
        .root()
        .as_ref()
        .map(|r| bundle.join(r.path()))
        .ok_or_else(|| FsError::UnsafeRootfs {
            path: bundle.to_path_buf(),
            reason: "has a spec without root.path",
        })?;
    if propagation.is_some_and(|p| p.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE)) {
        // A shared parent would carry the rootfs mount (and pivot_root
        // refuses it); an unbindable one refuses the rootfs's bind. Only
        // the rootfs's own parent is made private; `/` gets the asked
        // propagation back after the pivot.
        make_parent_private(&root_path)?;
    }
    match overlay {
        Some(o) => mount_overlay(o, &root_path)?,
        None => mount(
            Some(&root_path),
            &root_path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| rootfs_error("bind rootfs onto itself", &root_path, e))?,
    }

    // Opened after the mount, so the fd is the mount's root.
    let root = open(
        &root_path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| rootfs_error("open", &root_path, e))?;
    check_special_dirs(&root)?;

    let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut deferred = Vec::new();
    for m in spec_mounts {
        if defer_cgroup && m.typ().as_deref() == Some("cgroup") {
            deferred.push(m.clone());
            continue;
        }
        mounts::mount_in_root(&root, m, bundle, &[])?;
    }

    let dev_is_bound = spec_mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_is_bound {
        let spec_devices = spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_deref())
            .unwrap_or_default();
        devices::create_devices(&root, &devices::device_list(spec_devices))?;
    }
    if let Some(linux) = spec.linux() {
        masking::make_readonly(&root, linux.readonly_paths().as_deref().unwrap_or_default())?;
        masking::mask(&root, linux.masked_paths().as_deref().unwrap_or_default())?;
    }
    Ok(Prepared {
        root: root_path,
        deferred,
        cgroup_dirs: Vec::new(),
    })
}

/// `/proc`, `/sys` and `/dev` must be real directories (or absent): a
/// symlink there is the classic way to aim a kernel filesystem mount at a
/// path of the image's choosing.
fn check_special_dirs(root: &OwnedFd) -> Result<(), FsError> {
    for name in SPECIAL_DIRS {
        let path = Path::new("/").join(name);
        let st = match fstatat(root.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(rootfs_error("stat", &path, e)),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFLNK {
            return Err(FsError::UnsafeRootfs {
                path,
                reason: "is a symlink in the image; pocky mounts only on a real directory there",
            });
        }
        if kind != SFlag::S_IFDIR {
            return Err(FsError::UnsafeRootfs {
                path,
                reason: "is not a directory in the image",
            });
        }
    }
    Ok(())
}
