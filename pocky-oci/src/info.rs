//! Read-only commands: state, list, ps, spec, features.

use std::path::Path;

use anyhow::{Context, bail};
use pocky_runtime::state::{StateDir, list_ids};

/// The OCI state, plus `created` and `owner` as runc prints them (the
/// containerd shim reads `created`).
pub fn state_json(root: &Path, id: &str) -> anyhow::Result<serde_json::Value> {
    let dir = StateDir::new(root, id)?;
    let record = dir.load()?;
    let status = dir.status(&record);
    let mut v = serde_json::to_value(dir.oci_state(&record, status))?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("created".into(), record.created.clone().into());
        obj.insert("owner".into(), "".into());
    }
    Ok(v)
}

pub fn state(root: &Path, id: &str) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&state_json(root, id)?)?);
    Ok(())
}

pub fn list(root: &Path, quiet: bool, format: &str) -> anyhow::Result<()> {
    let ids = list_ids(root)?;
    if quiet {
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    let states: Vec<serde_json::Value> = ids
        .iter()
        .filter_map(|id| state_json(root, id).ok())
        .collect();
    match format {
        "json" => println!("{}", serde_json::to_string(&states)?),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in states {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} root",
                    s["id"].as_str().unwrap_or_default(),
                    s["pid"],
                    s["status"].as_str().unwrap_or_default(),
                    s["bundle"].as_str().unwrap_or_default(),
                    s["created"].as_str().unwrap_or_default(),
                );
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}

pub fn ps(root: &Path, id: &str, format: &str) -> anyhow::Result<()> {
    let pids = pocky_runtime::control::pids(&StateDir::new(root, id)?)?;
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let status = std::process::Command::new("ps")
                .arg("-f")
                .arg("-p")
                .arg(
                    pids.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .status();
            if pids.is_empty() || status.is_err() {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(())
}

/// Writes oci-spec's default config.json (the same shape as `runc spec`:
/// `sh` with a terminal, the default mounts, masked paths and namespaces).
/// `spec --rootless` is refused before this, as the global `--rootless`.
pub fn spec(bundle: &Path) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    oci_spec::runtime::Spec::default()
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))
}

fn native_seccomp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    }
}

pub fn features() -> anyhow::Result<()> {
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": pocky_runtime::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "exec",
            "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime",
            "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro",
            "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
            "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                // Everything but SCMP_ACT_NOTIFY, which needs a listener.
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                    "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                // Filters are compiled for the host's own architecture only.
                "archs": [native_seccomp_arch()],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                    "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "supportedFlags": [],
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": {
            "org.pocky.runtime.version": env!("CARGO_PKG_VERSION"),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
