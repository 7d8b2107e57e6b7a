//! Devices: `--device` requests become nodes in the container
//! (`linux.devices`) and rules of the device allow-list
//! (`linux.resources.devices`: Docker's list, deny everything else),
//! applied through the v1 devices controller, or on cgroup v2, which has no
//! devices file, as an eBPF program attached to the cgroup
//! (`pocky-cgroup`'s `devices_bpf`).

use std::path::PathBuf;

use nix::sys::stat::{SFlag, major, minor, stat};
use oci_spec::runtime::{
    Linux, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, Spec,
};
use pocky_cgroup::{Cgroup, CgroupError, CgroupManager, DeviceKind, DeviceRule};

use super::security_error;
use crate::RuntimeError;

/// `--device HOST[:CONTAINER][:PERMISSIONS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    pub host: PathBuf,
    pub container: PathBuf,
    /// A subset of `rwm`.
    pub access: String,
}

fn is_access(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c))
}

impl DeviceRequest {
    /// Docker's forms: `/dev/fuse`, `/dev/fuse:/dev/f`, `/dev/fuse:rw`,
    /// `/dev/fuse:/dev/f:rwm`.
    pub fn parse(s: &str) -> Result<Self, RuntimeError> {
        let bad = |why: &str| security_error(format!("--device {s:?}"), why);
        let parts: Vec<&str> = s.split(':').collect();
        let (host, container, access) = match parts.as_slice() {
            [h] => (*h, *h, "rwm"),
            [h, x] if is_access(x) => (*h, *h, *x),
            [h, c] => (*h, *c, "rwm"),
            [h, c, a] => (*h, *c, *a),
            _ => return Err(bad("expected HOST[:CONTAINER][:PERMISSIONS]")),
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("device paths must be absolute"));
        }
        if !is_access(access) {
            return Err(bad("permissions are a subset of rwm"));
        }
        Ok(Self {
            host: host.into(),
            container: container.into(),
            access: access.to_owned(),
        })
    }

    /// The node to create in the container, from the host's device.
    fn node(&self) -> Result<LinuxDevice, RuntimeError> {
        let fail = |why: String| security_error(format!("device {}", self.host.display()), why);
        let st = stat(&self.host).map_err(|e| fail(e.to_string()))?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let typ = match kind {
            SFlag::S_IFCHR => LinuxDeviceType::C,
            SFlag::S_IFBLK => LinuxDeviceType::B,
            _ => return Err(fail("is not a character or block device".into())),
        };
        let num = |v: u64| i64::try_from(v).map_err(|_| fail("device number out of range".into()));
        LinuxDeviceBuilder::default()
            .path(self.container.clone())
            .typ(typ)
            .major(num(major(st.st_rdev))?)
            .minor(num(minor(st.st_rdev))?)
            .file_mode(st.st_mode & 0o777)
            .uid(st.st_uid)
            .gid(st.st_gid)
            .build()
            .map_err(|e| fail(e.to_string()))
    }
}

fn to_spec_rule(r: &DeviceRule) -> Result<LinuxDeviceCgroup, RuntimeError> {
    let typ = match r.kind {
        DeviceKind::All => LinuxDeviceType::A,
        DeviceKind::Char => LinuxDeviceType::C,
        DeviceKind::Block => LinuxDeviceType::B,
    };
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(r.allow)
        .typ(typ)
        .access(r.access.clone());
    if let Some(m) = r.major {
        b = b.major(i64::from(m));
    }
    if let Some(m) = r.minor {
        b = b.minor(i64::from(m));
    }
    b.build().map_err(|e| security_error("device rule", e))
}

