//! Rootless pocky end to end. Each test makes a throwaway user (with or
//! without subordinate id ranges) and runs `pocky` as that user, inside
//! the sandbox, with a clean environment: its state goes to
//! `~/.local/share/pocky`, its runtime files to `$XDG_RUNTIME_DIR/pocky`,
//! and every container runs in the user's own user namespace. The user
//! goes with the test, after `system reset` and a check that none of its
//! processes is left. Networking has its own file (`rootless_net.rs`),
//! building, the API service and cgroup limits theirs
//! (`rootless_services.rs`).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::user::{User, owner_of};

use common::user::user;
use common::{stderr as err, stdout as out};

/// The user's first subordinate uid.
fn first_subuid(u: &User) -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{}:", u.name)))
        .unwrap();
    line.split(':').nth(1).unwrap().parse().unwrap()
}

/// The namespaces of a process, as `type:[inode]` links.
fn namespaces(pid: &str) -> Vec<String> {
    ["mnt", "pid", "net", "ipc", "uts", "user"]
        .iter()
        .map(|ns| {
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Whether any process is still in one of `nss`.
fn anyone_in(nss: &[String]) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        e.file_name().to_str().is_some_and(|p| {
            p.parse::<u32>().is_ok()
                && std::fs::read_dir(format!("/proc/{p}/ns"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|n| {
                        std::fs::read_link(n.path())
                            .is_ok_and(|l| nss.contains(&l.to_string_lossy().into_owned()))
                    })
        })
    })
}

#[test]
fn a_user_pulls_and_runs_containers_in_their_own_namespace() {
    let Some((u, image)) = user("a_user_pulls_and_runs_containers_in_their_own_namespace") else {
        return;
    };
    u.ok(&["pull", "-q", &image]);
    let config = image.replace("busybox", "config");
    u.ok(&["pull", "-q", &config]);
    // The state is the user's; a layer's files carry the image's owners
    // shifted into the user's range (config's /work is uid 1000's).
    assert_eq!(owner_of(&u.state()), u.uid);
    let work = std::fs::read_dir(u.state().join("layers"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("diff/work"))
        .find(|p| p.exists())
        .expect("config's layer with /work");
    assert_eq!(owner_of(&work), first_subuid(&u) + 999);

    // Output and exit codes as rootful.
    let o = u.pocky(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(3), "out\n"),
        "{}",
        err(&o)
    );
    assert_eq!(err(&o), "err\n");
    let o = u.pocky(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "no-such-command",
    ]);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    assert_eq!(
        u.ok(&["run", "--rm", "--network", "none", &config]).trim(),
        "hello from fixture"
    );

    // Root inside is the user outside; keep-id keeps the user's ids.
    let inside = u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let lines: Vec<Vec<&str>> = inside
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{inside}");
    assert_eq!(lines[1], ["0", &u.uid.to_string(), "1"], "{inside}");
    assert_eq!(
        lines[2],
        ["1", &first_subuid(&u).to_string(), "65536"],
        "{inside}"
    );
    let kept = u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns",
        "keep-id",
        &image,
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    assert_eq!(kept, format!("{}\n{}\n", u.uid, u.gid));

    // A bind mount's new file is the user's on the host; a named volume
    // keeps its data from one container to the next.
    let bind = u.own_dir("bind");
    let v = format!("{}:/b", bind.display());
    u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &v,
        &image,
        "sh",
        "-c",
        "echo x > /b/f",
    ]);
    assert_eq!(owner_of(&bind.join("f")), u.uid);
    u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--userns",
        "keep-id",
        "-v",
        &v,
        &image,
        "touch",
        "/b/k",
    ]);
    assert_eq!(owner_of(&bind.join("k")), u.uid);
    u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let kept = u.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        &image,
        "cat",
        "/data/f",
    ]);
    assert_eq!(kept, "kept\n");
    assert!(u.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));

    // -d, exec, logs, stop, rm; nothing of the container stays.
    let id = u.ok(&[
        "run",
        "-d",
        "--name",
        "d1",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "echo started; trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    let id = id.trim();
    let o = u.pocky(&["exec", "d1", "sh", "-c", "echo in-exec; id -u; exit 4"]);
    assert_eq!(
        (o.status.code(), out(&o).as_str()),
        (Some(4), "in-exec\n0\n"),
        "{}",
        err(&o)
    );
    common::eventually("the log", || u.ok(&["logs", "d1"]).contains("started"));
    let pid = u.ok(&["inspect", "--format", "{{.State.Pid}}", "d1"]);
    let pid = pid.trim();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let first: Vec<&str> = uid_map.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["0", &u.uid.to_string(), "1"], "{uid_map}");
    let nss = namespaces(pid);
    assert!(u.ok(&["ps", "-q", "--no-trunc"]).contains(id));
    u.ok(&["stop", "-t", "5", "d1"]);
    u.ok(&["rm", "d1"]);
    assert_eq!(u.ok(&["ps", "-aq"]), "");
    // The container's own namespaces (not the user's) go with its last
    // process, which the kernel reaps in the background.
    common::eventually("the container's namespaces to go", || !anyone_in(&nss[..5]));
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&u.state().display().to_string()),
        "a mount under the user's state"
    );
    let names = u.process_names();
    assert!(
        names
            .iter()
            .all(|n| n == "pocky-holder" || n == "slirp4netns"),
        "{names:?}"
    );
}

