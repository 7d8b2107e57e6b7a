//! The container lifecycle past `run`: `create`, `start` of a created or
//! stopped container, `restart`; each start a new process on the same
//! rootfs, upper layer, name, id and network settings.

mod common;

use common::records::*;
use common::*;

#[test]
fn a_container_started_again_keeps_its_writes_and_its_network() {
    let Some(c) = Ctx::new("start_again", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let script = "echo x >> /count; echo runs=$(wc -l < /count); \
                  ip -4 addr show eth0 | grep -q 'inet ' && echo addressed";
    let id = ok(
        r,
        &[
            "create",
            "--name",
            "again",
            &c.busybox(),
            "sh",
            "-c",
            script,
        ],
    );
    let id = id.trim();
    assert_eq!(container(r, "again")["State"]["Status"], "created");
    for run in 1..=6 {
        assert_eq!(ok(r, &["start", "again"]).trim(), "again");
        assert_eq!(ok(r, &["wait", "again"]).trim(), "0");
        let v = container(r, "again");
        assert_eq!(v["Id"], id);
        assert_eq!(v["State"]["Status"], "exited");
        let logs = ok(r, &["logs", "again"]);
        assert!(logs.contains(&format!("runs={run}\n")), "{logs}");
        assert_eq!(logs.matches("addressed").count(), run, "{logs}");
    }
    ok(r, &["rm", "again"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn start_of_a_running_container_is_a_no_op_and_restart_makes_a_new_process() {
    let Some(c) = Ctx::new("restart", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "svc", &c.busybox(), "sleep", "1000"],
    );
    let pid = container(r, "svc")["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(ok(r, &["start", "svc"]).trim(), "svc");
    assert_eq!(container(r, "svc")["State"]["Pid"].as_i64(), Some(pid));

    assert_eq!(ok(r, &["restart", "-t", "1", "svc"]).trim(), "svc");
    let v = container(r, "svc");
    assert_eq!(v["State"]["Status"], "running");
    let new_pid = v["State"]["Pid"].as_i64().unwrap();
    assert!(new_pid > 0 && new_pid != pid, "{pid} -> {new_pid}");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    // A stopped container restarts too.
    ok(r, &["stop", "-t", "1", "svc"]);
    ok(r, &["restart", "svc"]);
    assert_eq!(container(r, "svc")["State"]["Status"], "running");

    let err = fails(r, &["start", "nosuch"]);
    assert!(err.contains("no such container"), "{err}");
    ok(r, &["rm", "-f", "svc"]);
    assert!(tree(&r.join("containers")).is_empty());
}

/// `pause` freezes the container (it stops writing), `ps`/`inspect` say
/// so, `exec` is refused, `unpause` lets it go on; `stop` of a paused
/// container still stops it.
#[test]
fn pause_freezes_and_unpause_thaws() {
    let Some(c) = Ctx::new("pause", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let ticks = "while true; do echo t >> /ticks; sleep 0.05; done";
    ok(
        r,
        &["run", "-d", "--name", "pz", &c.busybox(), "sh", "-c", ticks],
    );
    let count = || {
        ok(r, &["exec", "pz", "wc", "-l", "/ticks"])
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    while count() < 2 {}
    assert_eq!(ok(r, &["pause", "pz"]).trim(), "pz");
    let v = container(r, "pz");
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    assert!(ok(r, &["ps"]).contains("(Paused)"));
    let err = fails(r, &["exec", "pz", "true"]);
    assert!(err.contains("paused"), "{err}");
    let err = fails(r, &["pause", "pz"]);
    assert!(err.contains("already paused"), "{err}");
    // Frozen: the file does not grow, whatever time passes.
    let upper = r
        .join("containers")
        .join(v["Id"].as_str().unwrap())
        .join("upper/ticks");
    let frozen = std::fs::read(&upper).unwrap().len();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(std::fs::read(&upper).unwrap().len(), frozen);
    assert_eq!(ok(r, &["unpause", "pz"]).trim(), "pz");
    let before = count();
    while count() == before {}
    assert_eq!(container(r, "pz")["State"]["Status"], "running");
    let err = fails(r, &["unpause", "pz"]);
    assert!(err.contains("not paused"), "{err}");

    ok(r, &["pause", "pz"]);
    ok(r, &["stop", "-t", "1", "pz"]);
    assert_eq!(container(r, "pz")["State"]["Status"], "exited");
    let err = fails(r, &["pause", "pz"]);
    assert!(err.contains("not running"), "{err}");
    ok(r, &["rm", "pz"]);
}

#[test]
fn rename_takes_a_free_valid_name_only() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    add(r, &exited("first", 0));
    add(r, &exited("second", 0));
    ok(r, &["rename", "first", "renamed"]);
    assert_eq!(container(r, "renamed")["Id"], id_for("first"));
    assert!(fails(r, &["inspect", "first"]).contains("no such"));
    let err = fails(r, &["rename", "renamed", "second"]);
    assert!(err.contains("already in use"), "{err}");
    let err = fails(r, &["rename", "renamed", "bad name"]);
    assert!(err.contains("invalid container name"), "{err}");
    assert_eq!(container(r, "renamed")["Name"], "/renamed");
}

/// `--restart on-failure:2`: a command that fails runs three times (the
/// start and two restarts), then the container stays exited with its code.
#[test]
fn a_restart_policy_gives_up_after_its_retries() {
    let Some(c) = Ctx::new("restart_policy", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let b = c.busybox();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            &b,
            "sh",
            "-c",
            "echo ran; exit 3",
        ],
    );
    // wait returns once the monitor lets go: after the last restart.
    assert_eq!(ok(r, &["wait", "flaky"]).trim(), "3");
    let v = container(r, "flaky");
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 3);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    assert_eq!(ok(r, &["logs", "flaky"]).matches("ran").count(), 3);
    ok(r, &["rm", "flaky"]);

    // `always` restarts a clean exit too, until a stop by hand.
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "loop",
            "--restart",
            "always",
            &b,
            "sh",
            "-c",
            "echo ran; sleep 0.1",
        ],
    );
    while ok(r, &["logs", "loop"]).matches("ran").count() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(r, &["stop", "-t", "1", "loop"]);
    assert_eq!(container(r, "loop")["State"]["Status"], "exited");
    ok(r, &["wait", "loop"]);
    let runs = ok(r, &["logs", "loop"]).matches("ran").count();
    assert_eq!(container(r, "loop")["State"]["Restarting"], false);
    // A start by hand lifts the stop: it loops again.
    ok(r, &["start", "loop"]);
    while ok(r, &["logs", "loop"]).matches("ran").count() < runs + 2 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(r, &["rm", "-f", "loop"]);
    assert!(tree(&r.join("containers")).is_empty());

    for (flags, needle) in [
        (vec!["--restart", "always", "--rm"], "conflicting options"),
        (vec!["--restart", "sometimes"], "invalid restart policy"),
    ] {
        let mut args = flags.clone();
        args.extend([b.as_str(), "true"]);
        let out = c.run(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}");
        assert!(stderr(&out).contains(needle), "{flags:?}: {}", stderr(&out));
    }
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn ps_filters_as_docker_and_shows_the_last_ones() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut web = exited("web1", 0);
    web.labels.insert("tier".into(), "front".into());
    web.created -= 30.0;
    add(r, &web);
    let mut db = exited("db1", 2);
    db.labels.insert("tier".into(), "back".into());
    db.image = "postgres".into();
    add(r, &db);
    let names = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        ok(r, &args).lines().map(str::to_owned).collect()
    };
    assert_eq!(names(&["label=tier=front"]), ["web1"]);
    assert_eq!(names(&["label=tier"]), ["db1", "web1"]);
    assert_eq!(names(&["name=db", "name=web"]), ["db1", "web1"]);
    assert_eq!(
        names(&["name=db", "label=tier=front"]),
        Vec::<String>::new()
    );
    assert_eq!(names(&["exited=2"]), ["db1"]);
    assert_eq!(names(&["status=exited", "ancestor=postgres"]), ["db1"]);
    assert_eq!(names(&["status=running"]), Vec::<String>::new());
    assert_eq!(names(&[&format!("id={}", &id_for("web1")[..6])]), ["web1"]);
    let err = fails(r, &["ps", "--filter", "colour=red"]);
    assert!(err.contains("invalid filter"), "{err}");
    // -n/-l see every state, newest first.
    assert_eq!(ok(r, &["ps", "-l", "--format", "{{.Names}}"]).trim(), "db1");
    assert_eq!(ok(r, &["ps", "-n", "2", "-q"]).lines().count(), 2);
}

