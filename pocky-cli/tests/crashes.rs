//! A pocky process SIGKILLed at a point of start, restart or pause (the
//! engine's `POCKY_FAULT` crash points): the next commands find the
//! container whole, can run, stop and remove it, and nothing is left: no
//! record, no cgroup, no mount.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn with_fault(root: &Path, fault: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("POCKY_FAULT", fault)
        .env_remove("POCKY_ROOT")
        .output()
        .unwrap()
}

fn status(root: &Path, name: &str) -> String {
    container(root, name)["State"]["Status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The container's cgroup directories, in every hierarchy that has them.
fn cgroup_dirs(cgroup: &str) -> Vec<std::path::PathBuf> {
    let rel = cgroup.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(rel))
        .chain([Path::new("/sys/fs/cgroup").join(rel)])
        .filter(|p| p.is_dir())
        .collect()
}

/// Mounts under the state root but the layer images, which stay mounted
/// once a container used them (docs/IMAGES.md) and go with their layer.
fn mounted_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    caller_mounts()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&root)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_crash_anywhere_in_start_restart_or_pause_leaves_nothing_broken() {
    let Some(c) = Ctx::new("crashes", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let points: [(&str, &[&str]); 5] = [
        ("start:before-monitor", &["start", "cr"]),
        ("owner:launched", &["start", "cr"]),
        ("monitor:started", &["start", "cr"]),
        ("restart:stopped", &["restart", "-t", "1", "cr"]),
        ("pause:frozen", &["pause", "cr"]),
    ];
    for (fault, args) in points {
        ok(
            r,
            &["create", "--name", "cr", &c.busybox(), "sleep", "1000"],
        );
        if args[0] != "start" {
            ok(r, &["start", "cr"]);
        }
        let cgroup = container(r, "cr")["Cgroup"].as_str().unwrap().to_owned();
        let out = with_fault(r, fault, args);
        assert!(
            !out.status.success(),
            "{fault}: the crash point was not reached"
        );

        // The state reads, and the container can be driven on.
        let listing = ok(r, &["ps", "-a"]);
        assert!(listing.contains("cr"), "{fault}: {listing}");
        let now = status(r, "cr");
        assert!(
            ["created", "running", "exited", "paused"].contains(&now.as_str()),
            "{fault}: {now}"
        );
        if now == "paused" {
            ok(r, &["unpause", "cr"]);
        }
        ok(r, &["start", "cr"]);
        assert_eq!(status(r, "cr"), "running", "{fault}");
        ok(r, &["stop", "-t", "1", "cr"]);
        ok(r, &["rm", "-f", "cr"]);

        assert!(
            tree(&r.join("containers")).is_empty(),
            "{fault}: a record is left"
        );
        assert!(
            cgroup_dirs(&cgroup).is_empty(),
            "{fault}: cgroup {cgroup} is left"
        );
        assert!(
            mounted_under(r).is_empty(),
            "{fault}: {:?}",
            mounted_under(r)
        );
    }
}

/// The restart policy's loop killed between two runs: the container is no
/// longer shown restarting (nobody will restart it), and `system boot`
/// brings it back, as after a reboot.
#[test]
fn a_monitor_killed_while_it_restarts_leaves_a_stopped_container() {
    let Some(c) = Ctx::new("crash_restart", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let out = with_fault(
        r,
        "monitor:restarting",
        &[
            "run",
            "-d",
            "--name",
            "lp",
            "--restart",
            "always",
            &c.busybox(),
            "sh",
            "-c",
            "exit 3",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The monitor runs the container, sees it exit, waits, and dies;
    // `wait` returns once it has let go of the container.
    assert_eq!(ok(r, &["wait", "lp"]).trim(), "3");
    let v = container(r, "lp");
    assert_eq!(v["State"]["Status"], "exited", "{:#}", v["State"]);
    assert_eq!(v["State"]["Restarting"], false, "{:#}", v["State"]);
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(ok(r, &["system", "boot"]).trim(), "lp");
    ok(r, &["rm", "-f", "lp"]);
    assert!(tree(&r.join("containers")).is_empty());
}
