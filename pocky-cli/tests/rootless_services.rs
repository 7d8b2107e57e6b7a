//! Rootless pocky beyond `run`, as a throwaway user in the sandbox (see
//! `rootless.rs`): `build`, the Docker API service on the user's own
//! socket, and limits in a delegated cgroup v2 subtree.

mod common;

use std::process::{Command, Stdio};

use common::user::{owner_of, user};
use common::{stderr as err, stdout as out};

/// Whether the host's cgroups are v2 only (where a subtree can be
/// delegated); this machine's CI has v1 controllers.
fn pure_cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

#[test]
fn limits_work_in_a_delegated_cgroup_v2_subtree() {
    let Some((mut u, image)) = user("limits_work_in_a_delegated_cgroup_v2_subtree") else {
        return;
    };
    if !pure_cgroup_v2() {
        // The refusal on such hosts is what_needs_root_or_a_cgroup_is_refused_by_name's.
        eprintln!(
            "limits_work_in_a_delegated_cgroup_v2_subtree: cgroup v1 host, nothing to delegate"
        );
        return;
    }
    let delegated = u.delegate_cgroup();
    u.ok(&["pull", "-q", &image]);
    let id = u.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--network",
        "none",
        "-m",
        "64m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        &image,
        "sleep",
        "300",
    ]);
    let cg = delegated.join("pocky").join(id.trim());
    let read = |f: &str| {
        std::fs::read_to_string(cg.join(f))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(read("memory.max"), (64u64 << 20).to_string());
    assert_eq!(read("pids.max"), "20");
    assert_eq!(read("cpu.max"), "50000 100000");
    let pid = u.ok(&["inspect", "--format", "{{.State.Pid}}", "lim"]);
    assert!(read("cgroup.procs").lines().any(|p| p == pid.trim()));
    // Inside, its cgroup namespace's root is that cgroup.
    let inside = u.ok(&["exec", "lim", "cat", "/sys/fs/cgroup/pids.max"]);
    assert_eq!(inside.trim(), "20");
    u.ok(&["pause", "lim"]);
    u.ok(&["unpause", "lim"]);
    u.ok(&["update", "--memory", "32m", "lim"]);
    assert_eq!(read("memory.max"), (32u64 << 20).to_string());
    // A process past the limit is refused a fork.
    let o = u.pocky(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pids-limit",
        "3",
        &image,
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do sleep 5 & done; wait",
    ]);
    assert!(
        err(&o).contains("can't fork") || !o.status.success(),
        "{}",
        err(&o)
    );
    u.ok(&["rm", "-f", "lim"]);
    assert!(!cg.exists(), "the container's cgroup is left");
}

#[test]
fn the_api_service_of_a_user_serves_their_containers() {
    let Some((u, image)) = user("the_api_service_of_a_user_serves_their_containers") else {
        return;
    };
    u.ok(&["pull", "-q", &image]);
    let mut service = u
        .command(env!("CARGO_BIN_EXE_pocky"))
        .args(["system", "service", "--timeout", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The user's socket, in the user's runtime directory.
    let socket = u.runtime().join("pocky/docker.sock");
    common::eventually("the socket", || socket.exists());
    assert_eq!(owner_of(&socket), u.uid);
    let sock = socket.display().to_string();
    let curl = |args: &[&str]| {
        let o = u
            .command("curl")
            .args(["-sS", "--fail-with-body", "--unix-socket", &sock])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "curl {args:?}: {} {}", out(&o), err(&o));
        out(&o)
    };
    assert_eq!(curl(&["http://pocky/_ping"]), "OK");
    let body = serde_json::json!({
        "Image": image,
        "Cmd": ["sh", "-c", "echo via-api; id -u"],
        "HostConfig": {"NetworkMode": "none", "UsernsMode": "keep-id"},
    });
    let created = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &body.to_string(),
        "http://pocky/containers/create",
    ]);
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    curl(&["-X", "POST", &format!("http://pocky/containers/{id}/start")]);
    let waited = curl(&["-X", "POST", &format!("http://pocky/containers/{id}/wait")]);
    assert!(waited.contains("\"StatusCode\":0"), "{waited}");
    let logs = curl(&[&format!("http://pocky/containers/{id}/logs?stdout=1")]);
    assert!(
        logs.contains("via-api") && logs.contains(&u.uid.to_string()),
        "{logs:?}"
    );
    // The CLI sees what the API made: one state.
    assert!(u.ok(&["ps", "-aq", "--no-trunc"]).contains(&id));
    curl(&["-X", "DELETE", &format!("http://pocky/containers/{id}")]);
    let _ = Command::new("kill").arg(service.id().to_string()).status();
    let _ = service.wait();
}

#[test]
fn a_user_builds_an_image_with_owners_inside_their_range() {
    let Some((u, image)) = user("a_user_builds_an_image_with_owners_inside_their_range") else {
        return;
    };
    let ctx = u.own_dir("context");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {image}\n\
             RUN echo built > /built && mkdir /o && chown 1234:1234 /o\n\
             COPY --chown=42:42 hello.txt /hello.txt\n\
             USER 1234\n\
             CMD [\"sh\", \"-c\", \"cat /built /hello.txt; id -u; stat -c '%u %g' /o /hello.txt\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(ctx.join("hello.txt"), "from-the-context\n").unwrap();
    for f in ["Dockerfile", "hello.txt"] {
        std::os::unix::fs::chown(ctx.join(f), Some(u.uid), Some(u.gid)).unwrap();
    }
    u.ok(&["build", "-q", "-t", "app:1", &ctx.display().to_string()]);
    let ran = u.ok(&["run", "--rm", "--network", "none", "app:1"]);
    assert_eq!(ran, "built\nfrom-the-context\n1234\n1234 1234\n42 42\n");
    // The step cache answers a second build.
    let again = u.ok(&["build", "-t", "app:1", &ctx.display().to_string()]);
    assert!(again.contains("Using cache"), "{again}");
}