#[test]
fn interactive_terminal_as_a_user() {
    let Some((u, image)) = user("interactive_terminal_as_a_user") else {
        return;
    };
    u.ok(&["pull", "-q", &image]);
    let cmd = format!(
        "setpriv --reuid={} --regid={} --init-groups -- env -i HOME={} XDG_RUNTIME_DIR={} \
         PATH=/usr/bin:/bin {} run -it --rm --network none {image} sh",
        u.uid,
        u.gid,
        u.home().display(),
        u.runtime().display(),
        env!("CARGO_BIN_EXE_pocky"),
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Typed after the shell is up; the terminal keeps what comes early.
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = stdin.write_all(b"echo tty-$((6*7)) $(tty)\nexit 6\n");
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", out(&o));
    assert!(out(&o).contains("tty-42 /dev/pts/0"), "{}", out(&o));
}

#[test]
fn what_needs_root_or_a_cgroup_is_refused_by_name() {
    let Some((u, image)) = user("what_needs_root_or_a_cgroup_is_refused_by_name") else {
        return;
    };
    u.ok(&["pull", "-q", &image]);
    let run = |flags: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&image, "true"]);
        u.fails(&args)
    };
    // This machine's controllers are cgroup v1: nothing is delegated.
    for (flag, value) in [("-m", "64m"), ("--cpus", "0.5"), ("--pids-limit", "20")] {
        let e = run(&[flag, value]);
        let named = if flag == "-m" { "--memory" } else { flag };
        assert!(e.contains(named) && e.contains("cgroup"), "{e}");
    }
    let e = run(&["--device", "/dev/null"]);
    assert!(e.contains("--device") && e.contains("root"), "{e}");
    let e = run(&["--device-cgroup-rule", "c 1:3 rwm"]);
    assert!(e.contains("--device-cgroup-rule"), "{e}");
    let e = run(&["--cpuset-cpus", "0"]);
    assert!(e.contains("--cpuset-cpus") && e.contains("cgroup"), "{e}");
    let e = run(&["--userns", "host"]);
    assert!(e.contains("--userns=host needs root"), "{e}");
    let e = u.fails(&["run", "--rm", "-p", "80:8080", &image, "true"]);
    assert!(e.contains("ip_unprivileged_port_start"), "{e}");
    // Nothing was made by the refused runs; a run without limits works.
    assert_eq!(u.ok(&["ps", "-aq"]), "");
    u.ok(&["run", "--rm", "--network", "none", &image, "true"]);
    // A running container without a cgroup cannot be limited or paused.
    u.ok(&[
        "run",
        "-d",
        "--name",
        "capped",
        "--network",
        "none",
        &image,
        "sleep",
        "300",
    ]);
    for args in [
        &["update", "--memory", "64m", "capped"][..],
        &["pause", "capped"],
    ] {
        let e = u.fails(args);
        assert!(e.contains("cgroup"), "{e}");
    }
    u.ok(&["rm", "-f", "capped"]);
}

#[test]
fn a_user_without_subordinate_ids_is_told_what_is_missing() {
    if pocky_testkit::sandbox("a_user_without_subordinate_ids_is_told_what_is_missing").is_none() {
        return;
    }
    let u = User::create(false);
    let e = u.fails(&["images"]);
    assert!(
        e.contains("/etc/subuid") && e.contains(&u.name) && e.contains("usermod --add-subuids"),
        "{e}"
    );
}

#[test]
fn users_and_root_keep_their_states_apart() {
    let Some((a, image)) = user("users_and_root_keep_their_states_apart") else {
        return;
    };
    let b = User::create(true);
    a.ok(&["pull", "-q", &image]);
    a.ok(&[
        "run",
        "-d",
        "--name",
        "mine",
        "--network",
        "none",
        &image,
        "sleep",
        "300",
    ]);
    // B has a state of its own and cannot use A's.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    let a_state = a.state().display().to_string();
    let e = b.fails(&["--root", &a_state, "ps", "-a"]);
    assert!(e.contains(&a_state), "{e}");
    let e = b.fails(&["rm", "-f", "mine"]);
    assert!(e.contains("no such container"), "{e}");
    // Root's state is not a user's, and a user's not root's.
    let root_state = std::env::var("POCKY_ROOT").unwrap();
    let e = a.fails(&["--root", &root_state, "images"]);
    assert!(e.contains(&format!("refusing {root_state}")), "{e}");
    let o = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .args(["--root", &a_state, "images"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains(&format!("uid {}", a.uid)), "{}", err(&o));
    assert!(a.ok(&["ps", "-q"]).lines().count() == 1);
    a.ok(&["rm", "-f", "mine"]);
}
