//! End-to-end tests of the `pocky-runtime` binary on a busybox bundle made
//! by skopeo and umoci (not by pocky), inside `ci/sandbox`.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

mod common;
use common::{Env, cgroup_dirs, text};

#[test]
fn create_start_kill_delete_and_the_state_machine() {
    let Some(env) = Env::new("oci_lifecycle", &["sh", "-c", "echo started; sleep 300"]) else {
        return;
    };
    let cg = env.set_cgroup("life");
    let out = env.create("life", &[]);
    let st = env.state("life");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "life");
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(Path::new(st["bundle"].as_str().unwrap()), env.bundle());
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert!(cgroup_dirs(&cg).iter().all(|d| d.exists()), "cgroup made");
    assert!(env.root().join("life/exec.fifo").exists());
    // A created container has not run its process yet.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
    assert!(
        env.fails(&["create", "--bundle", env.bundle().to_str().unwrap(), "life"])
            .contains("already exists")
    );

    env.ok(&["start", "life"]);
    assert_eq!(env.state("life")["status"], "running");
    assert!(env.fails(&["start", "life"]).contains("already running"));
    assert!(env.fails(&["delete", "life"]).contains("not stopped"));
    let pids: Vec<i32> =
        serde_json::from_slice(&env.ok(&["ps", "--format", "json", "life"]).stdout).unwrap();
    assert!(pids.contains(&(env.state("life")["pid"].as_i64().unwrap() as i32)));

    env.ok(&["pause", "life"]);
    assert_eq!(env.state("life")["status"], "paused");
    env.ok(&["resume", "life"]);
    assert_eq!(env.state("life")["status"], "running");

    env.ok(&["kill", "life", "KILL"]);
    env.wait_status("life", "stopped");
    assert!(env.fails(&["kill", "life", "9"]).contains("not running"));
    assert!(env.fails(&["start", "life"]).contains("stopped"));
    assert!(std::fs::read_to_string(&out).unwrap().contains("started"));

    env.ok(&["delete", "life"]);
    assert!(!env.root().join("life").exists(), "state dir removed");
    assert!(
        cgroup_dirs(&cg).iter().all(|d| !d.exists()),
        "cgroup removed"
    );
    assert!(env.fails(&["state", "life"]).contains("does not exist"));
}

#[test]
fn delete_force_kills_a_running_container_and_removes_everything() {
    let Some(env) = Env::new("oci_delete_force", &["sleep", "300"]) else {
        return;
    };
    let cg = env.set_cgroup("forced");
    env.create("forced", &[]);
    env.ok(&["start", "forced"]);
    let list = text(&env.ok(&["list", "-q"]).stdout);
    assert_eq!(list.trim(), "forced");
    env.ok(&["delete", "--force", "forced"]);
    assert!(!env.root().join("forced").exists());
    assert!(cgroup_dirs(&cg).iter().all(|d| !d.exists()));
    // A created (never started) container needs no --force.
    env.create("fresh", &[]);
    env.ok(&["delete", "fresh"]);
    assert!(!env.root().join("fresh").exists());
}

/// The cgroup path of `pid` for `controller` ("" for the v2 line).
fn cgroup_of(pid: &str, controller: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .map(|l| l.splitn(3, ':').collect::<Vec<_>>())
        .find(|f| f.len() == 3 && f[1].split(',').any(|c| c == controller))
        .map(|f| f[2].to_string())
        .unwrap_or_else(|| panic!("no {controller} line in {text}"))
}

