//! Docker's default mount list, for the CLI to start a spec from.

use std::path::PathBuf;

use oci_spec::runtime::Mount;

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_owned()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| (*o).to_owned()).collect()));
    m
}

/// The mounts of a default container, in Docker's order and with Docker's
/// options (moby `oci.DefaultSpec`): `/proc`, a 64 MiB tmpfs `/dev`, a
/// private devpts instance, read-only sysfs and cgroups, mqueue and a
/// 64 MiB `/dev/shm`.
pub fn default_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_in_order() {
        let mounts = default_mounts();
        let dests: Vec<_> = mounts
            .iter()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let shm = &mounts[6];
        assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=65536k".to_owned())
        );
        assert!(
            mounts[3]
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_owned())
        );
        // A spec built from them round-trips through config.json.
        let json = serde_json_roundtrip(&mounts);
        assert_eq!(json, mounts);
    }

    fn serde_json_roundtrip(mounts: &[Mount]) -> Vec<Mount> {
        let mut spec = oci_spec::runtime::Spec::default();
        spec.set_mounts(Some(mounts.to_vec()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        spec.save(&path).unwrap();
        oci_spec::runtime::Spec::load(&path)
            .unwrap()
            .mounts()
            .clone()
            .unwrap()
    }
}
