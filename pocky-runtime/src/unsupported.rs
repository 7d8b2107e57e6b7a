//! What a config.json can ask for that pocky does not do. Each is refused
//! by name before anything starts: a caller that asks for isolation and
//! silently gets less is worse off than one that gets an error.

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::RuntimeError;

fn refuse(what: &str, why: &str) -> RuntimeError {
    RuntimeError::Config(format!("{what} is not supported: {why}"))
}

fn set<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn text(v: &Option<String>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Whether the process would stay in the caller's mount namespace: none is
/// asked for, or the one joined by path is the caller's own. Entering the
/// rootfs there would pivot the caller's root (on a host, everyone's) into
/// the bundle, and every mount of the set-up would land on the host.
fn stays_in_callers_mount_namespace(spec: &Spec) -> bool {
    let mount_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|list| list.iter().find(|n| n.typ() == LinuxNamespaceType::Mount));
    let Some(ns) = mount_ns else {
        return true;
    };
    let Some(path) = ns.path() else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    // An unreadable path fails later, at setns, with its own error.
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/mnt"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The spec's `ociVersion` must be SemVer (the spec says so) and of the
/// major version this runtime implements: a runtime MUST fail on values it
/// cannot honour rather than guess what a 2.x config means.
fn check_version(version: &str) -> Result<(), RuntimeError> {
    match semver::Version::parse(version) {
        Ok(v) if v.major == 1 => Ok(()),
        Ok(v) => Err(RuntimeError::Config(format!(
            "ociVersion {v} is not supported: pocky-runtime implements runtime spec 1.x"
        ))),
        Err(e) => Err(RuntimeError::Config(format!(
            "ociVersion {version:?} is invalid: {e} (the runtime spec wants a SemVer such as 1.0.2)"
        ))),
    }
}

/// The container-wide settings.
pub fn check_spec(spec: &Spec) -> Result<(), RuntimeError> {
    check_version(spec.version())?;
    if stays_in_callers_mount_namespace(spec) {
        // runc chroots here, but still makes the spec's mounts, which then
        // land in the caller's namespace; pocky changes nothing outside the
        // container, so it refuses rather than do half of what is asked.
        return Err(refuse(
            "a container without its own mount namespace",
            "pocky-runtime never changes the caller's mounts or root; add a \"mount\" namespace",
        ));
    }
    if let Some(l) = spec.linux() {
        let joined_userns = l
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        if joined_userns && (set(l.uid_mappings()) || set(l.gid_mappings())) {
            return Err(refuse(
                "uid/gid mappings for a joined user namespace",
                "the namespace's owner wrote its maps",
            ));
        }
        if l.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(refuse("linux.timeOffsets", "pocky makes no time namespace"));
        }
        if text(l.mount_label()) {
            return Err(refuse("linux.mountLabel", "pocky has no SELinux support"));
        }
        if l.intel_rdt().is_some() {
            return Err(refuse("linux.intelRdt", "pocky has no resctrl support"));
        }
        if l.memory_policy().is_some() {
            return Err(refuse("linux.memoryPolicy", "pocky sets no NUMA policy"));
        }
        if l.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(refuse(
                "linux.netDevices",
                "pocky moves no host interface into a container",
            ));
        }
    }
    for m in spec.mounts().iter().flatten() {
        if set(m.uid_mappings()) || set(m.gid_mappings()) {
            return Err(refuse(
                &format!("the id-mapped mount at {}", m.destination().display()),
                "pocky makes no id-mapped mounts",
            ));
        }
    }
    Ok(())
}

/// The settings of one process (the first, or an exec'd one).
pub fn check_process(process: &Process) -> Result<(), RuntimeError> {
    if text(process.selinux_label()) {
        return Err(refuse(
            "process.selinuxLabel",
            "pocky has no SELinux support",
        ));
    }
    if process.scheduler().is_some() {
        return Err(refuse(
            "process.scheduler",
            "pocky does not set scheduling policies",
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(refuse(
            "process.execCPUAffinity",
            "pocky sets CPU affinity through linux.resources.cpu.cpus only",
        ));
    }
    crate::process::check_exec_size(
        process.args().as_deref().unwrap_or_default(),
        process.env().as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        let mut base = serde_json::to_value(Spec::default()).unwrap();
        for (k, v) in json.as_object().unwrap() {
            if let (Some(b), Some(o)) = (base[k].as_object_mut(), v.as_object()) {
                b.extend(o.clone());
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_spec_in_the_callers_mount_namespace_is_refused() {
        let mut s = spec(serde_json::json!({}));
        let mut linux = s.linux().clone().unwrap();
        let others: Vec<_> = linux
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Mount)
            .collect();
        linux.set_namespaces(Some(others));
        s.set_linux(Some(linux));
        let e = check_spec(&s).unwrap_err().to_string();
        assert!(e.contains("mount namespace"), "{e}");
        let own = spec(serde_json::json!({"linux": {
            "namespaces": [{"type": "mount", "path": "/proc/self/ns/mnt"}]}}));
        let e = check_spec(&own).unwrap_err().to_string();
        assert!(e.contains("mount namespace"), "{e}");
    }

    #[test]
    fn oci_version_must_be_a_1_x_semver() {
        for ok in ["1.0.0", "1.0.2-dev", "1.2.1", "1.3.0+build"] {
            check_version(ok).unwrap();
        }
        for (bad, needle) in [
            ("invalid", "invalid"),
            ("", "invalid"),
            ("1.0", "invalid"),
            ("2.0.0", "1.x"),
        ] {
            let e = check_version(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_spec_passes() {
        let s = Spec::default();
        check_spec(&s).unwrap();
        check_process(s.process().as_ref().unwrap()).unwrap();
    }

    #[test]
    fn each_unsupported_setting_is_named() {
        let cases = [
            (
                serde_json::json!({"linux": {
                    "namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}],
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}),
                "joined user namespace",
            ),
            (
                serde_json::json!({"linux": {"mountLabel": "system_u:object_r:container_file_t:s0"}}),
                "mountLabel",
            ),
            (
                serde_json::json!({"linux": {"intelRdt": {"closID": "x"}}}),
                "intelRdt",
            ),
            (
                serde_json::json!({"mounts": [{"destination": "/m", "type": "bind", "source": "/tmp",
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]}),
                "/m",
            ),
        ];
        for (json, needle) in cases {
            let e = check_spec(&spec(json.clone())).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
        let s = spec(
            serde_json::json!({"process": {"selinuxLabel": "x", "cwd": "/",
            "user": {"uid": 0, "gid": 0}}}),
        );
        let e = check_process(s.process().as_ref().unwrap()).unwrap_err();
        assert!(e.to_string().contains("selinuxLabel"));
    }
}