#[test]
fn relative_cgroups_path_is_below_the_runtimes_own_cgroup() {
    let Some(env) = Env::new("oci_relative_cgroup", &["sleep", "300"]) else {
        return;
    };
    // As runc: a path without a leading `/` is joined to the cgroup the
    // runtime runs in, per controller (this test's own, inherited).
    let rel = format!("{}/rel", env.cgroup_parent);
    let r = rel.clone();
    env.edit(|s| s["linux"]["cgroupsPath"] = r.into());
    env.create("rel", &[]);
    let pid = env.state("rel")["pid"].to_string();
    let v1 = Path::new("/sys/fs/cgroup/memory/tasks").exists();
    let controllers: &[&str] = if v1 { &["memory", "pids"] } else { &[""] };
    for c in controllers {
        let own = cgroup_of("self", c);
        let want = Path::new(&own).join(&rel);
        assert_eq!(Path::new(&cgroup_of(&pid, c)), want, "controller {c:?}");
    }
    env.ok(&["delete", "--force", "rel"]);
    for c in controllers {
        let dir = Path::new("/sys/fs/cgroup")
            .join(c)
            .join(cgroup_of("self", c).trim_start_matches('/'))
            .join(&rel);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    // No cgroupsPath at all: runc's default, the id below the own cgroup.
    env.edit(|s| s["linux"]["cgroupsPath"] = Value::Null);
    let id = format!("pocky-oci-default-{}", std::process::id());
    env.create(&id, &[]);
    let pid = env.state(&id)["pid"].to_string();
    let c = controllers[controllers.len() - 1];
    let want = Path::new(&cgroup_of("self", c)).join(&id);
    assert_eq!(Path::new(&cgroup_of(&pid, c)), want);
    env.ok(&["delete", "--force", &id]);
    assert!(!env.root().join(&id).exists());
}

#[test]
fn run_to_completion_prints_and_exits_with_the_status() {
    let Some(env) = Env::new("oci_run", &["sh", "-c", "echo hi from $(hostname); exit 3"]) else {
        return;
    };
    let cg = env.set_cgroup("runner");
    env.edit(|s| s["hostname"] = "runner-host".into());
    let out = env.on_bundle("run", "runner");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi from runner-host\n");
    assert!(
        !env.root().join("runner").exists(),
        "run deletes the container"
    );
    assert!(cgroup_dirs(&cg).iter().all(|d| !d.exists()));
}

#[test]
fn errors_go_to_the_log_as_json_lines() {
    let Some(env) = Env::new("oci_log", &["true"]) else {
        return;
    };
    let log = env.dir.path().join("log.json");
    let out = env
        .cmd(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format=json",
            "start",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = std::fs::read_to_string(&log).unwrap();
    let v: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("nope does not exist"));
    assert!(v["time"].as_str().unwrap().contains('T'));
    let msg = env.fails(&["--systemd-cgroup", "create", "x"]);
    assert!(msg.contains("--systemd-cgroup is not supported"), "{msg}");
}

/// Receives one descriptor sent with SCM_RIGHTS.
fn recv_fd(listener: &UnixListener) -> OwnedFd {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&conn),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just gave us this descriptor.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received");
}

