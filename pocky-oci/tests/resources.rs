//! `linux.resources` honoured as written, inside `ci/sandbox`: each limit
//! the host has a controller for lands in its control file, the rest fail
//! `create` by name and leave nothing behind.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

mod common;
use common::{Env, cgroup_dirs};

/// The container's directory for a v1 controller.
fn v1_dir(controller: &str, cgroup: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(cgroup.trim_start_matches('/'))
}

fn read(controller: &str, cgroup: &str, file: &str) -> String {
    let p = v1_dir(controller, cgroup).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// major:minor of some block device of this machine, for a throttle.
fn a_block_device() -> String {
    std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("dev")).ok())
        .map(|d| d.trim().to_string())
        .next()
        .expect("no block device")
}

fn is_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/tasks").exists()
}

#[test]
fn resources_land_in_their_control_files() {
    let Some(env) = Env::new("oci_resources", &["sleep", "300"]) else {
        return;
    };
    if !is_v1() {
        // The v2 writes are unit-tested on fake trees (pocky-cgroup); this
        // machine kind is v1.
        eprintln!("SKIPPED oci_resources: written for a cgroup v1 host");
        return;
    }
    let cg = env.set_cgroup("res");
    let dev = a_block_device();
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    env.edit(|s| {
        s["linux"]["resources"] = json!({
            "devices": s["linux"]["resources"]["devices"].clone(),
            "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                       "swappiness": 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 200000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 64},
            "blockIO": {"throttleReadBpsDevice": [{"major": major, "minor": minor,
                                                   "rate": 1048576}]},
        });
    });
    env.create("res", &[]);
    let pid = env.state("res")["pid"].to_string();
    assert_eq!(read("memory", &cg, "memory.limit_in_bytes"), "67108864");
    if v1_dir("memory", &cg)
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        assert_eq!(
            read("memory", &cg, "memory.memsw.limit_in_bytes"),
            "134217728"
        );
    }
    assert_eq!(
        read("memory", &cg, "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(read("memory", &cg, "memory.swappiness"), "20");
    assert_eq!(read("cpu", &cg, "cpu.shares"), "512");
    assert_eq!(read("cpu", &cg, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", &cg, "cpu.cfs_period_us"), "200000");
    assert_eq!(read("pids", &cg, "pids.max"), "64");
    // cpuset and blkio are joined only because a limit asked for them.
    assert_eq!(read("cpuset", &cg, "cpuset.cpus"), "0");
    assert_eq!(read("cpuset", &cg, "cpuset.mems"), "0");
    assert!(read("cpuset", &cg, "cgroup.procs").contains(&pid));
    assert_eq!(
        read("blkio", &cg, "blkio.throttle.read_bps_device"),
        format!("{dev} 1048576")
    );
    assert!(read("blkio", &cg, "cgroup.procs").contains(&pid));
    // The process sees its cpuset.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert!(allowed.ends_with("\t0"), "{allowed}");

    env.ok(&["delete", "--force", "res"]);
    for c in ["memory", "cpu", "pids", "cpuset", "blkio"] {
        assert!(!v1_dir(c, &cg).exists(), "{c} cgroup left behind");
    }
}

#[test]
fn resources_the_host_cannot_enforce_fail_create_by_name() {
    let Some(env) = Env::new("oci_resources_refused", &["true"]) else {
        return;
    };
    let cg = env.set_cgroup("refused");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "rdma",
            json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}}),
            "rdma",
        ),
        (
            "hugetlb",
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
            "hugetlb",
        ),
        (
            "unified on v1",
            json!({"unified": {"memory.high": "50M"}}),
            if is_v1() { "unified" } else { "" },
        ),
        (
            "swap below memory",
            json!({"memory": {"limit": 64 << 20, "swap": 1 << 20}}),
            "memory+swap",
        ),
    ];
    for (what, resources, needle) in cases {
        if needle.is_empty() {
            continue;
        }
        env.edit(|s| s["linux"]["resources"] = resources.clone());
        let out = env.on_bundle("create", "refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        assert!(!env.root().join("refused").exists(), "{what}: state left");
        assert!(
            cgroup_dirs(&cg).iter().all(|d| !d.exists()),
            "{what}: cgroup left"
        );
    }
}

#[test]
fn update_changes_a_running_container_and_events_report_it() {
    let Some(env) = Env::new("oci_update", &["sleep", "300"]) else {
        return;
    };
    if !is_v1() {
        eprintln!("SKIPPED oci_update: written for a cgroup v1 host");
        return;
    }
    let cg = env.set_cgroup("upd");
    env.edit(|s| s["linux"]["resources"]["memory"] = json!({"limit": 64 << 20}));
    env.create("upd", &[]);
    env.ok(&["start", "upd"]);
    let pid = env.state("upd")["pid"].to_string();

    // containerd's form: the document on stdin.
    let mut child = env
        .cmd(&["update", "--resources", "-", "upd"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"memory":{"limit":33554432},"cpu":{"cpus":"0","mems":"0"},"pids":{"limit":20}}"#,
    )
    .unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(read("memory", &cg, "memory.limit_in_bytes"), "33554432");
    assert_eq!(read("pids", &cg, "pids.max"), "20");
    // A cpuset that came with the update holds the running task too.
    assert_eq!(read("cpuset", &cg, "cpuset.cpus"), "0");
    assert!(read("cpuset", &cg, "cgroup.procs").contains(&pid));

    // runc's flags, raising the limit again.
    env.ok(&["update", "--memory", "128m", "--cpu-quota", "20000", "upd"]);
    assert_eq!(read("memory", &cg, "memory.limit_in_bytes"), "134217728");
    assert_eq!(read("cpu", &cg, "cpu.cfs_quota_us"), "20000");

    let out = env.ok(&["events", "--stats", "upd"]);
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], "upd");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 128u64 << 20);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1);

    env.ok(&["kill", "upd", "9"]);
    env.wait_status("upd", "stopped");
    let err = String::from_utf8_lossy(
        &env.cmd(&["update", "--memory", "1g", "upd"])
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("stopped"), "{err}");
    env.ok(&["delete", "upd"]);
    assert!(cgroup_dirs(&cg).iter().all(|d| !d.exists()));
    assert!(!v1_dir("cpuset", &cg).exists());
}
