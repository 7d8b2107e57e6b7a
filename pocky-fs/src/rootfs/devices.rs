//! Device nodes and the standard links in the container's `/dev`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, makedev, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{CreateKind, create_in_root, fd_path};
use crate::FsError;

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    /// Absolute path inside the container (the spec's `path`).
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Docker's default device set: null, zero, full, random, urandom, tty.
pub(crate) fn default_devices() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Device {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// The spec's devices, which override defaults of the same path. A device
/// of type `a` (only meaningful to the cgroup allow-list) is skipped.
pub(crate) fn device_list(spec_devices: &[LinuxDevice]) -> Vec<Device> {
    let mut devices: Vec<Device> = spec_devices.iter().filter_map(from_spec).collect();
    for d in default_devices() {
        if !devices.iter().any(|s| s.path == d.path) {
            devices.push(d);
        }
    }
    devices
}

fn from_spec(d: &LinuxDevice) -> Option<Device> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return None,
    };
    Some(Device {
        path: d.path().clone(),
        kind,
        major: u64::try_from(d.major()).unwrap_or(0),
        minor: u64::try_from(d.minor()).unwrap_or(0),
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// The links every container's `/dev` has (runc's and Docker's set; no
/// `/dev/core`, which would point at `/proc/kcore`).
const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Creates `devices` inside the rootfs open at `root`, then the standard
/// links in its `/dev`. A node that already exists is left alone.
pub(crate) fn create_devices(root: &OwnedFd, devices: &[Device]) -> Result<(), FsError> {
    for d in devices {
        create_device(root, d)?;
    }
    let dev = create_in_root(root, Path::new("/dev"), CreateKind::Dir)?;
    for (name, target) in DEV_LINKS {
        match symlinkat(*target, dev.as_fd(), *name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_error("symlink", &Path::new("/dev").join(name), e)),
        }
    }
    Ok(())
}

fn io_error(op: &'static str, path: &Path, errno: Errno) -> FsError {
    FsError::Rootfs {
        op,
        path: path.to_path_buf(),
        source: io::Error::from(errno),
    }
}

fn create_device(root: &OwnedFd, d: &Device) -> Result<(), FsError> {
    let (Some(parent), Some(name)) = (d.path.parent(), d.path.file_name()) else {
        return Err(FsError::UnsafeRootfs {
            path: d.path.clone(),
            reason: "is not a device path",
        });
    };
    let dir = create_in_root(root, parent, CreateKind::Dir)?;
    let perm = Mode::from_bits_truncate(d.mode);
    match mknodat(dir.as_fd(), name, d.kind, perm, makedev(d.major, d.minor)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        // Without CAP_MKNOD (a user namespace), the host's node is bound in.
        Err(Errno::EPERM) => return bind_host_node(root, d),
        Err(e) => return Err(io_error("mknod", &d.path, e)),
    }
    // mknod's mode went through the umask; set the exact one. The names
    // were just created in a directory resolved inside the root, and
    // AT_SYMLINK_NOFOLLOW keeps the calls on them.
    fchmodat(dir.as_fd(), name, perm, FchmodatFlags::NoFollowSymlink)
        .or_else(|e| match e {
            // Older kernels cannot chmod without following; the node is
            // ours and not a link, so following is equivalent.
            Errno::EOPNOTSUPP | Errno::ENOSYS => {
                fchmodat(dir.as_fd(), name, perm, FchmodatFlags::FollowSymlink)
            }
            e => Err(e),
        })
        .map_err(|e| io_error("chmod", &d.path, e))?;
    if d.uid != 0 || d.gid != 0 {
        fchownat(
            dir.as_fd(),
            name,
            Some(Uid::from_raw(d.uid)),
            Some(Gid::from_raw(d.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_error("chown", &d.path, e))?;
    }
    Ok(())
}

fn bind_host_node(root: &OwnedFd, d: &Device) -> Result<(), FsError> {
    let dest = create_in_root(root, &d.path, CreateKind::File)?;
    mount(
        Some(d.path.as_path()),
        &fd_path(&dest),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| FsError::Mount {
        fstype: "bind".to_owned(),
        from: d.path.to_string_lossy().into_owned(),
        destination: d.path.clone(),
        source: io::Error::from(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn spec_devices_override_defaults_and_add_to_them() {
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let list = device_list(&[fuse, null]);
        assert_eq!(list.len(), 7);
        assert_eq!(list[0].path, Path::new("/dev/fuse"));
        assert_eq!(list[0].mode, 0o666);
        let nulls: Vec<_> = list
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(nulls.len(), 1);
        assert_eq!(nulls[0].mode, 0o600);
        assert!(
            list.iter()
                .any(|d| d.path == Path::new("/dev/tty") && d.major == 5)
        );
    }
}
