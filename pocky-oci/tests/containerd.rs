//! containerd (1.6, with its runc v2 shim) running busybox through
//! pocky-runtime via `ctr run --runc-binary`, inside `ci/sandbox`: run to
//! completion with output and exit code, detached then exec, exec with a
//! tty, pause/resume, ps, stop (SIGTERM), kill, delete.
//!
//! The test starts its own containerd with root, state and sockets in a
//! temp dir. containerd and ctr also use fixed paths under /run/containerd
//! (shim sockets, IO fifos, the runc root), so both run in a private mount
//! namespace with a tmpfs over /run: nothing is left on the host.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pocky-runtime");
/// Where the runc shim keeps runtime state for the `default` namespace.
const RUNC_ROOT: &str = "/run/containerd/runc/default";

struct Containerd {
    dir: tempfile::TempDir,
    daemon: Child,
    image: String,
    cgroup_parent: String,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Containers first, while containerd can still clean them up.
        let ids = self.ctr(&["task", "ls", "-q"]).stdout;
        for id in String::from_utf8_lossy(&ids).lines() {
            let _ = self.ctr(&["task", "rm", "-f", id]);
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Containerd {
    fn start(test: &str) -> Option<Containerd> {
        let sb = pocky_testkit::sandbox(test)?;
        if Command::new("containerd")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(std::env::var("CI").is_err(), "containerd missing under CI");
            eprintln!("SKIPPED {test}: containerd is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // Only what ctr needs: no CRI, no snapshotters this kernel lacks.
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \
             \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \
             \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \
             \"io.containerd.internal.v1.tracing\", \"io.containerd.tracing.processor.v1.otlp\"]\n\
             [grpc]\naddress = \"{d}/containerd.sock\"\n\
             [ttrpc]\naddress = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\naddress = \"{d}/debug.sock\"\n"
        );
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let daemon = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs pocky-test-run /run && exec containerd --config \"$0\"")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            dir,
            daemon,
            image: format!("{}/busybox:latest", sb.registry),
            cgroup_parent: std::env::var("POCKY_CGROUP_PARENT")
                .unwrap_or_else(|_| "pocky-oci-test".into()),
        };
        c.wait_for("containerd to serve", || {
            c.ctr(&["version"]).status.success()
        });
        c.ok(&["images", "pull", "--plain-http", &c.image]);
        Some(c)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// A command in containerd's mount namespace (its /run).
    fn in_ns(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.daemon.id().to_string())
            .args(["-m", "--", program]);
        c
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.in_ns("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `ctr run` arguments that put the container under the test's cgroup
    /// parent and run it with pocky-runtime.
    fn run_args<'a>(&'a self, cgroup: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "--runc-binary", BIN, "--cgroup", cgroup];
        args.extend(flags);
        args.push(&self.image);
        args
    }

    fn cgroup(&self, id: &str) -> String {
        format!("/{}/ctr-{id}", self.cgroup_parent)
    }

    /// The task's status column in `ctr task ls` (RUNNING, PAUSED, STOPPED).
    fn status(&self, id: &str) -> String {
        self.ok(&["task", "ls"])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Containers pocky-runtime still knows in the shim's runc root.
    fn runtime_ids(&self) -> String {
        let out = self
            .in_ns(BIN)
            .args(["--root", RUNC_ROOT, "list", "-q"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(rel))
        .filter(|p| Path::new(p).exists())
        .collect()
}

#[test]
fn containerd_runs_busybox_through_pocky_runtime() {
    let Some(c) = Containerd::start("oci_containerd") else {
        return;
    };

    let cg = c.cgroup("c1");
    let mut args = c.run_args(&cg, &["--rm"]);
    args.extend(["c1", "echo", "hello from ctr"]);
    assert_eq!(c.ok(&args), "hello from ctr\n");

    let cg = c.cgroup("c2");
    let mut args = c.run_args(&cg, &["--rm"]);
    args.extend(["c2", "sh", "-c", "echo err >&2; exit 3"]);
    let out = c.ctr(&args);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // Detached, then exec (plain and with a tty), ps, pause/resume, kill.
    let cg = c.cgroup("bg");
    let mut args = c.run_args(&cg, &["-d"]);
    args.extend(["bg", "sleep", "300"]);
    c.ok(&args);
    assert_eq!(c.status("bg"), "RUNNING");
    // pocky-runtime (not a runc on the PATH) holds the container.
    assert_eq!(c.runtime_ids(), "bg\n");
    assert!(!cgroup_dirs(&cg).is_empty(), "no cgroup {cg}");
    assert_eq!(
        c.ok(&["task", "exec", "--exec-id", "e1", "bg", "echo", "from-exec"]),
        "from-exec\n"
    );
    // ctr wants a terminal of its own for -t: script(1) lends it one.
    let ctr = format!(
        "ctr --address {} task exec -t --exec-id e2 bg tty",
        c.socket().display()
    );
    let out = c
        .in_ns("script")
        .args(["-qec", &ctr, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("/dev/pts/"), "{out:?}");
    let ps = c.ok(&["task", "ps", "bg"]);
    assert!(ps.lines().count() >= 2, "{ps}");
    c.ok(&["task", "pause", "bg"]);
    assert_eq!(c.status("bg"), "PAUSED");
    c.ok(&["task", "resume", "bg"]);
    assert_eq!(c.status("bg"), "RUNNING");
    c.ok(&["task", "kill", "-s", "SIGKILL", "bg"]);
    c.wait_for("bg to stop", || c.status("bg") == "STOPPED");
    c.ok(&["task", "rm", "bg"]);
    c.ok(&["container", "rm", "bg"]);

    // A graceful stop: SIGTERM reaches a handler in the container's init.
    let cg = c.cgroup("st");
    let mut args = c.run_args(&cg, &["-d"]);
    args.extend([
        "st",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    c.ok(&args);
    c.ok(&["task", "kill", "st"]);
    c.wait_for("st to stop", || c.status("st") == "STOPPED");
    c.ok(&["task", "rm", "st"]);
    c.ok(&["container", "rm", "st"]);

    // delete removed everything create made.
    assert_eq!(c.runtime_ids(), "");
    for id in ["c1", "c2", "bg", "st"] {
        let cg = c.cgroup(id);
        assert!(cgroup_dirs(&cg).is_empty(), "{cg} left behind");
    }
}
