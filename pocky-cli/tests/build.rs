//! `pocky build` against podman build (Debian's podman, its own storage
//! in a temp dir, the same sandbox registry): same files, same config,
//! same behaviour when run; then the cache, failures and hostile contexts.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use common::build::{Podman, build, build_ok, differences, pocky_tree, write_context};
use common::{Ctx, ok, stderr, stdout};

/// A two-stage Dockerfile using most of what a daily Dockerfile uses and
/// podman 4.3 understands (no heredocs: buildah 1.28 has none).
const TWO_STAGES: &str = r#"ARG REG
FROM $REG/busybox AS builder
ARG VERSION=1.0
ENV APP_HOME=/app \
    GREETING="hello world"
WORKDIR $APP_HOME
COPY src/ ./src/
COPY --chown=10:20 top.txt data/
COPY --chmod=755 tool.sh /usr/local/bin/tool
COPY *.conf conf/
ADD files.tar /opt/unpacked/
RUN echo "$VERSION" > version && mkdir -p built && cp -a src built/ && ln -s version built/v && rm src/gone.txt

FROM $REG/busybox
LABEL org.example.name="demo" version=2
COPY --from=builder /app/built /srv/
COPY --from=builder /app/version /app/data/top.txt /srv/meta/
COPY --from=builder /opt /opt
COPY --from=builder /app/conf /etc/app/
COPY --from=builder /usr/local/bin/tool /usr/local/bin/
RUN mkdir -p /data && echo x > /data/seed && rm -rf /etc/network /home && echo 'app:x:1000:1000::/srv:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group
EXPOSE 8080/tcp 53/udp
VOLUME ["/data"]
USER app
WORKDIR /srv
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/meta/version"]
"#;

fn two_stage_context(dir: &Path) {
    write_context(
        dir,
        &[
            ("Dockerfile", TWO_STAGES),
            ("src/a.txt", "a\n"),
            ("src/sub/b.txt", "b\n"),
            ("src/gone.txt", "gone\n"),
            ("top.txt", "top\n"),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
            ("one.conf", "one\n"),
            ("two.conf", "two\n"),
            ("t/d/f", "inner\n"),
        ],
    );
    symlink("a.txt", dir.join("src/link")).unwrap();
    std::fs::set_permissions(dir.join("src/sub/b.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    // The archive ADD unpacks, written by GNU tar with owners of its own.
    let tar = Command::new("tar")
        .args(["--owner=5", "--group=6", "-C"])
        .arg(dir.join("t"))
        .arg("-cf")
        .arg(dir.join("files.tar"))
        .arg("d")
        .status()
        .unwrap();
    assert!(tar.success());
    std::fs::remove_dir_all(dir.join("t")).unwrap();
}

/// The Config fields both builders write, podman's own label dropped.
fn config(inspect: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(inspect).expect("inspect json");
    let mut c = v[0]["Config"].clone();
    if let Some(labels) = c["Labels"].as_object_mut() {
        labels.remove("io.buildah.version");
    }
    let keys = [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
    ];
    keys.iter()
        .map(|k| (k.to_string(), c[*k].clone()))
        .collect()
}

#[test]
fn builds_what_podman_builds() {
    let Some(ctx) = Ctx::new("build_matches_podman", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    two_stage_context(dir.path());
    let context = dir.path().to_str().unwrap();
    let reg = format!("REG={}", ctx.image("").trim_end_matches('/'));
    let args = ["--build-arg", &reg, "--build-arg", "VERSION=2.5"];

    let pm_dir = tempfile::tempdir().unwrap();
    let podman = Podman { dir: pm_dir.path() };
    let mut pm_args = vec![
        "build",
        "-q",
        "--format",
        "docker",
        "--tls-verify=false",
        "-t",
        "cmp",
    ];
    pm_args.extend_from_slice(&args);
    pm_args.push(context);
    podman.ok(&pm_args);

    let mut ours = vec!["-t", "cmp"];
    ours.extend_from_slice(&args);
    ours.push(context);
    build_ok(ctx.root(), &ours);

    let theirs = podman.tree("cmp");
    let mine = pocky_tree(ctx.root(), "cmp");
    let diff = differences(&theirs, &mine);
    assert!(
        diff.is_empty(),
        "filesystems differ (podman vs pocky):\n{}",
        diff.join("\n")
    );

    let theirs = config(&podman.ok(&["image", "inspect", "cmp"]));
    let mine = config(ok(ctx.root(), &["image", "inspect", "cmp"]).as_bytes());
    assert_eq!(theirs, mine, "configs differ (podman vs pocky)");
    let health = ok(
        ctx.root(),
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Healthcheck}}",
            "cmp",
        ],
    );
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(health["Interval"], 30_000_000_000u64);

    // And they run the same.
    let script = "cat /srv/meta/version /srv/src/link; id -u; tool; cat /etc/app/one.conf";
    let pm_out = podman.ok(&["run", "--rm", "--network", "none", "cmp", script]);
    let out = ok(
        ctx.root(),
        &["run", "--rm", "--network", "none", "cmp", script],
    );
    assert_eq!(String::from_utf8_lossy(&pm_out), out);
    assert_eq!(out, "2.5\na\n1000\ntool\none\n");
    podman.run(&["system", "reset", "--force"]);
}

