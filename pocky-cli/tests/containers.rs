//! End-to-end tests of `ps`, `inspect`, `logs`, `stop`, `kill`, `rm`, `wait`
//! and `system prune` on hand-made container records: a plain `sleep` child
//! stands in for the container's process, and a thread holding
//! `monitor.lock` stands in for its owner (the monitor of `run -d`).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use common::records::*;
use common::*;
use pocky_engine::store::{
    ContainerRecord, ContainerState, ContainerStore, FileLock, Status, Store,
};

fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// A running container without an owner (its owner was killed).
fn running(root: &Path, name: &str) -> (ContainerRecord, Child) {
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let rec = record(
        name,
        ContainerState {
            status: Some(Status::Running),
            pid: child.id() as i32,
            pid_start: start_time(child.id()),
            started_at: Some(state::now() - 3.0),
            ..ContainerState::default()
        },
    );
    add(root, &rec);
    (rec, child)
}

/// A running container with an owner that records the exit as the
/// monitor does (128 + signal) and then lets go of the lock.
fn owned(root: &Path, name: &str) -> (ContainerRecord, JoinHandle<()>) {
    let (rec, mut child) = running(root, name);
    let store = Store::open(root).unwrap();
    let lock_path = store.container_dir(&rec.id).unwrap().join("monitor.lock");
    let lock = FileLock::exclusive(&lock_path).unwrap();
    let id = rec.id.clone();
    let owner = std::thread::spawn(move || {
        let status = child.wait().unwrap();
        let code = status.code().unwrap_or(128 + status.signal().unwrap_or(0));
        store
            .update_container(&id, &mut |r| {
                r.state.status = Some(Status::Exited);
                r.state.exit_code = Some(code);
                r.state.finished_at = Some(state::now());
            })
            .unwrap();
        drop(lock);
    });
    (rec, owner)
}

