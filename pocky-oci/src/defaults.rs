//! What runc adds to every config.json and callers rely on: the device
//! rules for the standard nodes and the terminal. Bundles from umoci and
//! containerd deny all devices (`{"allow": false, "access": "rwm"}`) and
//! count on the runtime to allow these, or `/dev/null` and the pty fail.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, Spec};

/// runc's `AllowedDevices`: (type, major, minor, access); None is `*`.
const ALLOWED: [(LinuxDeviceType, Option<i64>, Option<i64>, &str); 11] = [
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"),
];

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> anyhow::Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

/// Appends runc's allowed devices after the spec's own rules (a later
/// rule wins, so the standard nodes stay usable under a deny-all).
pub fn add_allowed_devices(spec: &mut Spec) -> anyhow::Result<()> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    for (typ, major, minor, access) in ALLOWED {
        rules.push(rule(typ, major, minor, access)?);
    }
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_is_followed_by_the_standard_nodes() {
        let mut spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"resources": {"devices": [{"allow": false, "access": "rwm"}]}}
        }))
        .unwrap();
        add_allowed_devices(&mut spec).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
        assert_eq!(rules[0]["allow"], false);
        assert_eq!(rules.len(), 12);
        assert!(
            rules
                .iter()
                .any(|r| r["major"] == 5 && r["minor"] == 2 && r["allow"] == true)
        );
        assert!(
            rules
                .iter()
                .any(|r| r["major"] == 136 && r["minor"].is_null())
        );
    }
}
