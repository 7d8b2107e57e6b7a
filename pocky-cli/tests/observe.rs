//! Watching containers from outside: `stats` reads what they use.

mod common;

use common::*;

fn stats_rows(root: &std::path::Path, names: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["stats", "--no-stream", "--format", "json"];
    args.extend_from_slice(names);
    ok(root, &args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn stats_shows_the_busy_and_the_idle_container() {
    let Some(c) = Ctx::new("stats", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "busy",
            "-m",
            "64m",
            &c.busybox(),
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    ok(
        r,
        &["run", "-d", "--name", "idle", &c.busybox(), "sleep", "1000"],
    );

    let rows = stats_rows(r, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_name = |n: &str| rows.iter().find(|v| v["Name"] == n).unwrap().clone();
    let busy = by_name("busy");
    let cpu: f64 = busy["CPUPerc"]
        .as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    // A spinning shell uses a visible share of a CPU; no exact figure is
    // asserted, only that the counter was read and divided by time.
    assert!(cpu > 1.0, "{busy}");
    assert!(
        busy["MemUsage"].as_str().unwrap().ends_with("/ 64.00MiB"),
        "{busy}"
    );
    assert_eq!(busy["PIDs"], "1", "{busy}");
    let idle = by_name("idle");
    assert_eq!(idle["PIDs"], "1", "{idle}");
    assert!(idle["MemPerc"].as_str().unwrap().ends_with('%'), "{idle}");

    // The table has Docker's columns; a named stopped container shows
    // zeros, a missing one is an error.
    let table = ok(r, &["stats", "--no-stream", "idle"]);
    let header = table.lines().next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "PIDS",
    ] {
        assert!(header.contains(col), "{table}");
    }
    assert_eq!(table.lines().count(), 2, "{table}");
    ok(r, &["stop", "-t", "1", "busy"]);
    let stopped = stats_rows(r, &["busy"]);
    assert_eq!(stopped[0]["CPUPerc"], "0.00%", "{stopped:?}");
    assert_eq!(stopped[0]["PIDs"], "0", "{stopped:?}");
    assert_eq!(stats_rows(r, &[]).len(), 1);
    let err = fails(r, &["stats", "--no-stream", "nosuch"]);
    assert!(err.contains("no such container"), "{err}");
    let tmpl = ok(
        r,
        &[
            "container",
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}:{{.PIDs}}",
            "idle",
        ],
    );
    assert_eq!(tmpl.trim(), "idle:1");

    ok(r, &["rm", "-f", "busy", "idle"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn top_lists_every_process_of_the_container_with_host_pids() {
    let Some(c) = Ctx::new("top", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "tp",
            &c.busybox(),
            "sh",
            "-c",
            "sleep 1001 & sleep 1002",
        ],
    );
    // `exec`'d processes belong to the container too.
    ok(r, &["exec", "-d", "tp", "sleep", "1003"]);
    let pid =
        serde_json::from_str::<serde_json::Value>(&ok(r, &["inspect", "tp"])).unwrap()[0]["State"]
            ["Pid"]
            .as_i64()
            .unwrap();
    let out = ok(r, &["top", "tp"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for sleep in ["1001", "1002", "1003"] {
        assert!(rows.iter().any(|r| r.ends_with(&["sleep", sleep])), "{out}");
    }
    let first = rows.iter().find(|r| r[1] == pid.to_string()).unwrap();
    assert_eq!(first[0], "root", "{out}");
    // busybox sh execs its last command: the first process is that sleep.
    assert!(first.ends_with(&["sleep", "1002"]), "{out}");

    let aux = ok(r, &["container", "top", "tp", "aux"]);
    assert!(aux.starts_with("USER"), "{aux}");
    assert!(aux.lines().next().unwrap().contains("%MEM"), "{aux}");
    let err = fails(r, &["top", "tp", "-o", "pid"]);
    assert!(err.contains("not supported"), "{err}");
    ok(r, &["stop", "-t", "1", "tp"]);
    let err = fails(r, &["top", "tp"]);
    assert!(err.contains("is not running"), "{err}");
    ok(r, &["rm", "tp"]);
    assert!(tree(&r.join("containers")).is_empty());
}

fn actions(root: &std::path::Path, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["events", "--format", "json"];
    all.extend_from_slice(args);
    ok(root, &all)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["Type"].as_str().unwrap().to_owned(),
                v["Action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn events_record_the_lifecycle_and_follow_new_ones() {
    let Some(c) = Ctx::new("events", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .to_string();
    ok(
        r,
        &["run", "-d", "--name", "ev", &c.busybox(), "sleep", "1000"],
    );
    // sleep as PID 1 ignores SIGTERM: the stop ends in SIGKILL.
    ok(r, &["stop", "-t", "1", "ev"]);
    ok(r, &["rm", "ev"]);
    ok(r, &["volume", "create", "evvol"]);
    ok(r, &["volume", "rm", "evvol"]);
    let seen = actions(r, &["--since", &t0, "--until", "0s"]);
    let container: Vec<&str> = seen
        .iter()
        .filter(|(t, _)| t == "container")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(
        container,
        ["create", "start", "kill", "die", "stop", "destroy"],
        "{seen:?}"
    );
    assert!(
        seen.contains(&("volume".into(), "create".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("volume".into(), "destroy".into())),
        "{seen:?}"
    );

    // Filters, and Docker's plain line with the attributes.
    let die = ok(
        r,
        &["events", "--since", &t0, "--until", "0s", "-f", "event=die"],
    );
    assert_eq!(die.lines().count(), 1, "{die}");
    assert!(die.contains(" container die "), "{die}");
    assert!(
        die.contains("exitCode=137") && die.contains("name=ev"),
        "{die}"
    );
    let none = ok(
        r,
        &[
            "events",
            "--since",
            &t0,
            "--until",
            "0s",
            "-f",
            "container=other",
        ],
    );
    assert!(none.is_empty(), "{none}");
    let err = fails(r, &["events", "-f", "colour=red"]);
    assert!(err.contains("invalid filter"), "{err}");

    // A follower sees what happens after it starts.
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
        .args([
            "--root",
            r.to_str().unwrap(),
            "events",
            "-f",
            "container=fol",
        ])
        .args(["--format", "{{.Action}}"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // The follower starts at the log's end; the container may come before
    // it looked, so keep making events until one arrives.
    let mut got = Vec::new();
    for _ in 0..20 {
        ok(r, &["run", "--rm", "--name", "fol", &c.busybox(), "true"]);
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(2)) {
            got.push(line);
        }
        if got.iter().any(|a| a == "destroy") {
            break;
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(got.iter().any(|a| a == "start"), "{got:?}");
    assert!(got.iter().any(|a| a == "die"), "{got:?}");
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn diff_shows_what_the_container_changed_and_not_its_mount_points() {
    let Some(c) = Ctx::new("diff", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "--name",
            "df",
            "-v",
            "dfvol:/data",
            &c.busybox(),
            "sh",
            "-c",
            "echo hi > /tmp/x; rm /bin/ls; mkdir -p /srv/a; echo v > /data/v",
        ],
    );
    let out = ok(r, &["diff", "df"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "C /bin",
            "D /bin/ls",
            "A /srv",
            "A /srv/a",
            "C /tmp",
            "A /tmp/x"
        ],
        "{out}"
    );
    assert_eq!(ok(r, &["container", "diff", "df"]), out);
    let err = fails(r, &["diff", "nosuch"]);
    assert!(err.contains("no such container"), "{err}");
    ok(r, &["rm", "-v", "df"]);
    ok(r, &["volume", "rm", "dfvol"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn logs_since_and_until_and_attach_follows_until_the_exit() {
    let Some(c) = Ctx::new("attach", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "lg",
            &c.busybox(),
            "sh",
            "-c",
            "echo one; echo two >&2",
        ],
    );
    ok(r, &["wait", "lg"]);
    assert_eq!(ok(r, &["logs", "lg"]), "one\n");
    assert_eq!(ok(r, &["logs", "--since", "1h", "lg"]), "one\n");
    assert_eq!(ok(r, &["logs", "--until", "1h", "lg"]), "");
    assert_eq!(ok(r, &["logs", "--since", "0s", "--until", "0s", "lg"]), "");
    let err = fails(r, &["logs", "--since", "soon", "lg"]);
    assert!(err.contains("invalid time"), "{err}");
    let err = fails(r, &["attach", "lg"]);
    assert!(err.contains("start it first"), "{err}");

    let script = "trap 'echo bye; exit 4' TERM; echo started; \
                  while :; do sleep 0.1; done";
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "at",
            &c.busybox(),
            "sh",
            "-c",
            script,
        ],
    );
    eventually("the first line in the log", || {
        ok(r, &["logs", "at"]) == "started\n"
    });
    let mut attach = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
        .args(["--root", r.to_str().unwrap(), "attach", "at"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // attach proxies signals once it has blocked them (SigBlk in /proc):
    // only then is a SIGTERM for the container, not for attach itself.
    let status_path = format!("/proc/{}/status", attach.id());
    eventually("attach blocking SIGTERM", || {
        std::fs::read_to_string(&status_path).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & (1 << (libc::SIGTERM - 1)) != 0)
        })
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(attach.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(attach.stdout.as_mut().unwrap(), &mut out).unwrap();
    let status = attach.wait().unwrap();
    assert_eq!(status.code(), Some(4), "{out}");
    // What was written before the attach is not shown again.
    assert_eq!(out, "bye\n");
    ok(r, &["rm", "lg", "at"]);
    assert!(tree(&r.join("containers")).is_empty());
}

/// A foreground run shows its output and logs it, as Docker's does.
#[test]
fn a_foreground_run_is_logged_too() {
    let Some(c) = Ctx::new("fg_logs", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let out = pocky(
        r,
        &[
            "run",
            "--name",
            "fg",
            &c.busybox(),
            "sh",
            "-c",
            "echo out; echo err >&2; exit 5",
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    let logs = pocky(r, &["logs", "fg"]);
    assert_eq!(stdout(&logs), "out\n");
    assert_eq!(stderr(&logs), "err\n");
    ok(r, &["rm", "fg"]);
}

/// `run -d -i` keeps the container's stdin for `attach`, through the
/// monitor's attach server.
#[test]
fn attach_types_into_an_interactive_container() {
    let Some(c) = Ctx::new("attach_in", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let script = "read a; echo got:$a; read b; echo two:$b";
    ok(
        r,
        &[
            "run",
            "-d",
            "-i",
            "--name",
            "in",
            &c.busybox(),
            "sh",
            "-c",
            script,
        ],
    );
    let sock = r
        .join("containers")
        .join(container(r, "in")["Id"].as_str().unwrap())
        .join("attach.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only the owner may type into it");
    let mut attach = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
        .args(["--root", r.to_str().unwrap(), "attach", "in"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(attach.stdin.as_mut().unwrap(), b"hello\nworld\n").unwrap();
    drop(attach.stdin.take());
    let mut out = String::new();
    std::io::Read::read_to_string(attach.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(attach.wait().unwrap().code(), Some(0), "{out}");
    assert!(
        out.contains("got:hello") && out.contains("two:world"),
        "{out}"
    );
    // With -t the input goes to the container's terminal.
    ok(
        r,
        &["run", "-d", "-i", "-t", "--name", "tt", &c.busybox(), "sh"],
    );
    let mut attach = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
        .args(["--root", r.to_str().unwrap(), "attach", "tt"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(attach.stdin.as_mut().unwrap(), b"echo h$((1+1))i\nexit 3\n")
        .unwrap();
    drop(attach.stdin.take());
    let mut out = String::new();
    std::io::Read::read_to_string(attach.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(attach.wait().unwrap().code(), Some(3), "{out}");
    assert!(out.contains("h2i"), "{out}");
    ok(r, &["rm", "in", "tt"]);
    assert!(tree(&r.join("containers")).is_empty());
}

/// On a terminal, the detach keys leave a `-t -i` container running and
/// `attach` exits 0 (`script` gives `attach` a terminal for its stdin).
#[test]
fn the_detach_keys_leave_the_container_running() {
    let Some(c) = Ctx::new("detach_keys", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "-i", "-t", "--name", "dk", &c.busybox(), "sh"],
    );
    let cmd = format!(
        "{} --root {} attach dk",
        env!("CARGO_BIN_EXE_pocky"),
        r.display()
    );
    let mut script = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ctrl-P, Ctrl-Q typed through script's terminal into attach, again
    // until it has its terminal raw and takes them (a cooked terminal
    // swallows Ctrl-Q as flow control).
    let mut stdin = script.stdin.take().unwrap();
    let mut status = None;
    for _ in 0..100 {
        let _ = std::io::Write::write_all(&mut stdin, b"\x10\x11");
        std::thread::sleep(std::time::Duration::from_millis(100));
        status = script.try_wait().unwrap();
        if status.is_some() {
            break;
        }
    }
    drop(stdin);
    let Some(status) = status else {
        let _ = script.kill();
        panic!("attach never took the detach keys");
    };
    assert_eq!(status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&ok(r, &["inspect", "dk"])).unwrap();
    assert_eq!(v[0]["State"]["Status"], "running");
    ok(r, &["rm", "-f", "dk"]);
}
