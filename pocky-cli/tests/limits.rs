//! End-to-end tests of `run`'s cgroup limits and of the container's
//! processes' place in its cgroup, in the sandbox.

mod common;

use std::path::Path;

use common::*;

#[test]
fn limits() {
    let Some(c) = Ctx::new("limits", &["busybox"]) else {
        return;
    };
    // A memory hog: busybox tail buffers its one endless line.
    let o = c.sh(&["-m", "32m"], "head -c 512m /dev/zero | tail");
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let o = pocky(
        c.root(),
        &[
            "run",
            "--name",
            "hog",
            "-m",
            "32m",
            &c.busybox(),
            "sh",
            "-c",
            "head -c 512m /dev/zero | tail",
        ],
    );
    assert_eq!(o.status.code(), Some(137));
    let info: serde_json::Value = serde_json::from_str(&ok(c.root(), &["inspect", "hog"])).unwrap();
    assert_eq!(info[0]["State"]["OOMKilled"], true, "{info}");
    ok(c.root(), &["rm", "hog"]);

    let o = c.sh(
        &["--pids-limit", "8"],
        "i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done; echo looped",
    );
    let err = stderr(&o);
    assert!(
        err.contains("can't fork") || err.contains("Resource temporarily unavailable"),
        "forks beyond the limit must fail: {err}"
    );
    let id = ok(
        c.root(),
        &[
            "run",
            "-d",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "50",
            "-m",
            "64m",
            &c.busybox(),
            "sleep",
            "100",
        ],
    );
    let id = id.trim();
    if Path::new("/sys/fs/cgroup/cpu").exists() {
        assert_eq!(
            v1_cgroup_file("cpu", id, "cpu.cfs_quota_us").as_deref(),
            Some("50000")
        );
        assert_eq!(
            v1_cgroup_file("cpu", id, "cpu.cfs_period_us").as_deref(),
            Some("100000")
        );
        assert_eq!(
            v1_cgroup_file("cpu", id, "cpu.shares").as_deref(),
            Some("512")
        );
        assert_eq!(
            v1_cgroup_file("pids", id, "pids.max").as_deref(),
            Some("50")
        );
        assert_eq!(
            v1_cgroup_file("memory", id, "memory.limit_in_bytes").as_deref(),
            Some("67108864")
        );
        // The first process moved itself in (through each `tasks` file),
        // so it must be in every controller's cgroup, each of its own.
        let pid = ok(c.root(), &["inspect", "-f", "{{.State.Pid}}", id]);
        for controller in ["cpu", "cpuacct", "devices", "freezer", "memory", "pids"] {
            let procs = v1_cgroup_file(controller, id, "cgroup.procs").unwrap_or_default();
            assert!(
                procs.lines().any(|l| l == pid.trim()),
                "{controller}: {pid} not in {procs:?}"
            );
        }
        // So does an exec'd process: at the root of the container's cgroup
        // namespace in every controller, which is the container's cgroup.
        let table = ok(c.root(), &["exec", id, "cat", "/proc/self/cgroup"]);
        for controller in ["cpu", "cpuacct", "devices", "freezer", "memory", "pids"] {
            let line = table.lines().find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == controller))
            });
            assert!(
                line.is_some_and(|l| l.ends_with(":/")),
                "{controller}: {table}"
            );
        }
    }
    ok(c.root(), &["rm", "-f", id]);
    assert!(
        v1_cgroup_file("cpu", id, "cpu.shares").is_none(),
        "cgroup removed with the container"
    );
}