#[test]
fn console_socket_receives_the_pty_master() {
    let Some(env) = Env::new("oci_console", &["sh", "-c", "tty; echo console-ok"]) else {
        return;
    };
    env.set_cgroup("tty");
    env.edit(|s| s["process"]["terminal"] = true.into());
    let sock = env.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    env.create("tty", &["--console-socket", sock.to_str().unwrap()]);
    let master = receiver.join().unwrap();
    env.ok(&["start", "tty"]);
    let mut f = std::fs::File::from(master);
    let mut got = String::new();
    let mut buf = [0u8; 256];
    // Reading a pty master whose slave side closed ends in EIO.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.push_str(&text(&buf[..n]));
        if got.contains("console-ok") {
            break;
        }
    }
    assert!(got.contains("/dev/pts/0"), "{got:?}");
    assert!(got.contains("console-ok"), "{got:?}");
    env.wait_status("tty", "stopped");
    env.ok(&["delete", "tty"]);
    // A terminal without a console socket is refused.
    let bundle = env.bundle();
    let msg = env.fails(&["create", "--bundle", bundle.to_str().unwrap(), "tty2"]);
    assert!(msg.contains("--console-socket"), "{msg}");
    assert!(!env.root().join("tty2").exists());
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    let Some(env) = Env::new("oci_hooks", &["true"]) else {
        return;
    };
    env.set_cgroup("hooked");
    let marks = env.dir.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let hook = |name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}/{name}", marks.display())],
        })
    };
    // startContainer runs in the container: its path and file are there.
    let in_container = serde_json::json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", "cat > /startContainer"],
    });
    env.edit(|s| {
        s["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
            "startContainer": [in_container],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    env.edit(|s| s["annotations"] = serde_json::json!({"org.example.hook": "stdin test"}));
    env.create("hooked", &[]);
    let pid = env.state("hooked")["pid"].as_i64().unwrap();
    let bundle = env.bundle().to_str().unwrap().to_owned();
    for name in ["prestart", "createRuntime", "createContainer"] {
        let st: Value = serde_json::from_slice(&std::fs::read(marks.join(name)).unwrap()).unwrap();
        assert_eq!(st["id"], "hooked", "{name}");
        assert_eq!(st["pid"], pid, "{name}");
        assert_eq!(st["status"], "created", "{name}");
        assert_eq!(st["bundle"], bundle.as_str(), "{name}");
        assert_eq!(
            st["annotations"]["org.example.hook"], "stdin test",
            "{name}"
        );
    }
    assert!(!marks.join("poststart").exists());
    env.ok(&["start", "hooked"]);
    let st: Value =
        serde_json::from_slice(&std::fs::read(marks.join("poststart")).unwrap()).unwrap();
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["annotations"]["org.example.hook"], "stdin test");
    let inside = env.bundle().join("rootfs/startContainer");
    let st: Value = serde_json::from_slice(&std::fs::read(&inside).unwrap()).unwrap();
    assert_eq!(st["id"], "hooked");
    env.wait_status("hooked", "stopped");
    env.ok(&["delete", "hooked"]);
    let st: Value =
        serde_json::from_slice(&std::fs::read(marks.join("poststop")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["bundle"], bundle.as_str());
    assert_eq!(st["annotations"]["org.example.hook"], "stdin test");
}

#[test]
fn preserve_fds_hands_descriptors_to_the_container() {
    let Some(env) = Env::new("oci_preserve_fds", &["sh", "-c", "echo init-wrote >&3"]) else {
        return;
    };
    env.set_cgroup("fds");
    let bundle = env.bundle();
    let out_file = env.dir.path().join("fd3.out");
    // sh opens fd 3 on the file and execs the runtime with it, as conmon
    // hands over a socket-activation socket.
    let wrap = |args: &[&str]| {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg("exec 3>>\"$0\"; exec \"$@\"")
            .arg(&out_file)
            .arg(common::BIN)
            .arg("--root")
            .arg(env.root())
            .args(args)
            .stdin(Stdio::null());
        c
    };
    let out = wrap(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.to_str().unwrap(),
        "fds",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "init-wrote\n");

    // Without the flag the descriptor does not reach the container.
    env.edit(|s| s["process"]["args"] = serde_json::json!(["sh", "-c", "echo leaked >&3"]));
    let out = wrap(&["run", "--bundle", bundle.to_str().unwrap(), "fds"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "fd 3 leaked into the container");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "init-wrote\n");

    // exec --preserve-fds, into a running container.
    env.edit(|s| s["process"]["args"] = serde_json::json!(["sleep", "300"]));
    env.create("fds", &[]);
    env.ok(&["start", "fds"]);
    let out = wrap(&[
        "exec",
        "--preserve-fds",
        "1",
        "fds",
        "sh",
        "-c",
        "echo exec-wrote >&3",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "init-wrote\nexec-wrote\n"
    );
    env.ok(&["delete", "--force", "fds"]);
}

#[test]
fn failing_hooks_follow_the_spec() {
    let Some(env) = Env::new("oci_hooks_fail", &["sleep", "300"]) else {
        return;
    };
    let cg = env.set_cgroup("hookfail");
    let failing = serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}]);
    // A failing prestart hook fails create, which leaves nothing.
    env.edit(|s| s["hooks"] = serde_json::json!({"prestart": failing}));
    let out = env.on_bundle("create", "hookfail");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("hook"), "{}", text(&out.stderr));
    assert!(!env.root().join("hookfail").exists());
    assert!(cgroup_dirs(&cg).iter().all(|d| !d.exists()));

    // poststart and poststop failures are warnings: the lifecycle goes on.
    env.edit(|s| s["hooks"] = serde_json::json!({"poststart": failing, "poststop": failing}));
    env.create("hookfail", &[]);
    let out = env.cmd(&["start", "hookfail"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("poststart"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.state("hookfail")["status"], "running");
    let out = env
        .cmd(&["delete", "--force", "hookfail"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("poststop"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.root().join("hookfail").exists());

    // A startContainer hook (run by the init, in the container) that
    // outlives its timeout is killed and fails the start.
    env.edit(|s| {
        s["hooks"] = serde_json::json!({"startContainer": [
            {"path": "/bin/sleep", "args": ["sleep", "600"], "timeout": 1}]});
    });
    env.create("hookfail", &[]);
    let out = env.cmd(&["start", "hookfail"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    env.ok(&["delete", "--force", "hookfail"]);
}

#[test]
fn config_edited_after_create_does_not_count() {
    let Some(env) = Env::new("oci_config_updates", &["sleep", "300"]) else {
        return;
    };
    env.set_cgroup("frozen-config");
    env.edit(|s| s["process"]["env"] = serde_json::json!(["PATH=/bin", "WHICH=original"]));
    env.create("frozen-config", &[]);
    env.ok(&["start", "frozen-config"]);
    // As runtime-tools' config_updates_without_affect: the bundle changes,
    // the container's processes (exec among them) do not.
    env.edit(|s| {
        s["process"]["env"] = serde_json::json!(["PATH=/bin", "WHICH=edited"]);
        s["linux"]["namespaces"] = serde_json::json!([]);
    });
    let out = env.ok(&[
        "exec",
        "frozen-config",
        "sh",
        "-c",
        "echo $WHICH $(readlink /proc/self/ns/mnt)",
    ]);
    let init = env.state("frozen-config")["pid"].to_string();
    let init_mnt = std::fs::read_link(format!("/proc/{init}/ns/mnt")).unwrap();
    // The container's mount namespace, which the edit removed, all the same.
    assert_eq!(
        text(&out.stdout).trim(),
        format!("original {}", init_mnt.display())
    );
    env.ok(&["delete", "--force", "frozen-config"]);
}

#[test]
fn run_in_the_foreground_relays_a_terminal_of_its_own() {
    let Some(env) = Env::new(
        "oci_run_tty",
        &["sh", "-c", "tty; read line; echo got $line"],
    ) else {
        return;
    };
    env.set_cgroup("tty-run");
    // `runc spec`'s default: a terminal, and no console socket given.
    env.edit(|s| s["process"]["terminal"] = true.into());
    let bundle = env.bundle();
    let cmd = format!(
        "echo hello | {} --root {} run --bundle {} tty-run",
        common::BIN,
        env.root().display(),
        bundle.display()
    );
    // script(1) gives the runtime a terminal of its own to relay to.
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let seen = text(&out.stdout);
    assert!(out.status.success(), "{seen} {}", text(&out.stderr));
    assert!(seen.contains("/dev/pts/"), "{seen}");
    assert!(seen.contains("got hello"), "{seen}");
    assert!(!env.root().join("tty-run").exists());
}

/// runtime-tools' `start`: an error without an id, for an unknown id and
/// for a stopped container (which it leaves as it was); the process runs
/// once, only at `start`.
#[test]
fn start_runs_the_process_once_and_only_when_created() {
    let Some(env) = Env::new("oci_start", &["sh", "-c", "echo called >> /output"]) else {
        return;
    };
    env.set_cgroup("once");
    let output = env.bundle().join("rootfs/output");
    assert_ne!(env.cmd(&["start"]).output().unwrap().status.code(), Some(0));
    assert!(env.fails(&["start", "once"]).contains("does not exist"));
    env.create("once", &[]);
    assert!(!output.exists(), "the process ran at create");
    env.ok(&["start", "once"]);
    env.wait_status("once", "stopped");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "called\n");
    assert!(env.fails(&["start", "once"]).contains("stopped"));
    assert_eq!(env.state("once")["status"], "stopped");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "called\n");
    env.ok(&["delete", "once"]);
}

/// runtime-tools' `poststart`: the hook runs after the process was
/// executed. pocky-runtime's `start` runs the hook only once the init's
/// exec has closed exec.fifo, so the container's pid is in the process's
/// own program (busybox here, not pocky-runtime's init) when the hook looks.
#[test]
fn poststart_runs_after_the_process_is_executed() {
    let Some(env) = Env::new("oci_poststart", &["sleep", "300"]) else {
        return;
    };
    env.set_cgroup("post");
    let hook_saw = env.dir.path().join("hook-saw");
    env.edit(|s| {
        s["hooks"] = serde_json::json!({"poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); readlink /proc/$pid/exe > {}",
                hook_saw.display())],
        }]});
    });
    env.create("post", &[]);
    assert!(!hook_saw.exists(), "poststart ran at create");
    env.ok(&["start", "post"]);
    let exe = std::fs::read_to_string(&hook_saw).unwrap();
    assert!(exe.trim_end().ends_with("busybox"), "the hook saw {exe:?}");
    env.ok(&["kill", "post", "KILL"]);
    env.wait_status("post", "stopped");
    env.ok(&["delete", "post"]);
}