#[test]
fn the_cache_reuses_steps_until_an_input_changes() {
    let Some(ctx) = Ctx::new("build_cache", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {}\nARG V=1\nCOPY a.txt /a\nRUN echo $V > /v\nCOPY b.txt /b\nCMD cat /a /v /b\n",
        ctx.busybox()
    );
    write_context(
        dir.path(),
        &[
            ("Dockerfile", &dockerfile),
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
        ],
    );
    let context = dir.path().to_str().unwrap();
    let steps = |out: &str| -> Vec<bool> {
        // For each step after FROM: whether it came from the cache.
        let mut v = Vec::new();
        for block in out.split("Step ").skip(2) {
            v.push(block.contains("Using cache"));
        }
        v
    };
    let first = build(ctx.root(), &["-t", "c1", context]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        !stdout(&first).contains("Using cache"),
        "{}",
        stdout(&first)
    );
    let id = ok(ctx.root(), &["inspect", "--format", "{{.Id}}", "c1"]);

    let again = build(ctx.root(), &["-t", "c1", context]);
    // ARG has no cache line (it adds nothing); every other step is cached.
    assert_eq!(
        steps(&stdout(&again)),
        [false, true, true, true, true],
        "{}",
        stdout(&again)
    );
    assert_eq!(
        ok(ctx.root(), &["inspect", "--format", "{{.Id}}", "c1"]),
        id
    );

    // A new mtime alone changes nothing; new contents rebuild from there.
    std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    assert_eq!(
        steps(&stdout(&build(ctx.root(), &[context]))),
        [false, true, true, true, true]
    );
    std::fs::write(dir.path().join("b.txt"), "B\n").unwrap();
    assert_eq!(
        steps(&stdout(&build(ctx.root(), &[context]))),
        [false, true, true, false, false]
    );
    let out = build(ctx.root(), &["--build-arg", "V=2", "-t", "c2", context]);
    assert_eq!(steps(&stdout(&out)), [false, true, false, false, false]);
    assert_eq!(ok(ctx.root(), &["run", "--rm", "c2"]), "a\n2\nB\n");

    let out = build(ctx.root(), &["--no-cache", context]);
    assert!(out.status.success() && !stdout(&out).contains("Using cache"));

    // builder prune drops the step images and the index, not named images.
    let before = ok(ctx.root(), &["images", "-aq"]).lines().count();
    let pruned = ok(ctx.root(), &["builder", "prune"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let after = ok(ctx.root(), &["images", "-aq"]).lines().count();
    assert!(after < before, "{before} -> {after}");
    assert_eq!(ok(ctx.root(), &["run", "--rm", "c2"]), "a\n2\nB\n");
    let out = build(ctx.root(), &[context]);
    assert!(
        !stdout(&out).contains("Using cache"),
        "the index is gone: {}",
        stdout(&out)
    );
}

#[test]
fn a_failing_step_names_its_line_and_leaves_no_container() {
    let Some(ctx) = Ctx::new("build_failure", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {}\nRUN echo before\nRUN echo oops >&2; exit 3\nRUN echo after\n",
        ctx.busybox()
    );
    write_context(dir.path(), &[("Dockerfile", &dockerfile)]);
    let out = build(ctx.root(), &["-t", "broken", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("returned a non-zero code: 3") && err.contains("line 3"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("oops"),
        "the step's stderr is shown: {}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("after"));
    assert_eq!(
        ok(ctx.root(), &["ps", "-aq"]),
        "",
        "no build container is left"
    );
    assert!(
        !ok(ctx.root(), &["images"]).contains("broken"),
        "nothing is tagged"
    );

    // Bad Dockerfiles and flags: pocky's own failure, one line.
    write_context(
        dir.path(),
        &[("Dockerfile", "FROM scratch\nFROBNICATE x\n")],
    );
    let err = common::fails(ctx.root(), &["build", dir.path().to_str().unwrap()]);
    assert!(err.contains("FROBNICATE"), "{err}");
    write_context(dir.path(), &[("Dockerfile", "RUN true\n")]);
    common::fails(ctx.root(), &["build", dir.path().to_str().unwrap()]);
    common::fails(ctx.root(), &["build", "/nonexistent/context"]);
    write_context(
        dir.path(),
        &[("Dockerfile", &format!("FROM {}\nRUN true\n", ctx.busybox()))],
    );
    let err = common::fails(
        ctx.root(),
        &["build", "--target", "nope", dir.path().to_str().unwrap()],
    );
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn hostile_contexts_stay_inside() {
    let Some(ctx) = Ctx::new("build_hostile", &["busybox"]) else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "host secret\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_context(
        d,
        &[
            ("keep/file", "kept\n"),
            ("private.key", "no\n"),
            ("logs/x.log", "no\n"),
            (".dockerignore", "Dockerfile\n*.key\nlogs\n"),
        ],
    );
    symlink(outside.path().join("secret"), d.join("abs-link")).unwrap();
    symlink(
        "../../../../../../..".to_owned() + outside.path().to_str().unwrap(),
        d.join("rel-link"),
    )
    .unwrap();
    symlink(outside.path(), d.join("keep/dir-link")).unwrap();
    let context = d.to_str().unwrap();
    let img = ctx.busybox();
    let try_build = |body: &str| {
        write_context(d, &[("Dockerfile", &format!("FROM {img}\n{body}\n"))]);
        build(ctx.root(), &["-t", "hostile", context])
    };
    for src in [
        "abs-link",
        "rel-link",
        "keep/dir-link/secret",
        "../secret",
        "/../secret",
    ] {
        let out = try_build(&format!("COPY {src} /got"));
        assert_eq!(out.status.code(), Some(125), "COPY {src}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.contains("not found in build context") || err.contains("outside the build context"),
            "{src}: {err}"
        );
    }
    // A symlink inside a copied directory is copied as a link, not followed;
    // the Dockerfile and ignored files are read or skipped as Docker does.
    let out = try_build(
        "COPY . /ctx/\nRUN ls -A /ctx /ctx/keep && readlink /ctx/keep/dir-link && ! cat /ctx/keep/dir-link/secret",
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let listing = ok(
        ctx.root(),
        &[
            "run",
            "--rm",
            "hostile",
            "sh",
            "-c",
            "cd /ctx && find . | sort",
        ],
    );
    assert_eq!(
        listing,
        "\n.\n./.dockerignore\n./abs-link\n./keep\n./keep/dir-link\n./keep/file\n./rel-link\n"
            .trim_start(),
        "Dockerfile, *.key and logs are left out"
    );

    // A tar context on stdin with an entry climbing out is refused whole.
    let evil = d.join("evil.tar");
    let py = format!(
        "import tarfile,io\nt=tarfile.open('{}','w')\nfor n,b in [('Dockerfile',b'FROM scratch\\nCOPY . /\\n'),('../escaped',b'x')]:\n  i=tarfile.TarInfo(n); i.size=len(b); t.addfile(i,io.BytesIO(b))\nt.close()\n",
        evil.display()
    );
    assert!(
        Command::new("python3")
            .args(["-c", &py])
            .status()
            .unwrap()
            .success()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(ctx.root())
        .args(["build", "-"])
        .stdin(Stdio::from(std::fs::File::open(&evil).unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!d.parent().unwrap().join("escaped").exists());
}

#[test]
fn contexts_from_stdin_and_tar_files_and_other_dockerfiles() {
    let Some(ctx) = Ctx::new("build_sources", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_context(
        d,
        &[
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY msg /\nCMD cat /msg\n", ctx.busybox()),
            ),
            (
                "alt/Dockerfile.alt",
                &format!("FROM {}\nCOPY msg /other\nCMD cat /other\n", ctx.busybox()),
            ),
            ("msg", "from the context\n"),
        ],
    );
    let tar = d.join("../ctx.tar.gz");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(d)
            .arg("-czf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(ctx.root())
        .args(["build", "-q", "-t", "stdin", "-"])
        .stdin(Stdio::from(std::fs::File::open(&tar).unwrap()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ok(ctx.root(), &["run", "--rm", "stdin"]),
        "from the context\n"
    );
    build_ok(
        ctx.root(),
        &[
            "-t",
            "file",
            "-f",
            "alt/Dockerfile.alt",
            tar.to_str().unwrap(),
        ],
    );
    assert_eq!(
        ok(ctx.root(), &["run", "--rm", "file"]),
        "from the context\n"
    );
    let iid = d.join("../iid");
    let alt = d.join("alt/Dockerfile.alt");
    build_ok(
        ctx.root(),
        &[
            "-f",
            alt.to_str().unwrap(),
            "--iidfile",
            iid.to_str().unwrap(),
            d.to_str().unwrap(),
        ],
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    std::fs::remove_file(&tar).unwrap();
    std::fs::remove_file(&iid).unwrap();
}

#[test]
fn a_large_context_is_streamed_not_held() {
    let Some(ctx) = Ctx::new("build_large", &["busybox"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let df = format!(
        "FROM {}\nCOPY big /big\nCMD stat -c %s /big\n",
        ctx.busybox()
    );
    write_context(dir.path(), &[("Dockerfile", &df)]);
    const SIZE: u64 = 200 << 20;
    std::fs::File::create(dir.path().join("big"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    // Reaped by wait4 below, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(ctx.root())
        .args(["build", "-q", "-t", "big"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointers; the pid is our own unreaped child.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "build failed"
    );
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(
        peak_mib < 64,
        "a {} MiB context took {peak_mib} MiB",
        SIZE >> 20
    );
    assert_eq!(
        ok(ctx.root(), &["run", "--rm", "big"]).trim(),
        SIZE.to_string()
    );
}
