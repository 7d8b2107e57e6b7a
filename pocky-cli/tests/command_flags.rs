//! End-to-end tests of the flags of `exec`, `pull`, `images`, `rm` and
//! `rmi` in the sandbox, each shown by its effect: inside the container,
//! in the store, or in the output.

mod common;

use std::process::{Command, Stdio};

use common::service::{Service, client_ok, docker_cli};
use common::*;

/// A field of /proc/self/status (CapEff, Seccomp) of this test process or
/// from a container's output.
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_owned()
}

#[test]
fn exec_env_file_workdir_user_and_privileged() {
    let Some(c) = Ctx::new("exec_flags", &["busybox"]) else {
        return;
    };
    let r = c.root();
    c.run_busybox(&["-d", "--name", "box"], &["sleep", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("env");
    std::fs::write(&env, "# a comment\nA=from-file\nB=from-file\n\n").unwrap();
    let env = env.to_str().unwrap();
    let out = ok(
        r,
        &[
            "exec",
            "--env-file",
            env,
            "-e",
            "B=flag",
            "box",
            "sh",
            "-c",
            "echo $A $B",
        ],
    );
    assert_eq!(out, "from-file flag\n");
    let err = fails(r, &["exec", "--env-file", "/nonexistent", "box", "true"]);
    assert!(err.contains("/nonexistent"), "{err}");
    assert_eq!(ok(r, &["exec", "-w", "/tmp", "box", "pwd"]), "/tmp\n");
    assert_eq!(
        ok(r, &["exec", "-u", "65534:65534", "box", "id", "-u"]),
        "65534\n"
    );

    // --privileged: every capability this host has, no seccomp filter; the
    // container's own processes keep Docker's defaults.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let plain = ok(r, &["exec", "box", "cat", "/proc/self/status"]);
    let privileged = ok(
        r,
        &["exec", "--privileged", "box", "cat", "/proc/self/status"],
    );
    assert_eq!(status_field(&plain, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&plain, "Seccomp"), "2");
    assert_eq!(
        status_field(&privileged, "CapEff"),
        status_field(&host, "CapBnd")
    );
    assert_eq!(status_field(&privileged, "Seccomp"), "0");
    // What only the privileged exec may do: mount.
    let o = pocky(r, &["exec", "box", "mount", "-t", "tmpfs", "t", "/tmp"]);
    assert!(!o.status.success());
    ok(
        r,
        &[
            "exec",
            "--privileged",
            "box",
            "mount",
            "-t",
            "tmpfs",
            "t",
            "/tmp",
        ],
    );
    let pid1 = ok(r, &["exec", "box", "cat", "/proc/1/status"]);
    assert_eq!(status_field(&pid1, "CapEff"), "00000000a80425fb");

    // The API's exec Privileged, through the docker CLI.
    if let Some(docker) = docker_cli() {
        let svc = Service::start(r);
        let out = client_ok(
            &svc,
            &c,
            docker.to_str().unwrap(),
            &["exec", "--privileged", "box", "cat", "/proc/self/status"],
        );
        assert_eq!(status_field(&out, "CapEff"), status_field(&host, "CapBnd"));
        let out = client_ok(
            &svc,
            &c,
            docker.to_str().unwrap(),
            &["exec", "box", "cat", "/proc/self/status"],
        );
        assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb");
    }
    ok(r, &["rm", "-f", "box"]);
}

/// `pocky exec -it` under `script`, so it has a terminal; each chunk of
/// `input` is typed after a pause (the shell's answer to one comes back
/// before the next, a detach, ends the relay).
fn exec_on_a_terminal(root: &std::path::Path, flags: &str, input: &[&str]) -> std::process::Output {
    let cmd = format!(
        "{} --root {} exec -it {flags} box sh",
        env!("CARGO_BIN_EXE_pocky"),
        root.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("POCKY_ROOT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: Vec<String> = input.iter().map(|s| (*s).to_owned()).collect();
    std::thread::spawn(move || {
        use std::io::Write;
        // The terminal keeps what comes early; the pauses only order the
        // output. A slow machine may lose an echo, not the test's point.
        for chunk in input {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let _ = stdin.write_all(chunk.as_bytes());
        }
    });
    child.wait_with_output().unwrap()
}

#[test]
fn exec_detach_keys_leave_the_process_running() {
    let Some(c) = Ctx::new("exec_detach_keys", &["busybox"]) else {
        return;
    };
    let r = c.root();
    c.run_busybox(&["-d", "--name", "box"], &["sleep", "1000"]);
    let shells = || ok(r, &["exec", "box", "sh", "-c", "pidof sh || true"]);
    // Docker's default, ctrl-p ctrl-q: pocky exits 0, the shell runs on.
    let o = exec_on_a_terminal(r, "", &["echo in-$((6*7))\n", "\x10\x11"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("in-42"), "{}", stdout(&o));
    assert!(!shells().trim().is_empty(), "the detached shell runs on");
    // Other keys: ctrl-p ctrl-q are typed through, ctrl-x y detaches.
    let o = exec_on_a_terminal(
        r,
        "--detach-keys ctrl-x,y",
        &["\x10\x11echo second-$((6*7))\n", "\x18y"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("second-42"), "{}", stdout(&o));
    // Without the keys the shell's own exit code comes back.
    let o = exec_on_a_terminal(r, "", &["exit 7\n"]);
    assert_eq!(o.status.code(), Some(7), "{}", stdout(&o));
    let err = fails(r, &["exec", "--detach-keys", "meta-x", "box", "true"]);
    assert!(err.contains("invalid detach key"), "{err}");
    ok(r, &["rm", "-f", "box"]);
}

#[test]
fn pull_all_tags_gets_every_tag_of_the_repository() {
    let Some(c) = Ctx::new("pull_all_tags", &["busybox", "layered"]) else {
        return;
    };
    let r = c.root();
    let repo = c.image("alltags/app");
    // Three tags, two images, pushed to the sandbox's registry.
    for (image, tag) in [("busybox", "one"), ("busybox", "two"), ("layered", "three")] {
        let target = format!("{repo}:{tag}");
        ok(r, &["tag", &c.image(image), &target]);
        ok(r, &["push", "-q", &target]);
    }
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path();
    let out = ok(f, &["pull", "-a", &repo]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&repo.as_str()), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {repo}")),
        "{out}"
    );
    assert_eq!(out.matches("Digest: sha256:").count(), 3, "{out}");
    let tags = ok(f, &["images", "--format", "{{.Tag}}", &repo]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["one", "three", "two"]);
    // Again: nothing new, and -q prints the repository only.
    assert_eq!(ok(f, &["pull", "-a", "-q", &repo]), format!("{repo}\n"));
    let err = fails(f, &["pull", "-a", &format!("{repo}:one")]);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
    let err = fails(f, &["pull", "--all-tags", &c.image("no/such")]);
    assert!(err.contains("no/such"), "{err}");
    ok(f, &["system", "reset", "--force"]);

    // docker pull -a through the API (no tag: dockerd's every tag).
    if let Some(docker) = docker_cli() {
        let fresh = tempfile::tempdir().unwrap();
        let svc = Service::start(fresh.path());
        client_ok(&svc, &c, docker.to_str().unwrap(), &["pull", "-a", &repo]);
        let tags = ok(fresh.path(), &["images", "-q", &repo]);
        assert_eq!(tags.lines().count(), 2, "two images for three tags: {tags}");
        drop(svc);
        ok(fresh.path(), &["system", "reset", "--force"]);
    }
}

#[test]
fn images_all_digests_and_no_trunc() {
    let Some(c) = Ctx::new("images_flags", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let busybox = c.busybox();
    let table = ok(r, &["images", "--no-trunc"]);
    let row = table.lines().nth(1).unwrap();
    let id = row.split_whitespace().nth(2).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{table}");
    let short = ok(r, &["images"]);
    let short_id = short
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert_eq!(short_id.len(), 12);
    assert!(id.ends_with(&id[7..]) && id[7..].starts_with(short_id));
    let digests = ok(r, &["images", "--digests"]);
    assert!(
        digests.lines().next().unwrap().contains("DIGEST"),
        "{digests}"
    );
    let (_, digest) = id_and_digest(r, &busybox);
    assert!(digests.contains(&digest), "{digests}");

    // -a: a build's step images (Docker's intermediate ones) too.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {busybox}\nRUN echo one > /one\nRUN echo two > /two\n"),
    )
    .unwrap();
    ok(
        r,
        &["build", "-q", "-t", "built:1", ctx.path().to_str().unwrap()],
    );
    let plain = ok(r, &["images", "-q"]).lines().count();
    let all = ok(r, &["images", "-a", "-q"]).lines().count();
    assert_eq!(plain, 2, "busybox and built:1");
    assert!(all > plain, "the steps' images with -a: {all}");
    let none = ok(r, &["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(none.contains("<none>:<none>"), "{none}");
}

#[test]
fn rm_v_removes_anonymous_volumes_only() {
    let Some(c) = Ctx::new("rm_volumes", &["busybox"]) else {
        return;
    };
    let r = c.root();
    c.run_busybox(
        &["--name", "vols", "-v", "/anon", "-v", "named:/named"],
        &["true"],
    );
    let volumes = ok(r, &["volume", "ls", "-q"]);
    assert_eq!(volumes.lines().count(), 2, "{volumes}");
    ok(r, &["rm", "-v", "vols"]);
    assert_eq!(ok(r, &["volume", "ls", "-q"]), "named\n");
    c.run_busybox(&["--name", "kept", "-v", "/anon"], &["true"]);
    ok(r, &["rm", "kept"]);
    assert_eq!(ok(r, &["volume", "ls", "-q"]).lines().count(), 2);
}

#[test]
fn rmi_platform_removes_only_that_platforms_image() {
    let Some(c) = Ctx::new("rmi_platform", &[]) else {
        return;
    };
    let r = c.root();
    let multi = c.image("multiarch");
    // arm64 first; the host's pull then moves the tag, leaving the arm64
    // image untagged with the repository's digest.
    ok(r, &["pull", "-q", "--platform", "linux/arm64", &multi]);
    ok(r, &["pull", "-q", &multi]);
    let platforms = || {
        let mut p: Vec<String> = images_json(r)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Platform"].as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p
    };
    assert_eq!(platforms(), ["linux/amd64", "linux/arm64"]);
    let err = fails(r, &["rmi", "--platform", "linux/s390x", &multi]);
    assert!(err.contains("no linux/s390x image"), "{err}");
    assert_eq!(platforms().len(), 2);
    let out = ok(r, &["rmi", "--platform", "linux/arm64", &multi]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(platforms(), ["linux/amd64"]);
    assert_eq!(
        one(r, &["images", "--format", "{{.Tag}}", &multi]),
        "latest"
    );
    ok(r, &["rmi", "--platform", "linux/amd64", &multi]);
    assert!(platforms().is_empty());
    let err = fails(r, &["rmi", "--platform", "linux", &multi]);
    assert!(err.contains("platform"), "{err}");
}