fn ps_json(root: &Path, all: bool) -> Vec<serde_json::Value> {
    let args: &[&str] = if all {
        &["ps", "-a", "--format", "json"]
    } else {
        &["ps", "--format", "json"]
    };
    // Docker's JSON lines: one object per container.
    ok(root, args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn ps_lists_running_and_with_all_the_stopped() {
    let root = tempfile::tempdir().unwrap();
    let (rec, mut child) = running(root.path(), "web");
    add(root.path(), &exited("done", 3));
    add(
        root.path(),
        &record(
            "new",
            ContainerState {
                status: Some(Status::Created),
                ..ContainerState::default()
            },
        ),
    );

    let table = ok(root.path(), &["ps"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&rec.id[..12]), "{row}");
    assert!(row.contains("\"/bin/sh -c 'echo he…\""), "{row}");
    assert!(row.contains("2 minutes ago"), "{row}");
    assert!(row.contains("Up ") && row.contains(" seconds"), "{row}");
    assert!(row.trim_end().ends_with("web"), "{row}");
    assert!(lines.next().is_none(), "{table}");

    let all = ok(root.path(), &["ps", "-a"]);
    assert!(all.contains("Exited (3) About a minute ago"), "{all}");
    assert!(all.contains("Created"), "{all}");
    assert_eq!(ok(root.path(), &["ps", "-aq"]).lines().count(), 3);
    assert_eq!(ok(root.path(), &["ps", "-q", "--no-trunc"]).trim(), rec.id);
    // Docker's Go-template formats.
    assert_eq!(
        ok(root.path(), &["ps", "--format", "{{.Names}} {{.State}}"]),
        "web running\n"
    );
    let t = ok(
        root.path(),
        &["ps", "--format", "table {{.Names}}\t{{.Status}}"],
    );
    let mut t = t.lines();
    assert!(t.next().unwrap().starts_with("NAMES   STATUS"), "{all}");
    assert!(t.next().unwrap().starts_with("web     Up "), "{all}");

    let v = ps_json(root.path(), false);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["Names"], "web");
    assert_eq!(v[0]["State"], "running");
    assert_eq!(v[0]["Pid"], child.id());
    // Docker's column, quoted and cut as in the table.
    assert_eq!(v[0]["Command"], "\"/bin/sh -c 'echo he…\"");

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_dead_process_without_owner_shows_as_exited_255() {
    let root = tempfile::tempdir().unwrap();
    let (_, mut child) = running(root.path(), "orphan");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ps_json(root.path(), false).is_empty());
    let v = ps_json(root.path(), true);
    assert_eq!(v[0]["State"], "exited");
    assert_eq!(v[0]["ExitCode"], 255);
    assert!(v[0]["Status"].as_str().unwrap().starts_with("Exited (255)"));
    assert_eq!(ok(root.path(), &["wait", "orphan"]).trim(), "255");
}

#[test]
fn kill_then_rm_a_container_without_owner() {
    let root = tempfile::tempdir().unwrap();
    let (rec, mut child) = running(root.path(), "k");
    let dir = Store::open(root.path())
        .unwrap()
        .container_dir(&rec.id)
        .unwrap();

    let err = fails(root.path(), &["rm", "k"]);
    assert!(
        err.contains("cannot remove container k: container is running"),
        "{err}"
    );
    assert!(dir.exists());

    assert_eq!(ok(root.path(), &["kill", "-s", "TERM", "k"]).trim(), "k");
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    let err = fails(root.path(), &["kill", "k"]);
    assert!(err.contains("container k is not running"), "{err}");

    // By id prefix, as Docker accepts it.
    assert_eq!(ok(root.path(), &["rm", &rec.id[..8]]).trim(), &rec.id[..8]);
    assert!(!dir.exists());
    assert!(ps_json(root.path(), true).is_empty());
    let err = fails(root.path(), &["rm", "k"]);
    assert!(err.contains("k"), "{err}");
}

#[test]
fn stop_waits_for_the_owner_to_record_the_exit() {
    let root = tempfile::tempdir().unwrap();
    let (_, owner) = owned(root.path(), "svc");
    assert_eq!(ok(root.path(), &["stop", "-t", "5", "svc"]).trim(), "svc");
    owner.join().unwrap();
    let v = ps_json(root.path(), true);
    assert_eq!(v[0]["State"], "exited");
    assert_eq!(v[0]["ExitCode"], 128 + libc::SIGTERM);
    // Stopping a stopped container is no error.
    assert_eq!(ok(root.path(), &["stop", "svc"]).trim(), "svc");
}

#[test]
fn wait_blocks_until_the_exit_and_prints_the_code() {
    let root = tempfile::tempdir().unwrap();
    let (_, owner) = owned(root.path(), "w");
    let waiter = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root.path())
        .args(["wait", "w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    ok(root.path(), &["kill", "w"]);
    let out = waiter.wait_with_output().unwrap();
    owner.join().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "137");
    let err = fails(root.path(), &["wait", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn rm_force_kills_waits_for_the_owner_and_removes() {
    let root = tempfile::tempdir().unwrap();
    let (rec, owner) = owned(root.path(), "f");
    let dir = Store::open(root.path())
        .unwrap()
        .container_dir(&rec.id)
        .unwrap();
    assert_eq!(ok(root.path(), &["rm", "-f", "f"]).trim(), "f");
    owner.join().unwrap();
    assert!(!dir.exists());
    assert!(ps_json(root.path(), true).is_empty());
}

#[test]
fn rm_goes_on_after_an_error() {
    let root = tempfile::tempdir().unwrap();
    add(root.path(), &exited("a", 0));
    add(root.path(), &exited("b", 0));
    let o = pocky(root.path(), &["rm", "a", "missing", "b"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stdout(&o), "a\nb\n");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(ps_json(root.path(), true).is_empty());
}

const LOG: &str = concat!(
    r#"{"log":"one\n","stream":"stdout","time":"2024-01-02T03:04:05.000000001Z"}"#,
    "\n",
    r#"{"log":"oops\n","stream":"stderr","time":"2024-01-02T03:04:06.000000002Z"}"#,
    "\n",
    r#"{"log":"two","stream":"stdout","time":"2024-01-02T03:04:07.000000003Z"}"#,
    "\n",
    r#"{"log":"\n","stream":"stdout","time":"2024-01-02T03:04:08.000000004Z"}"#,
    "\n",
);

#[test]
fn logs_replay_streams_apart_with_tail_and_timestamps() {
    let root = tempfile::tempdir().unwrap();
    let dir = add(root.path(), &exited("l", 0));
    std::fs::write(dir.join("container.log"), LOG).unwrap();

    let o = pocky(root.path(), &["logs", "l"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "one\ntwo\n");
    assert_eq!(stderr(&o), "oops\n");

    let o = pocky(root.path(), &["logs", "--tail", "2", "l"]);
    assert_eq!(stdout(&o), "two\n");
    assert_eq!(stderr(&o), "");

    let o = pocky(root.path(), &["logs", "-t", "-n", "3", "l"]);
    assert_eq!(
        stdout(&o),
        "2024-01-02T03:04:07.000000003Z two2024-01-02T03:04:08.000000004Z \n"
    );
    assert_eq!(stderr(&o), "2024-01-02T03:04:06.000000002Z oops\n");

    // Nobody owns the container: -f ends once the file is read.
    assert_eq!(ok(root.path(), &["logs", "-f", "l"]), "one\ntwo\n");
    fails(root.path(), &["logs", "--tail", "x", "l"]);
}

#[test]
fn logs_follow_ends_when_the_owner_lets_go() {
    let root = tempfile::tempdir().unwrap();
    let dir = add(root.path(), &exited("fl", 0));
    let log = dir.join("container.log");
    std::fs::write(&log, &LOG[..LOG.find('\n').unwrap() + 1]).unwrap();
    let lock = FileLock::exclusive(&dir.join("monitor.lock")).unwrap();
    let follower = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root.path())
        .args(["logs", "-f", "fl"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&log, LOG).unwrap();
    drop(lock);
    let out = follower.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
}

#[test]
fn inspect_shows_containers_then_images() {
    let root = tempfile::tempdir().unwrap();
    let (rec, mut child) = running(root.path(), "insp");
    let dir = Store::open(root.path())
        .unwrap()
        .container_dir(&rec.id)
        .unwrap();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "process": {"args": ["/bin/sh", "-c", "sleep 60"], "env": ["A=1"], "cwd": "/work",
                    "user": {"uid": 1000, "gid": 1000}},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}],
                  "resources": {"memory": {"limit": 67108864}, "cpu": {"quota": 150000, "period": 100000, "shares": 512},
                                "pids": {"limit": 20}}}
    });
    std::fs::write(dir.join("config.json"), spec.to_string()).unwrap();

    let v: serde_json::Value =
        serde_json::from_str(&ok(root.path(), &["inspect", "insp"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], rec.id);
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["Path"], "/bin/sh");
    assert_eq!(c["Args"], serde_json::json!(["-c", "sleep 60"]));
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["State"]["Pid"], child.id());
    assert_eq!(c["Config"]["Env"][0], "A=1");
    assert_eq!(c["Config"]["WorkingDir"], "/work");
    assert_eq!(c["Config"]["User"], "1000:1000");
    assert_eq!(c["HostConfig"]["Memory"], 67108864);
    assert_eq!(c["HostConfig"]["NanoCpus"], 1_500_000_000u64);
    assert_eq!(c["HostConfig"]["CpuShares"], 512);
    assert_eq!(c["HostConfig"]["PidsLimit"], 20);
    assert_eq!(c["HostConfig"]["NetworkMode"], "none");
    assert_eq!(c["NetworkSettings"]["IPAddress"], "");
    assert_eq!(c["NetworkSettings"]["Networks"]["none"]["IPAddress"], "");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(c["Bundle"], dir.display().to_string());
    assert!(c["Created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c["State"]["FinishedAt"], "0001-01-01T00:00:00Z");

    let err = fails(root.path(), &["inspect", "insp", "nothing-here"]);
    assert!(err.contains("no such object: nothing-here"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn prune_removes_stopped_containers_and_debris_only() {
    let root = tempfile::tempdir().unwrap();
    let (live, mut child) = running(root.path(), "live");
    let gone = exited("gone", 0);
    let gone_dir = add(root.path(), &gone);
    std::fs::write(gone_dir.join("container.log"), vec![b'x'; 5000]).unwrap();
    let orphan = root.path().join("containers").join(id_for("debris"));
    std::fs::create_dir_all(orphan.join("upper")).unwrap();

    let out = ok(root.path(), &["system", "prune", "-f"]);
    assert!(
        out.contains(&format!("Deleted Containers:\n{}\n", gone.id)),
        "{out}"
    );
    assert!(!out.contains(&live.id), "{out}");
    assert!(out.contains("Total reclaimed space: 5."), "{out}");
    assert!(!gone_dir.exists());
    assert!(!orphan.exists());
    let v = ps_json(root.path(), true);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["Names"], "live");

    child.kill().unwrap();
    child.wait().unwrap();
}

/// The whole life of a real detached container, in the sandbox.
#[test]
fn real_container_lifecycle() {
    let Some(sb) = pocky_testkit::sandbox("real_container_lifecycle") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // The default bridge and its rules go with the test, pass or fail.
    let _reset = common::Reset(r);
    let image = format!("{}/busybox", sb.registry);
    ok(r, &["pull", "-q", &image]);

    let script =
        "echo out; echo err >&2; trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done";
    let id = ok(
        r,
        &["run", "-d", "--name", "real", &image, "sh", "-c", script],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let v = ps_json(r, false);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["State"], "running");

    let info: serde_json::Value = serde_json::from_str(&ok(r, &["inspect", "real"])).unwrap();
    assert_eq!(info[0]["State"]["Running"], true);
    assert!(info[0]["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(info[0]["Path"], "sh");

    // The trap makes the shell (pid 1 of its namespace) answer SIGTERM.
    let mut seen = String::new();
    for _ in 0..100 {
        seen = stdout(&pocky(r, &["logs", "real"]));
        if seen.contains("out") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen, "out\n");
    assert_eq!(stderr(&pocky(r, &["logs", "real"])), "err\n");
    assert_eq!(ok(r, &["stop", "real"]).trim(), "real");
    assert_eq!(ok(r, &["wait", "real"]).trim(), "7");
    assert_eq!(ok(r, &["logs", "-f", "real"]), "out\nbye\n");
    let v = ps_json(r, true);
    assert_eq!(v[0]["ExitCode"], 7);
    assert!(ps_json(r, false).is_empty());

    // A second one, killed and force-removed while it runs.
    ok(r, &["run", "-d", "--name", "busy", &image, "sleep", "60"]);
    let err = fails(r, &["rm", "busy"]);
    assert!(err.contains("container is running"), "{err}");
    assert_eq!(ok(r, &["rm", "-f", "busy"]).trim(), "busy");
    let out = ok(r, &["system", "prune"]);
    assert!(out.contains(id), "{out}");
    assert!(ps_json(r, true).is_empty());
}
