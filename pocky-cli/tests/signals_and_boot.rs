//! Signals and reboots: a foreground `run` or `exec` passes the signals it
//! gets on to the container's process, and `system boot` starts what the
//! restart policies say after every owner is gone.

mod common;

use common::*;

/// Signals sent to a foreground `run` or `exec` reach the container's
/// process, which decides what they mean; pocky exits with its status.
#[test]
fn run_and_exec_pass_signals_on() {
    let Some(c) = Ctx::new("forward", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let script = "trap 'echo got-$0; exit 3' TERM; trap 'echo usr1' USR1; echo ready; \
                  while :; do sleep 0.1; done";
    let spawn = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
            .arg("--root")
            .arg(r)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let read_line = |child: &mut std::process::Child| {
        use std::io::BufRead;
        let out = child.stdout.as_mut().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        line
    };
    let mut run = spawn(&[
        "run",
        "--name",
        "fw",
        &c.busybox(),
        "sh",
        "-c",
        script,
        "run",
    ]);
    assert_eq!(read_line(&mut run), "ready\n");
    let mut exec = spawn(&["exec", "fw", "sh", "-c", script, "exec"]);
    assert_eq!(read_line(&mut exec), "ready\n");
    for (child, name) in [(&mut exec, "exec"), (&mut run, "run")] {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR1).unwrap();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let out = child.wait_with_output_ref();
        assert_eq!(out.0.code(), Some(3), "{name}: {}", out.1);
        assert!(out.1.contains(&format!("got-{name}")), "{name}: {}", out.1);
    }
    eventually("the run's record says exited", || {
        container(r, "fw")["State"]["Status"] == "exited"
    });
    assert_eq!(container(r, "fw")["State"]["ExitCode"], 3);
    ok(r, &["rm", "fw"]);
    assert!(tree(&r.join("containers")).is_empty());
}

trait WaitRef {
    fn wait_with_output_ref(&mut self) -> (std::process::ExitStatus, String);
}

impl WaitRef for std::process::Child {
    fn wait_with_output_ref(&mut self) -> (std::process::ExitStatus, String) {
        let mut rest = String::new();
        std::io::Read::read_to_string(self.stdout.as_mut().unwrap(), &mut rest).unwrap();
        (self.wait().unwrap(), rest)
    }
}

/// The parent of a container's first process: its owner (the monitor).
fn parent_of(pid: i64) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A reboot, simulated: every monitor and container process SIGKILLed.
/// `system boot` then starts what the restart policies say, as Docker's
/// daemon does when it comes up.
#[test]
fn system_boot_starts_what_the_restart_policies_say() {
    let Some(c) = Ctx::new("boot", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let run = |name: &str, policy: &str| {
        ok(
            r,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--restart",
                policy,
                &c.busybox(),
                "sleep",
                "1000",
            ],
        );
    };
    run("al", "always");
    run("us", "unless-stopped");
    run("of", "on-failure");
    run("np", "no");
    run("al-stopped", "always");
    run("us-stopped", "unless-stopped");
    ok(r, &["stop", "-t", "1", "al-stopped", "us-stopped"]);
    for name in ["al", "us", "of", "np"] {
        let pid = container(r, name)["State"]["Pid"].as_i64().unwrap();
        let monitor = nix::unistd::Pid::from_raw(parent_of(pid));
        let _ = nix::sys::signal::kill(monitor, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
        eventually("the process is gone", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
    }
    let started = ok(r, &["system", "boot"]);
    let mut started: Vec<&str> = started.lines().collect();
    started.sort_unstable();
    assert_eq!(started, ["al", "al-stopped", "of", "us"]);
    for name in ["al", "al-stopped", "of", "us"] {
        assert_eq!(container(r, name)["State"]["Status"], "running", "{name}");
    }
    for name in ["np", "us-stopped"] {
        assert_eq!(container(r, name)["State"]["Status"], "exited", "{name}");
    }
    // A second boot finds them running and starts nothing.
    assert_eq!(ok(r, &["system", "boot"]), "");
    ok(
        r,
        &[
            "rm",
            "-f",
            "al",
            "al-stopped",
            "of",
            "us",
            "np",
            "us-stopped",
        ],
    );
    assert!(tree(&r.join("containers")).is_empty());
}