/// Labels: the image's, then --label-file, then --label, the later winning.
#[test]
fn labels_merge_over_the_images() {
    let Some(c) = Ctx::new("labels", &["config"]) else {
        return;
    };
    let r = c.root();
    let file = r.join("labels");
    std::fs::write(&file, "# comment\nfrom=file\nio.pocky.fixture=file\n").unwrap();
    let image = c.image("config");
    let args = [
        "create",
        "--name",
        "lab",
        "-l",
        "from=flag",
        "--label",
        "only",
        "--label-file",
    ];
    let mut args = args.to_vec();
    args.extend([file.to_str().unwrap(), image.as_str()]);
    ok(r, &args);
    let labels = container(r, "lab")["Config"]["Labels"].clone();
    assert_eq!(
        labels["org.opencontainers.image.title"],
        "pocky-config-fixture"
    );
    assert_eq!(labels["io.pocky.fixture"], "file");
    assert_eq!(labels["from"], "flag");
    assert_eq!(labels["only"], "");
    let listed = ok(
        r,
        &["ps", "-a", "-q", "--filter", "label=io.pocky.fixture=file"],
    );
    assert_eq!(listed.lines().count(), 1);
    ok(r, &["rm", "lab"]);
}

/// `pocky container VERB` is the top-level verb; `container prune` takes
/// the stopped containers only.
#[test]
fn the_container_group_has_dockers_verbs() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    add(r, &exited("gone1", 0));
    add(r, &exited("gone2", 1));
    let listed = ok(r, &["container", "ls", "-a", "--format", "{{.Names}}"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert_eq!(ok(r, &["container", "list", "-aq"]).lines().count(), 2);
    ok(r, &["container", "rename", "gone1", "kept"]);
    assert_eq!(
        ok(r, &["container", "inspect", "kept"])
            .matches("\"Id\"")
            .count(),
        1
    );
    let pruned = ok(r, &["container", "prune", "-f"]);
    assert!(
        pruned.contains(&id_for("gone2")) && pruned.contains(&id_for("gone1")),
        "{pruned}"
    );
    assert!(ok(r, &["ps", "-aq"]).is_empty());
}

#[test]
fn update_changes_a_running_containers_limits_and_they_last() {
    let Some(c) = Ctx::new("update", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "up",
            "-m",
            "64m",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let limit = |r: &std::path::Path| {
        let s = ok(
            r,
            &["stats", "--no-stream", "--format", "{{.MemUsage}}", "up"],
        );
        s.trim().rsplit(" / ").next().unwrap().to_owned()
    };
    assert_eq!(limit(r), "64.00MiB");
    assert_eq!(
        ok(
            r,
            &[
                "update",
                "-m",
                "128m",
                "--cpus",
                "0.5",
                "--pids-limit",
                "50",
                "--restart",
                "on-failure:3",
                "up"
            ]
        )
        .trim(),
        "up"
    );
    // The running cgroup has it now, and the record says so.
    assert_eq!(limit(r), "128.00MiB");
    let v = container(r, "up");
    assert_eq!(v["HostConfig"]["Memory"], 128 << 20);
    assert_eq!(v["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(v["HostConfig"]["PidsLimit"], 50);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    // A new start of the container keeps the new limits.
    ok(r, &["restart", "-t", "1", "up"]);
    assert_eq!(limit(r), "128.00MiB");

    let err = fails(r, &["update", "-m", "1k", "up"]);
    assert!(err.contains("minimum memory limit"), "{err}");
    let err = fails(r, &["update", "up"]);
    assert!(err.contains("one or more flags"), "{err}");
    let err = fails(r, &["update", "-m", "64m", "nosuch"]);
    assert!(err.contains("no such container"), "{err}");
    assert_eq!(container(r, "up")["HostConfig"]["Memory"], 128 << 20);
    ok(r, &["rm", "-f", "up"]);
    assert!(tree(&r.join("containers")).is_empty());
}

/// A `--rm` container's root is an overlay mounted `volatile` (its writes
/// never need to reach the disk), and it still restarts: the mark that
/// overlayfs leaves behind such a mount must not stop the next one. A
/// kept container's root is mounted as usual.
#[test]
fn an_rm_containers_root_is_volatile_and_restarts() {
    let Some(c) = Ctx::new("volatile_rm", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let root_opts = "grep '^overlay / ' /proc/mounts";
    let kept = ok(
        r,
        &["run", "--name", "kept", &c.busybox(), "sh", "-c", root_opts],
    );
    assert!(!kept.contains("volatile"), "{kept}");
    ok(r, &["rm", "kept"]);
    let once = ok(r, &["run", "--rm", &c.busybox(), "sh", "-c", root_opts]);
    assert!(once.contains("volatile"), "{once}");

    ok(
        r,
        &[
            "run",
            "-d",
            "--rm",
            "--name",
            "svc",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    ok(r, &["restart", "-t", "1", "svc"]);
    let again = ok(r, &["exec", "svc", "sh", "-c", root_opts]);
    assert!(again.contains("volatile"), "{again}");
    // As in Docker, a restart keeps the container and `--rm` still holds
    // for its next exit.
    ok(r, &["stop", "-t", "1", "svc"]);
    assert!(tree(&r.join("containers")).is_empty());
}
