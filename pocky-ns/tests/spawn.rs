//! Privileged tests: real namespaces, real exec. Each runs in a forked
//! subprocess so `spawn` sees a single-threaded caller.

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use pocky_ns::subprocess::run_forked;
use pocky_ns::{
    ChildError, IdMap, IdMaps, Namespace, NsConfig, NsError, Pid, exec, join_and_spawn, pty, spawn,
};

const BUSYBOX: &str = "/bin/busybox";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn env() -> Vec<String> {
    strings(&["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"])
}

fn sh(script: &str) -> Vec<String> {
    strings(&[BUSYBOX, "sh", "-c", script])
}

fn ns_inode(pid: Pid, ns: &str) -> Result<u64, String> {
    std::fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .map(|m| m.ino())
        .map_err(|e| format!("stat /proc/{pid}/ns/{ns}: {e}"))
}

fn all_new() -> NsConfig {
    NsConfig {
        new: vec![
            Namespace::Pid,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Mount,
            Namespace::Net,
            Namespace::Cgroup,
        ],
        join: vec![],
        id_maps: None,
    }
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

#[test]
fn child_is_pid_1_in_new_namespaces() {
    if !pocky_testkit::privileged("child_is_pid_1_in_new_namespaces") {
        return;
    }
    run_forked(|| {
        let host_name = nix::unistd::gethostname().map_err(|e| e.to_string())?;
        let mut child = spawn(&all_new(), |_| {
            if let Err(e) = nix::unistd::sethostname("pocky-ns-test") {
                return ChildError::setup("hostname", e, "sethostname");
            }
            exec(
                // In the new cgroup namespace every hierarchy's root is the
                // cgroup the process was in at Go.
                &sh(
                    "test $$ -eq 1 && test \"$(/bin/busybox hostname)\" = pocky-ns-test \
                     && ! grep -v ':/$' /proc/self/cgroup",
                ),
                &env(),
            )
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        // At Ready the namespaces exist: the parent could now configure
        // the network through /proc/<pid>/ns/net.
        let me = Pid::this();
        for ns in ["net", "uts", "ipc", "mnt"] {
            check(
                ns_inode(child.pid, ns)? != ns_inode(me, ns)?,
                &format!("{ns} namespace not new at Ready"),
            )?;
        }
        child.start().map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        check(status.code == 0, &format!("child ended with {status}"))?;
        let after = nix::unistd::gethostname().map_err(|e| e.to_string())?;
        check(after == host_name, "host name changed")
    })
    .unwrap();
}

#[test]
fn missing_command_is_127() {
    if !pocky_testkit::privileged("missing_command_is_127") {
        return;
    }
    run_forked(|| {
        let mut child = spawn(&all_new(), |_| {
            exec(&strings(&["pocky-no-such-command"]), &env())
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        match child.start() {
            Err(NsError::Child {
                exit_code: 127,
                message,
                stage,
                ..
            }) => {
                check(stage == "exec", &stage)?;
                check(
                    message.contains("executable file not found in $PATH")
                        && message.contains("pocky-no-such-command"),
                    &message,
                )
            }
            other => Err(format!("expected 127, got {other:?}")),
        }
    })
    .unwrap();
}

#[test]
fn non_executable_file_and_directory_are_126() {
    if !pocky_testkit::privileged("non_executable_file_and_directory_are_126") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, "#!/bin/busybox sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    let path_env = vec![format!("PATH={}", dir.path().display())];
    for args in [
        vec!["script".to_owned()],
        vec!["subdir".to_owned()],
        vec![file.display().to_string()],
        vec![dir.path().display().to_string()],
    ] {
        let env = path_env.clone();
        run_forked(move || {
            let mut child =
                spawn(&NsConfig::default(), |_| exec(&args, &env)).map_err(|e| e.to_string())?;
            match child.start() {
                Err(NsError::Child { exit_code: 126, .. }) => Ok(()),
                other => Err(format!("{args:?}: expected 126, got {other:?}")),
            }
        })
        .unwrap();
    }
}

#[test]
fn stage_error_reaches_the_parent() {
    if !pocky_testkit::privileged("stage_error_reaches_the_parent") {
        return;
    }
    run_forked(|| {
        let mut child = spawn(&all_new(), |_| {
            ChildError::setup("rootfs", Errno::ENOENT, "no rootfs at /nowhere")
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        match child.start() {
            Err(NsError::Child {
                stage,
                errno,
                message,
                exit_code,
            }) => check(
                stage == "rootfs"
                    && errno == Errno::ENOENT as i32
                    && message == "no rootfs at /nowhere"
                    && exit_code == 125,
                &format!("{stage} {errno} {message} {exit_code}"),
            ),
            other => Err(format!("expected a rootfs failure, got {other:?}")),
        }
    })
    .unwrap();
}

#[test]
fn panic_in_child_is_reported_not_unwound() {
    if !pocky_testkit::privileged("panic_in_child_is_reported_not_unwound") {
        return;
    }
    run_forked(|| {
        let mut child =
            spawn(&NsConfig::default(), |_| panic!("child blew up")).map_err(|e| e.to_string())?;
        match child.start() {
            Err(NsError::Child { stage, message, .. }) => check(
                stage == "panic" && message.contains("child blew up"),
                &message,
            ),
            other => Err(format!("expected a panic report, got {other:?}")),
        }
    })
    .unwrap();
}

#[test]
fn abort_before_go_ends_the_child() {
    if !pocky_testkit::privileged("abort_before_go_ends_the_child") {
        return;
    }
    run_forked(|| {
        let mut child = spawn(&all_new(), |_| {
            ChildError::setup("unreachable", Errno::EINVAL, "child_fn ran after Abort")
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        child.abort().map_err(|e| e.to_string())
    })
    .unwrap();
}

#[test]
fn signals_are_reset_before_exec() {
    if !pocky_testkit::privileged("signals_are_reset_before_exec") {
        return;
    }
    run_forked(|| {
        // Ignore and block in the parent; the command must see neither.
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(Signal::SIGUSR2);
        set.thread_block().map_err(|e| e.to_string())?;
        let (read, write) = nix::unistd::pipe().map_err(|e| e.to_string())?;
        let mut child = spawn(&NsConfig::default(), |_| {
            if let Err(e) = nix::unistd::dup2_stdout(&write) {
                return ChildError::setup("stdout", e, "dup2");
            }
            // cat itself touches no signal: its status shows what exec kept.
            exec(&strings(&[BUSYBOX, "cat", "/proc/self/status"]), &env())
        })
        .map_err(|e| e.to_string())?;
        drop(write);
        child.start().map_err(|e| e.to_string())?;
        let mut status_text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut status_text)
            .map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        check(status.code == 0, &format!("cat: {status}"))?;
        for field in ["SigIgn:", "SigBlk:"] {
            let line = status_text
                .lines()
                .find(|l| l.starts_with(field))
                .ok_or(format!("no {field} in {status_text}"))?;
            check(
                line.trim_start_matches(field)
                    .trim()
                    .bytes()
                    .all(|b| b == b'0'),
                &format!("signals not reset: {line}"),
            )?;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn join_and_spawn_enters_the_targets_namespaces() {
    if !pocky_testkit::privileged("join_and_spawn_enters_the_targets_namespaces") {
        return;
    }
    run_forked(|| {
        let mut target = spawn(&all_new(), |_| {
            if let Err(e) = nix::unistd::sethostname("pocky-target") {
                return ChildError::setup("hostname", e, "sethostname");
            }
            exec(&sh("exec /bin/busybox sleep 60"), &env())
        })
        .map_err(|e| e.to_string())?;
        target.start().map_err(|e| e.to_string())?;

        let result = (|| {
            let joined_ns = [
                Namespace::Ipc,
                Namespace::Uts,
                Namespace::Net,
                Namespace::Pid,
                Namespace::Mount,
                Namespace::Cgroup,
            ];
            let mut joined = join_and_spawn(target.pid, &joined_ns, |_| {
                exec(
                    &sh("test \"$(/bin/busybox hostname)\" = pocky-target && test $$ -ne 1"),
                    &env(),
                )
            })
            .map_err(|e| e.to_string())?;
            joined.wait_ready().map_err(|e| e.to_string())?;
            for ns in ["uts", "net", "ipc", "mnt", "pid", "cgroup"] {
                check(
                    ns_inode(joined.pid, ns)? == ns_inode(target.pid, ns)?,
                    &format!("{ns} namespace not joined"),
                )?;
            }
            // The caller's own pid namespace for children is restored.
            check(
                ns_inode(Pid::this(), "pid_for_children")? == ns_inode(Pid::this(), "pid")?,
                "pid_for_children not restored",
            )?;
            joined.start().map_err(|e| e.to_string())?;
            let status = joined.wait().map_err(|e| e.to_string())?;
            check(status.code == 0, &format!("joined command: {status}"))
        })();
        let _ = kill(target.pid, Signal::SIGKILL);
        let status = target.wait().map_err(|e| e.to_string())?;
        check(status.code == 137, &format!("target ended with {status}"))?;
        result
    })
    .unwrap();
}

#[test]
fn pty_slave_is_the_controlling_terminal() {
    if !pocky_testkit::privileged("pty_slave_is_the_controlling_terminal") {
        return;
    }
    run_forked(|| {
        let mut child = spawn(&NsConfig::default(), |ch| {
            let opened = pty::open().and_then(|p| {
                ch.send_pty_master(p.master.as_fd())?;
                drop(p.master);
                pty::make_controlling(p.slave)
            });
            if let Err(e) = opened {
                return ChildError::setup("pty", Errno::EIO, e.to_string());
            }
            exec(&sh("tty && test -t 0 && test -t 1 && echo PTY-OK"), &env())
        })
        .map_err(|e| e.to_string())?;
        child.start().map_err(|e| e.to_string())?;
        let master = child.take_pty_master().ok_or("no pty master received")?;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        // Read until the slave side closes (EIO on Linux).
        while let Ok(n @ 1..) = nix::unistd::read(&master, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out);
        check(
            status.code == 0 && text.contains("/dev/pts/") && text.contains("PTY-OK"),
            &format!("{status}: {text:?}"),
        )
    })
    .unwrap();
}

#[test]
fn spawn_refuses_a_multithreaded_caller() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    let result = spawn(&NsConfig::default(), |_| {
        ChildError::setup(
            "unreachable",
            Errno::EINVAL,
            "cloned from a threaded process",
        )
    });
    drop(tx);
    helper.join().unwrap();
    assert!(
        matches!(result, Err(NsError::NotSingleThreaded { threads }) if threads >= 2),
        "{result:?}"
    );
}

#[test]
fn duplicate_namespace_is_a_config_error() {
    let cfg = NsConfig {
        new: vec![Namespace::Net],
        join: vec![(Namespace::Net, "/proc/self/ns/net".into())],
        id_maps: None,
    };
    let result = spawn(&cfg, |_| {
        ChildError::setup("unreachable", Errno::EINVAL, "spawned with a bad config")
    });
    assert!(matches!(result, Err(NsError::Config(_))), "{result:?}");
}

#[test]
fn forwarder_passes_signals_and_returns_the_exit_status() {
    // Needs no privilege: no namespaces are created.
    run_forked(|| {
        let forwarder = pocky_ns::SignalForwarder::new().map_err(|e| e.to_string())?;
        // The command signals its parent (the forwarder) and exits 42 once
        // the signal comes back to it.
        let mut child = spawn(&NsConfig::default(), |_| {
            exec(
                &sh("trap 'exit 42' TERM; kill -TERM $PPID; \
                     while :; do /bin/busybox sleep 1; done"),
                &env(),
            )
        })
        .map_err(|e| e.to_string())?;
        child.start().map_err(|e| e.to_string())?;
        let status = forwarder.run(child.pid).map_err(|e| e.to_string())?;
        check(status.code == 42, &format!("{status}"))
    })
    .unwrap();
}

#[test]
fn cgroup_namespace_root_is_the_cgroup_set_at_ready() {
    if !pocky_testkit::privileged("cgroup_namespace_root_is_the_cgroup_set_at_ready") {
        return;
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let name = format!("pocky-ns-test-{}", std::process::id());
    let dir = if v2 {
        std::path::PathBuf::from("/sys/fs/cgroup").join(&name)
    } else {
        std::path::PathBuf::from("/sys/fs/cgroup/pids").join(&name)
    };
    std::fs::create_dir(&dir).unwrap();
    // Inside, the hierarchy's line must show the namespace root "/".
    let inside = if v2 { "^0::/$" } else { ":pids:/$" };
    let result = run_forked(|| {
        let mut child = spawn(&all_new(), |_| {
            exec(
                &sh(&format!("grep -q '{inside}' /proc/self/cgroup")),
                &env(),
            )
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        std::fs::write(dir.join("cgroup.procs"), child.pid.to_string())
            .map_err(|e| format!("moving the child: {e}"))?;
        let host_view = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid))
            .map_err(|e| e.to_string())?;
        check(host_view.contains(&name), &host_view)?;
        child.start().map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        check(
            status.code == 0,
            &format!("cgroup root not at the container's cgroup: {status}"),
        )
    });
    std::fs::remove_dir(&dir).unwrap();
    result.unwrap();
}

#[test]
fn a_new_user_namespace_is_mapped_before_the_child_goes_on() {
    if !pocky_testkit::privileged("a_new_user_namespace_is_mapped_before_the_child_goes_on") {
        return;
    }
    run_forked(|| {
        let mut cfg = all_new();
        cfg.new.push(Namespace::User);
        cfg.id_maps = Some(IdMaps {
            uid: vec![IdMap {
                inside: 0,
                outside: 100_000,
                count: 65536,
            }],
            gid: vec![IdMap {
                inside: 0,
                outside: 200_000,
                count: 65536,
            }],
        });
        let mut child = spawn(&cfg, |_| {
            // Root inside, a plain id outside; the maps are in place.
            exec(
                &sh(
                    "test \"$(/bin/busybox id -u):$(/bin/busybox id -g)\" = 0:0 \
                     && grep -q '^ *0 *100000 *65536$' /proc/self/uid_map \
                     && grep -q '^ *0 *200000 *65536$' /proc/self/gid_map",
                ),
                &env(),
            )
        })
        .map_err(|e| e.to_string())?;
        child.wait_ready().map_err(|e| e.to_string())?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid))
            .map_err(|e| e.to_string())?;
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
        check(uid.split_whitespace().nth(1) == Some("100000"), uid)?;
        child.start().map_err(|e| e.to_string())?;
        let status = child.wait().map_err(|e| e.to_string())?;
        check(status.code == 0, &format!("child ended with {status}"))
    })
    .unwrap();

    // Maps without a new user namespace, or one without maps: refused.
    let mut cfg = all_new();
    cfg.new.push(Namespace::User);
    let r = spawn(&cfg, |_| {
        ChildError::setup("x", Errno::EINVAL, "unreachable")
    });
    assert!(matches!(r, Err(NsError::Config(_))), "{r:?}");
}