/// Fills `linux.devices` with the requested nodes and
/// `linux.resources.devices` with the allow-list: Docker's defaults plus
/// the requests, or everything for `--privileged`.
pub fn apply_to_linux(
    linux: &mut Linux,
    requests: &[DeviceRequest],
    privileged: bool,
) -> Result<(), RuntimeError> {
    let mut nodes = linux.devices().clone().unwrap_or_default();
    let mut rules: Vec<LinuxDeviceCgroup> = if privileged {
        vec![to_spec_rule(
            &DeviceRule::parse(true, "a *:* rwm").map_err(cgroup_error)?,
        )?]
    } else {
        DeviceRule::docker_defaults()
            .iter()
            .map(to_spec_rule)
            .collect::<Result<_, _>>()?
    };
    for req in requests {
        let node = req.node()?;
        let mut rule = LinuxDeviceCgroup::from(&node);
        rule.set_access(Some(req.access.clone()));
        rules.push(rule);
        nodes.retain(|n| n.path() != node.path());
        nodes.push(node);
    }
    linux.set_devices(Some(nodes).filter(|n| !n.is_empty()));
    let mut resources = linux.resources().clone().unwrap_or_default();
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    Ok(())
}

fn cgroup_error(e: CgroupError) -> RuntimeError {
    RuntimeError::Cgroup(e)
}

/// The spec's device rules in pocky-cgroup's terms.
pub fn cgroup_rules(spec: &Spec) -> Result<Vec<DeviceRule>, CgroupError> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    list.iter()
        .map(|d| {
            let n = |v: Option<i64>| v.map_or_else(|| "*".to_owned(), |v| v.to_string());
            let typ = d.typ().unwrap_or(LinuxDeviceType::A).as_str().to_owned();
            let access = d.access().clone().unwrap_or_else(|| "rwm".into());
            let text = format!("{typ} {}:{} {access}", n(d.major()), n(d.minor()));
            DeviceRule::parse(d.allow(), &text)
        })
        .collect()
}

/// Applies the spec's device allow-list to `cg`: on v1 through the devices
/// controller; on v2 not at all (a documented gap).
pub fn apply_cgroup(cg: &Cgroup, spec: &Spec) -> Result<(), CgroupError> {
    let rules = cgroup_rules(spec)?;
    if rules.is_empty() {
        return Ok(());
    }
    cg.apply_devices(&rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_flags_parse_like_docker() {
        let d = DeviceRequest::parse("/dev/fuse").unwrap();
        assert_eq!(
            (d.host.to_str(), d.container.to_str(), d.access.as_str()),
            (Some("/dev/fuse"), Some("/dev/fuse"), "rwm")
        );
        let d = DeviceRequest::parse("/dev/fuse:r").unwrap();
        assert_eq!(
            (d.container.to_str(), d.access.as_str()),
            (Some("/dev/fuse"), "r")
        );
        let d = DeviceRequest::parse("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(
            (d.container.to_str(), d.access.as_str()),
            (Some("/dev/mynull"), "rw")
        );
        for bad in ["dev/fuse", "/dev/a:/dev/b:rwx", "/a:/b:rw:x", "/dev/a:rel"] {
            assert!(DeviceRequest::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn allow_list_is_docker_s_plus_requests() {
        let mut linux = Linux::default();
        let req = DeviceRequest::parse("/dev/null:/dev/extra:rw").unwrap();
        apply_to_linux(&mut linux, &[req], false).unwrap();
        let node = &linux.devices().as_ref().unwrap()[0];
        assert_eq!((node.major(), node.minor()), (1, 3));
        let mut spec = Spec::default();
        spec.set_linux(Some(linux));
        let rules = cgroup_rules(&spec).unwrap();
        assert_eq!(rules[0].to_string(), "a *:* rwm");
        assert!(!rules[0].allow);
        assert_eq!(rules.last().unwrap().to_string(), "c 1:3 rw");
        assert_eq!(rules.len(), DeviceRule::docker_defaults().len() + 1);

        let mut linux = Linux::default();
        apply_to_linux(&mut linux, &[], true).unwrap();
        spec.set_linux(Some(linux));
        let rules = cgroup_rules(&spec).unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow);
        assert!(DeviceRequest::parse("/etc/passwd").unwrap().node().is_err());
    }
}
