//! podman (with conmon) running busybox through pocky-runtime, inside
//! `ci/sandbox`: run with output, in a user namespace (`--uidmap`),
//! detached then exec, exec with a tty, pause/unpause, kill, stop, rm.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pocky-runtime");
const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nproc=4096:4096",
    "--ulimit",
    "nofile=1024:1024",
];

struct Podman {
    dir: tempfile::TempDir,
    image: String,
    /// `--cgroup-parent` for runs: podman's default, /libpod_parent (conmon
    /// goes there too), would outlive the sandbox on the host.
    cgroup_parent: String,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        let sb = pocky_testkit::sandbox(test)?;
        if Command::new("podman").arg("--version").output().is_err() {
            assert!(std::env::var("CI").is_err(), "podman missing under CI");
            eprintln!("SKIPPED {test}: podman is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "[engine]\nruntime = \"pocky\"\nruntime_supports_json = [\"pocky\"]\n\
             events_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n\
             [engine.runtimes]\npocky = [\"{BIN}\"]\n"
        );
        std::fs::write(dir.path().join("containers.conf"), conf).unwrap();
        let p = Podman {
            dir,
            image: format!("{}/busybox", sb.registry),
            cgroup_parent: format!(
                "/{}/podman",
                std::env::var("POCKY_CGROUP_PARENT").unwrap_or_else(|_| "pocky-oci-test".into())
            ),
        };
        p.ok(&["pull", "-q", "--tls-verify=false", &p.image.clone()]);
        Some(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new("podman")
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--runtime", BIN, "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn podman_runs_busybox_through_pocky_runtime() {
    let Some(p) = Podman::new("oci_podman") else {
        return;
    };
    // podman gives the runtime no --root of its own (its cleanup process
    // would not pass one on either): pocky-runtime's default state dir is
    // the host's, left as it was found.
    let default_root = std::path::Path::new("/run/pocky-runtime");
    let had_root = default_root.exists();
    let img = p.image.clone();
    let parent = p.cgroup_parent.clone();
    let mut args = vec!["run", "--rm", "--cgroup-parent", &parent];
    args.extend(ULIMITS);
    args.extend([img.as_str(), "echo", "hi"]);
    assert_eq!(p.ok(&args), "hi\n");

    // A user namespace: podman chowns its copy of the image to the
    // mapped ids and asks the runtime for the maps.
    let mut args = vec!["run", "--rm", "--cgroup-parent", &parent];
    args.extend(ULIMITS);
    args.extend(["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"]);
    args.extend([
        img.as_str(),
        "sh",
        "-c",
        "tr -s ' ' < /proc/self/uid_map; id -u; touch /x && echo writable",
    ]);
    assert_eq!(p.ok(&args), " 0 100000 65536\n0\nwritable\n");

    let mut args = vec!["run", "-d", "--name", "bg", "--cgroup-parent", &parent];
    args.extend(ULIMITS);
    args.extend([img.as_str(), "sleep", "300"]);
    p.ok(&args);
    assert_eq!(p.ok(&["exec", "bg", "echo", "from-exec"]), "from-exec\n");
    let tty = p.ok(&["exec", "-t", "bg", "tty"]);
    assert!(tty.contains("/dev/pts/"), "{tty:?}");
    p.ok(&["pause", "bg"]);
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.State.Status}}", "bg"]).trim(),
        "paused"
    );
    p.ok(&["unpause", "bg"]);
    p.ok(&["stop", "-t", "1", "bg"]);
    assert_eq!(
        p.ok(&["inspect", "-f", "{{.State.Status}}", "bg"]).trim(),
        "exited"
    );
    p.ok(&["start", "bg"]);
    p.ok(&["kill", "bg"]);
    p.ok(&["rm", "-f", "bg"]);
    assert!(p.ok(&["ps", "-aq"]).trim().is_empty());
    if !had_root {
        // Empty by now: every container was deleted.
        std::fs::remove_dir(default_root).unwrap();
    }
}
