//! What `docker info` and `docker version` report, for this state root and
//! host, as Docker's documents (`/info`, `/version` of the Engine API):
//! the API service answers with them and `pocky info`/`pocky version`
//! print them.

use std::path::Path;

use pocky_store::{ContainerStore, ImageStore, Status, Store};
use serde_json::{Value, json};

use crate::{Result, state};

/// The kernel release (`uname -r`).
pub fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Go's name for this machine's architecture (`amd64`), as `version` and
/// platforms say it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

/// `/etc/os-release`'s field (`PRETTY_NAME`, `VERSION_ID`).
fn os_release(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('"').to_owned())
}

/// The filesystem under the state root, in Docker's words for the common
/// ones (`extfs`), for the storage driver's "Backing Filesystem".
fn backing_filesystem(root: &Path) -> String {
    use nix::sys::statfs::{
        BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC,
        statfs,
    };
    let Ok(fs) = statfs(root) else {
        return "unknown".into();
    };
    match fs.filesystem_type() {
        t if t == EXT4_SUPER_MAGIC => "extfs".into(),
        t if t == XFS_SUPER_MAGIC => "xfs".into(),
        t if t == BTRFS_SUPER_MAGIC => "btrfs".into(),
        t if t == TMPFS_MAGIC => "tmpfs".into(),
        t if t == OVERLAYFS_SUPER_MAGIC => "overlayfs".into(),
        #[allow(clippy::useless_conversion)] // the width of f_type varies by target
        t => format!("{:#x}", i64::from(t.0)),
    }
}

/// "1" or "2", as Docker's `CgroupVersion` (a hybrid host, v1 controllers
/// beside a cgroup2 mount, is "1": pocky uses the v1 controllers there).
fn cgroup_version() -> &'static str {
    match pocky_cgroup::Hierarchy::detect() {
        Ok(pocky_cgroup::Hierarchy::V2 { .. }) => "2",
        _ => "1",
    }
}

/// Whether a memory limit can cover swap: v1's `memory.memsw.*` files,
/// v2's memory controller (`memory.swap.max`).
fn swap_limit() -> bool {
    match pocky_cgroup::Hierarchy::detect() {
        Ok(pocky_cgroup::Hierarchy::V2 { root }) => {
            std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|n| n == "memory"))
        }
        Ok(pocky_cgroup::Hierarchy::V1(m)) => m
            .mount("memory")
            .is_some_and(|p| p.join("memory.memsw.limit_in_bytes").exists()),
        Err(_) => false,
    }
}

/// Docker's `SecurityOptions`: what every container gets.
fn security_options() -> Vec<String> {
    let mut out = vec![
        "name=seccomp,profile=builtin".to_owned(),
        "name=cgroupns".to_owned(),
    ];
    if !nix::unistd::geteuid().is_root() {
        out.push("name=rootless".to_owned());
    }
    out
}

/// Docker's `/info` document.
pub fn info(store: &Store) -> Result<Value> {
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for rec in store.containers()? {
        let Some(rec) = state::refresh_listed(store, rec)? else {
            continue;
        };
        match rec.state.status {
            Some(Status::Running) if state::paused(&rec) => paused += 1,
            Some(Status::Running) => running += 1,
            _ => stopped += 1,
        }
    }
    let images = store.images()?.len();
    let root = store.layout().root();
    // The layer store's own account (decided now for a fresh store).
    let storage = crate::storage::info(store)?;
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_total = nix::sys::sysinfo::sysinfo().map_or(0, |s| s.ram_total());
    let forwarding =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
    let machine = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_else(|_| std::env::consts::ARCH.to_owned());
    // Stable for a state root, as dockerd's ID is for its daemon.
    let id = pocky_store::sha256_of(root.to_string_lossy().as_bytes());
    let id = id.trim_start_matches("sha256:");
    let mut doc = json!({
        "ID": &id[..id.len().min(32)],
        "Containers": running + paused + stopped,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": storage.driver.as_str(),
        "DriverStatus": [
            ["Backing Filesystem", backing_filesystem(root)],
            ["Reason", storage.reason],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Log": ["json-file", "none"],
        },
        "MemoryLimit": true,
        "SwapLimit": swap_limit(),
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": forwarding,
        "Debug": crate::log::debug_enabled(),
        "LoggingDriver": pocky_store::LogConfig::JSON_FILE,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": kernel(),
        "OperatingSystem": os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        "OSVersion": os_release("VERSION_ID").unwrap_or_default(),
        "OSType": "linux",
        "Architecture": machine,
        "NCPU": ncpu,
        "MemTotal": mem_total,
    });
    // Two halves: one json! of all of it passes the macro's recursion limit.
    let more = json!({
        "IndexServerAddress": pocky_registry::HUB_SERVER_URL,
        "RegistryConfig": {
            "InsecureRegistryCIDRs": pocky_registry::PLAIN_HTTP_CIDRS,
            "IndexConfigs": {},
            "Mirrors": [],
        },
        "DockerRootDir": root,
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"pocky-runtime": {"path": "pocky-runtime"}},
        "DefaultRuntime": "pocky-runtime",
        "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
        // Containers never depended on a daemon: each has its monitor.
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "SecurityOptions": security_options(),
        "Warnings": [],
    });
    if let (Some(d), Value::Object(m)) = (doc.as_object_mut(), more) {
        d.extend(m);
    }
    Ok(doc)
}

/// Docker's `/version` document for the engine (the server side of
/// `docker version`), with the API versions the service speaks.
pub fn version(api_version: &str, min_api_version: &str) -> Value {
    let v = env!("CARGO_PKG_VERSION");
    json!({
        "Platform": {"Name": "pocky"},
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {
                "ApiVersion": api_version,
                "MinAPIVersion": min_api_version,
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel(),
            },
        }],
        "Version": v,
        "ApiVersion": api_version,
        "MinAPIVersion": min_api_version,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    })
}
