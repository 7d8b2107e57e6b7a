//! End-to-end tests of `pocky run` and `exec` in the sandbox: exit codes,
//! image config, isolation, the pty (limits: limits.rs).

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::*;

#[test]
fn exit_codes_and_streams() {
    let Some(c) = Ctx::new("exit_codes_and_streams", &["busybox"]) else {
        return;
    };
    let o = c.sh(&[], "echo out; echo err >&2; exit 3");
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(c.sh(&[], "true").status.code(), Some(0));
    let o = c.run(&["--rm", &c.busybox(), "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    let o = c.run(&["--rm", &c.busybox(), "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    // The container was removed each time (--rm): nothing is left.
    assert!(tree(&c.root().join("containers")).is_empty());
}

#[test]
fn image_config_and_flags() {
    let Some(c) = Ctx::new("image_config_and_flags", &["busybox"]) else {
        return;
    };
    let image = c.image("config");
    let o = c.run(&["--rm", &image]);
    assert_eq!(stdout(&o), "hello from fixture\n", "{}", stderr(&o));
    let o = c.run(&[
        "--rm",
        &image,
        "id -u; id -g; id -G; pwd; echo $GREETING $HOME",
    ]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}{}", stderr(&o));
    assert_eq!(lines[1], "1000");
    assert!(
        lines[2].split(' ').count() >= 2,
        "supplementary groups: {out}"
    );
    assert_eq!(lines[3], "/work");
    assert!(lines[4].starts_with("fixture /"), "{out}");
    let o = c.run(&[
        "--rm",
        "-e",
        "GREETING=flag",
        "-u",
        "0:0",
        "-w",
        "/made/by/pocky",
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "echo $GREETING; id -u; pwd",
    ]);
    assert_eq!(stdout(&o), "flag\n0\n/made/by/pocky\n", "{}", stderr(&o));
    let o = c.run(&[
        "--rm",
        "--hostname",
        "box",
        "-u",
        "nobody",
        &c.busybox(),
        "sh",
        "-c",
        "hostname; id -un",
    ]);
    assert_eq!(stdout(&o), "box\nnobody\n", "{}", stderr(&o));
    let o = c.run(&["--rm", "-u", "ghost", &c.busybox(), "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("ghost"), "{}", stderr(&o));
}

#[test]
fn isolation() {
    let Some(c) = Ctx::new("isolation", &["busybox"]) else {
        return;
    };
    let o = c.sh(
        &[],
        "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '",
    );
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    let visible: u32 = lines[1].parse().unwrap();
    assert!(visible <= 4, "host processes visible: {out}");
    // The host's files are not reachable: a path only the host has.
    let marker = tempfile::tempdir().unwrap();
    std::fs::write(marker.path().join("host-secret"), "x").unwrap();
    let secret = marker.path().join("host-secret");
    let o = c.sh(
        &[],
        &format!(
            "test -e {} && echo visible || echo hidden",
            secret.display()
        ),
    );
    assert_eq!(stdout(&o), "hidden\n");
    // The container's mounts hold nothing of the host's tree.
    let o = c.sh(&[], "cat /proc/self/mountinfo");
    assert!(!stdout(&o).contains(&c.root().display().to_string()) || stdout(&o).contains(" / / "));
    // Writes stay in the container that made them.
    let o = c.sh(
        &["--name", "writer"],
        "echo changed > /etc/motd-new; rm /bin/true; ls /etc/motd-new",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = c.sh(
        &[],
        "test -e /etc/motd-new && echo leaked; test -e /bin/true && echo intact",
    );
    assert_eq!(stdout(&o), "intact\n");
}

#[test]
fn double_chroot_escape_fails() {
    let Some(c) = Ctx::new("double_chroot_escape_fails", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("escape.c");
    std::fs::write(
        &src,
        r#"#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    mkdir("/jail", 0755);
    int fd = open("/", O_RDONLY);
    if (chroot("/jail") != 0) { perror("chroot"); return 2; }
    fchdir(fd);
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    if (access(argv[1], F_OK) == 0) { puts("escaped"); return 1; }
    puts("contained");
    return 0;
}
"#,
    )
    .unwrap();
    let bin = dir.path().join("escape");
    let gcc = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("gcc (installed by ci/install)");
    assert!(gcc.success());
    std::fs::write(dir.path().join("host-only"), "x").unwrap();
    let host_only = dir.path().join("host-only");
    // Copy the program in through exec -i, then run it inside.
    let id = c.run_busybox(&["-d"], &["sleep", "1000"]);
    let id = id.trim();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(c.root())
        .args([
            "exec",
            "-i",
            id,
            "sh",
            "-c",
            "cat > /escape; chmod 755 /escape",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&bin).unwrap())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let o = pocky(
        c.root(),
        &["exec", id, "/escape", &host_only.display().to_string()],
    );
    assert_eq!(stdout(&o), "contained\n", "{}", stderr(&o));
    ok(c.root(), &["rm", "-f", id]);
}

#[test]
fn interactive_tty_shell() {
    let Some(c) = Ctx::new("interactive_tty_shell", &["busybox"]) else {
        return;
    };
    let mut master = 0;
    let mut slave = 0;
    // SAFETY: openpty fills two fds; no name, termios or winsize given.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: fresh fds from openpty, owned here.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(c.root())
        .args(["run", "--rm", "-it", &c.busybox(), "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut m = master.try_clone().unwrap();
    // Type only once the shell shows its prompt, as a person would.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("# ") {
        let n = m.read(&mut buf).unwrap();
        assert!(n > 0, "pty closed before the prompt");
        seen.extend_from_slice(&buf[..n]);
    }
    m.write_all(b"echo tty=$(tty); exit 5\n").unwrap();
    let status = child.wait().unwrap();
    // Read what the container echoed; the pty stays readable after exit.
    let mut out = Vec::new();
    // SAFETY: switching our own fd to non-blocking.
    unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::F_SETFL,
            libc::O_NONBLOCK,
        )
    };
    let mut r = master;
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(5), "{text}");
    assert!(text.contains("tty=/dev/pts/0"), "{text}");
}

fn pid_of_monitor(container_pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{container_pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn killed_monitor_leaves_an_exited_container_that_rm_cleans() {
    let Some(c) = Ctx::new("killed_monitor", &["busybox"]) else {
        return;
    };
    let id = c.run_busybox(&["-d"], &["sleep", "1000"]);
    let id = id.trim().to_owned();
    let info: serde_json::Value = serde_json::from_str(&ok(c.root(), &["inspect", &id])).unwrap();
    let pid = info[0]["State"]["Pid"].as_i64().unwrap() as i32;
    assert!(pid > 0, "{info}");
    // The monitor is the container's parent: SIGKILL it, then the container.
    let monitor = pid_of_monitor(pid).unwrap();
    // SAFETY: plain kill(2) of processes this test started.
    unsafe {
        libc::kill(monitor, libc::SIGKILL);
    }
    // Orphaned but alive: still running.
    let ps = ok(c.root(), &["ps", "-q", "--no-trunc"]);
    assert!(ps.contains(&id), "{ps}");
    // SAFETY: plain kill(2) of the container this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let mut status = String::new();
    for _ in 0..100 {
        status = ok(c.root(), &["ps", "-a", "--format", "json"]);
        if status.contains("Exited") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(status.contains("Exited (255)"), "{status}");
    ok(c.root(), &["rm", &id]);
    assert!(tree(&c.root().join("containers")).is_empty());
    assert!(v1_cgroup_file("memory", &id, "tasks").is_none());
    assert!(v1_cgroup_file("pids", &id, "tasks").is_none());
}

#[test]
fn detached_survives_the_cli_and_rm_leaves_nothing() {
    let Some(c) = Ctx::new("detached_survives", &["busybox"]) else {
        return;
    };
    let id = ok(
        c.root(),
        &[
            "run",
            "-d",
            "--name",
            "bg",
            &c.busybox(),
            "sh",
            "-c",
            "echo up; sleep 1000",
        ],
    );
    let id = id.trim().to_owned();
    // The CLI has exited; the container runs and its output is in the log.
    let mut logs = String::new();
    for _ in 0..100 {
        logs = ok(c.root(), &["logs", "bg"]);
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(logs, "up\n");
    assert!(ok(c.root(), &["ps"]).contains("bg"));
    assert!(v1_cgroup_file("pids", &id, "tasks").is_some());
    ok(c.root(), &["rm", "-f", "bg"]);
    assert!(tree(&c.root().join("containers")).is_empty());
    assert!(v1_cgroup_file("pids", &id, "tasks").is_none());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "a mount of the container remains");
    // --rm in the foreground removes too.
    ok(
        c.root(),
        &["run", "--rm", "--name", "gone", &c.busybox(), "true"],
    );
    assert!(!ok(c.root(), &["ps", "-a"]).contains("gone"));
}

#[test]
fn an_image_of_eighty_layers_runs_and_leaves_no_links() {
    let Some(ctx) = Ctx::new("eighty_layers", &["deep"]) else {
        return;
    };
    // Every layer is in the stack, the top-most one wins: more layers than
    // one overlay mount option holds, so pocky mounts through short links.
    let out = ctx.sh_in(
        "deep",
        &["--network", "none"],
        "ls /deep | grep -c '^[0-9]*$'; cat /deep/top /deep/1 /deep/79",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "79\n79\n1\n79\n");
    // --rm took the container directory, links and all.
    let containers = ctx.root().join("containers");
    assert!(tree(&containers).is_empty(), "{:?}", tree(&containers));
}

/// A server that says which signal stopped it, as nginx (SIGQUIT) and
/// PostgreSQL (SIGINT) need theirs: `stop` sends the image's StopSignal,
/// `--stop-signal` overrides it, and an image without one gets SIGTERM.
#[test]
fn stop_sends_the_images_stop_signal() {
    let Some(c) = Ctx::new("stop_signal", &["busybox", "config"]) else {
        return;
    };
    let server = "for s in QUIT TERM USR1 INT; do trap \"echo got $s; exit 3\" $s; done; \
                  echo ready; sleep 300 & wait";
    let inspect = |name: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&ok(c.root(), &["inspect", name])).unwrap()[0]
            .clone()
    };
    let started = |name: &str| {
        for _ in 0..500 {
            if ok(c.root(), &["logs", name]).contains("ready") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{name} never became ready");
    };
    let cases = [
        (
            "quit",
            vec![c.image("config"), server.to_owned()],
            "got QUIT",
            Some("SIGQUIT"),
        ),
        (
            "usr1",
            vec![
                "--stop-signal".into(),
                "USR1".into(),
                c.image("config"),
                server.into(),
            ],
            "got USR1",
            Some("USR1"),
        ),
        (
            "term",
            vec![c.busybox(), "sh".into(), "-c".into(), server.into()],
            "got TERM",
            None,
        ),
    ];
    for (name, rest, said, shown) in cases {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend(rest.iter().map(String::as_str));
        ok(c.root(), &args);
        started(name);
        let v = inspect(name);
        assert_eq!(v["Config"]["StopSignal"].as_str(), shown, "{name}");
        ok(c.root(), &["stop", "-t", "30", name]);
        let logs = ok(c.root(), &["logs", name]);
        assert!(logs.contains(said), "{name}: {logs}");
        assert_eq!(inspect(name)["State"]["ExitCode"], 3, "{name}");
        ok(c.root(), &["rm", name]);
    }
    // `stop -s` overrides the image's signal for that stop.
    let mut args = vec!["run", "-d", "--name", "int"];
    let image = c.image("config");
    args.extend([image.as_str(), server]);
    ok(c.root(), &args);
    started("int");
    ok(c.root(), &["stop", "-s", "INT", "int"]);
    assert!(ok(c.root(), &["logs", "int"]).contains("got INT"));
    ok(c.root(), &["rm", "int"]);
    // `-h` is --hostname, as in Docker's run.
    let name = ok(
        c.root(),
        &["run", "--rm", "-h", "boxy", &c.busybox(), "hostname"],
    );
    assert_eq!(name.trim(), "boxy");
    // A signal that does not exist fails the run before anything is made.
    let out = c.run(&["--stop-signal", "SIGNOPE", &c.busybox(), "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGNOPE"), "{}", stderr(&out));
    assert!(tree(&c.root().join("containers")).is_empty());
}
