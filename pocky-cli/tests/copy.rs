//! `pocky cp`: Docker's path forms, running and stopped containers, tar
//! streams both ways, and the ways a container or an archive could try to
//! reach the host.

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// `pocky ARGS` with `input` on stdin.
fn pocky_stdin(root: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("POCKY_ROOT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running pocky");
    let mut stdin = child.stdin.take().unwrap();
    // pocky may refuse the archive before reading all of it.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn one_line_failure(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(125), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

/// One raw ustar header and its data, names unchecked: what a hostile
/// archive holds.
fn tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = len - 1);
        h[at..at + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, data.len() as u64);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn tar_end(mut out: Vec<u8>) -> Vec<u8> {
    out.resize(out.len() + 1024, 0);
    out
}

/// Names of a tar's entries (ustar names only; enough for these tests).
fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let h = &tar[at..at + 512];
        let end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        names.push(String::from_utf8_lossy(&h[..end]).into_owned());
        let size_text = String::from_utf8_lossy(&h[124..135])
            .trim_matches('\0')
            .to_owned();
        let size = u64::from_str_radix(size_text.trim(), 8).unwrap_or(0);
        at += 512 + usize::try_from(size.div_ceil(512) * 512).unwrap();
    }
    names
}

fn unique(tag: &str) -> String {
    format!("pocky-cp-{tag}-{}", std::process::id())
}

#[test]
fn files_and_directories_out_of_a_running_container() {
    let Some(c) = Ctx::new("cp_out", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "src", &c.busybox(), "sleep", "1000"],
    );
    ok(
        r,
        &[
            "exec",
            "src",
            "sh",
            "-c",
            "mkdir -p /d/sub && echo one > /d/a && echo two > /d/sub/b && \
             chown 1234:4321 /d/a && chmod 4750 /d/a && ln -s a /d/link",
        ],
    );
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p);
    let hs = |p: &str| h(p).to_string_lossy().into_owned();

    // A file into an existing directory, under its own name; and to a new name.
    ok(r, &["cp", "src:/d/a", &hs("")]);
    assert_eq!(std::fs::read_to_string(h("a")).unwrap(), "one\n");
    let m = std::fs::metadata(h("a")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4750);
    assert_eq!((m.uid(), m.gid()), (0, 0), "owned by the caller without -a");
    ok(r, &["container", "cp", "-a", "src:d/a", &hs("kept")]);
    let m = std::fs::metadata(h("kept")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 4321), "-a keeps the owners");
    // Over an existing file.
    std::fs::write(h("over"), "old old old\n").unwrap();
    ok(r, &["cp", "src:/d/sub/b", &hs("over")]);
    assert_eq!(std::fs::read_to_string(h("over")).unwrap(), "two\n");

    // A directory to a new name, into an existing directory, and its contents.
    ok(r, &["cp", "src:/d", &hs("new")]);
    assert_eq!(std::fs::read_to_string(h("new/sub/b")).unwrap(), "two\n");
    assert_eq!(
        std::fs::read_link(h("new/link")).unwrap(),
        Path::new("a"),
        "a symlink is copied as a link"
    );
    std::fs::create_dir(h("into")).unwrap();
    ok(r, &["cp", "src:/d", &hs("into")]);
    assert!(h("into/d/sub/b").is_file());
    std::fs::create_dir(h("contents")).unwrap();
    ok(r, &["cp", "src:/d/.", &hs("contents")]);
    assert!(h("contents/sub/b").is_file());
    assert!(!h("contents/d").exists());
    // -L copies what a link points at.
    ok(r, &["cp", "-L", "src:/d/link", &hs("followed")]);
    assert_eq!(std::fs::read_to_string(h("followed")).unwrap(), "one\n");

    ok(r, &["rm", "-f", "src"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn into_a_running_container_read_back_with_exec() {
    let Some(c) = Ctx::new("cp_in", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "dst",
            "-v",
            "vol:/data",
            &c.busybox(),
            "sleep",
            "1000",
        ],
    );
    let host = tempfile::tempdir().unwrap();
    let h = |p: &str| host.path().join(p);
    let hs = |p: &str| h(p).to_string_lossy().into_owned();
    std::fs::create_dir_all(h("tree/sub")).unwrap();
    std::fs::write(h("tree/sub/f"), "in\n").unwrap();
    std::fs::write(h("file"), "file\n").unwrap();
    std::os::unix::fs::chown(h("file"), Some(1000), Some(1000)).unwrap();

    ok(r, &["cp", &hs("file"), "dst:/tmp/"]);
    assert_eq!(ok(r, &["exec", "dst", "cat", "/tmp/file"]), "file\n");
    assert_eq!(
        ok(r, &["exec", "dst", "stat", "-c", "%u:%g", "/tmp/file"]),
        "0:0\n"
    );
    ok(r, &["cp", "-a", &hs("file"), "dst:/tmp/kept"]);
    assert_eq!(
        ok(r, &["exec", "dst", "stat", "-c", "%u:%g", "/tmp/kept"]),
        "1000:1000\n"
    );
    ok(r, &["cp", &hs("tree"), "dst:/tmp/t"]);
    assert_eq!(ok(r, &["exec", "dst", "cat", "/tmp/t/sub/f"]), "in\n");
    ok(r, &["cp", &format!("{}/.", hs("tree")), "dst:/tmp"]);
    assert_eq!(ok(r, &["exec", "dst", "cat", "/tmp/sub/f"]), "in\n");
    // The running container's view has its volumes.
    ok(r, &["cp", &hs("file"), "dst:/data/"]);
    let vol = r.join("volumes/vol/_data/file");
    assert_eq!(std::fs::read_to_string(vol).unwrap(), "file\n");

    let err = fails(r, &["cp", &hs("file"), "dst:/nonexist/x"]);
    assert!(
        err.contains("Could not find the file /nonexist in container dst"),
        "{err}"
    );
    let err = fails(r, &["cp", &hs("tree"), "dst:/tmp/file"]);
    assert!(err.contains("cannot copy directory"), "{err}");
    let err = fails(r, &["cp", &hs("nothing"), "dst:/tmp"]);
    assert!(err.contains("no such file or directory"), "{err}");

    ok(r, &["rm", "-f", "dst"]);
    ok(r, &["volume", "rm", "vol"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn into_and_out_of_a_created_container_without_touching_the_callers_mounts() {
    let Some(c) = Ctx::new("cp_stopped", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let mounts = caller_mounts;
    ok(
        r,
        &[
            "create",
            "--name",
            "cold",
            "-v",
            "/data",
            &c.busybox(),
            "cat",
            "/in/f",
            "/etc/motd",
        ],
    );
    let before = mounts();
    let host = tempfile::tempdir().unwrap();
    let hs = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    std::fs::create_dir(host.path().join("in")).unwrap();
    std::fs::write(host.path().join("in/f"), "copied before start\n").unwrap();
    ok(r, &["cp", &hs("in"), "cold:/"]);
    // Out of the stopped container too: the image's files and the copy.
    ok(r, &["cp", "cold:/in/f", &hs("back")]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("back")).unwrap(),
        "copied before start\n"
    );
    ok(r, &["cp", "cold:/etc/passwd", &hs("passwd")]);
    assert!(
        std::fs::read_to_string(host.path().join("passwd"))
            .unwrap()
            .contains("root:")
    );
    // A volume is not there until the container runs: refused, not hidden.
    let err = fails(r, &["cp", &hs("in"), "cold:/data/x"]);
    assert!(err.contains("start the container"), "{err}");
    assert_eq!(mounts(), before, "cp changed the caller's mount table");

    let id = ok(r, &["inspect", "-f", "{{.Id}}", "cold"]);
    let upper = r.join("containers").join(id.trim()).join("upper/in/f");
    assert!(upper.is_file(), "the copy lands in the upper layer");
    ok(r, &["start", "cold"]);
    assert_eq!(ok(r, &["wait", "cold"]).trim(), "0");
    assert!(ok(r, &["logs", "cold"]).starts_with("copied before start\n"));
    assert_eq!(mounts(), before);
    ok(r, &["rm", "-v", "cold"]);
    assert!(tree(&r.join("containers")).is_empty());
    assert!(tree(&r.join("tmp")).iter().all(|e| !e.contains("merged")));
}

#[test]
fn tar_streams_both_ways() {
    let Some(c) = Ctx::new("cp_stream", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "st", &c.busybox(), "sleep", "1000"],
    );
    let out = pocky(r, &["cp", "st:/etc/passwd", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tar_names(&out.stdout), ["passwd"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("root:x:0:0"));
    let out = pocky(r, &["cp", "st:/etc", "-"]);
    let names = tar_names(&out.stdout);
    assert!(names.contains(&"etc".to_string()) && names.contains(&"etc/passwd".to_string()));

    let mut tar = Vec::new();
    tar_entry(&mut tar, "dir/", b'5', "", b"");
    tar_entry(&mut tar, "dir/hello", b'0', "", b"from a stream\n");
    let tar = tar_end(tar);
    let o = pocky_stdin(r, &["cp", "-", "st:/tmp"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        ok(r, &["exec", "st", "cat", "/tmp/dir/hello"]),
        "from a stream\n"
    );
    let err = one_line_failure(&pocky_stdin(r, &["cp", "-", "st:/etc/passwd"], &tar));
    assert!(err.contains("must be a directory"), "{err}");
    let err = one_line_failure(&pocky_stdin(r, &["cp", "-", "st:/nope"], &tar));
    assert!(
        err.contains("Could not find the file /nope in container st"),
        "{err}"
    );

    ok(r, &["rm", "-f", "st"]);
    assert!(tree(&r.join("containers")).is_empty());
}

/// `/evil -> /../../../../etc` in the container is the container's /etc
/// to cp, out and in: the host's files are neither read nor written.
#[test]
fn symlinks_in_the_container_resolve_inside_it() {
    let Some(c) = Ctx::new("cp_links", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "ln", &c.busybox(), "sleep", "1000"],
    );
    let marker = unique("marker");
    ok(
        r,
        &[
            "exec",
            "ln",
            "sh",
            "-c",
            &format!(
                "ln -s /../../../../etc /evil && ln -s ../../../../../tmp /evtmp && \
                 ln -s /proc/self/root/etc /magic && echo inside > /etc/{marker}"
            ),
        ],
    );
    let host = tempfile::tempdir().unwrap();
    let hs = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    ok(r, &["cp", &format!("ln:/evil/{marker}"), &hs("m")]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("m")).unwrap(),
        "inside\n"
    );
    ok(r, &["cp", "ln:/evil/hostname", &hs("hostname")]);
    let id = ok(r, &["inspect", "-f", "{{.Id}}", "ln"]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("hostname"))
            .unwrap()
            .trim(),
        &id.trim()[..12],
        "the container's /etc/hostname, not the host's"
    );
    // Into the container through the links: the container's /tmp.
    let name = unique("planted");
    std::fs::write(host.path().join(&name), "x").unwrap();
    ok(r, &["cp", &hs(&name), "ln:/evtmp/"]);
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "written to the host's /tmp"
    );
    assert_eq!(ok(r, &["exec", "ln", "cat", &format!("/tmp/{name}")]), "x");
    // A magic link is refused rather than followed.
    let o = pocky(r, &["cp", "ln:/magic/passwd", &hs("magic")]);
    assert!(!o.status.success());
    assert!(!host.path().join("magic").exists());

    ok(r, &["rm", "-f", "ln"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn a_hostile_tar_on_stdin_is_refused_or_harmless() {
    let Some(c) = Ctx::new("cp_hostile", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "hx", &c.busybox(), "sleep", "1000"],
    );
    ok(r, &["exec", "hx", "mkdir", "/x"]);
    ok(r, &["create", "--name", "hy", &c.busybox(), "true"]);
    let esc = unique("escape");
    let abs = unique("abs");
    let thru = unique("through");

    for target in ["hx:/x", "hy:/tmp"] {
        let mut dotdot = Vec::new();
        tar_entry(
            &mut dotdot,
            &format!("../../../../../tmp/{esc}"),
            b'0',
            "",
            b"x",
        );
        let o = pocky_stdin(r, &["cp", "-", target], &tar_end(dotdot));
        let err = one_line_failure(&o);
        assert!(err.contains(".."), "{err}");

        // Absolute names are relative to the destination, as Docker's.
        let mut absolute = Vec::new();
        tar_entry(&mut absolute, &format!("/tmp/{abs}"), b'0', "", b"x");
        let o = pocky_stdin(r, &["cp", "-", target], &tar_end(absolute));
        assert!(o.status.success(), "{}", stderr(&o));

        let mut through = Vec::new();
        tar_entry(&mut through, "l", b'2', "/", b"");
        tar_entry(&mut through, &format!("l/tmp/{thru}"), b'0', "", b"x");
        let err = one_line_failure(&pocky_stdin(r, &["cp", "-", target], &tar_end(through)));
        assert!(err.contains("symlink"), "{err}");

        let mut hard = Vec::new();
        tar_entry(&mut hard, "h", b'1', "/etc/passwd", b"");
        one_line_failure(&pocky_stdin(r, &["cp", "-", target], &tar_end(hard)));
    }
    for name in [&esc, &abs, &thru] {
        assert!(!Path::new("/tmp").join(name).exists(), "{name} on the host");
    }
    // Inside, the absolute entry landed beneath the destination only.
    ok(r, &["exec", "hx", "test", "-f", &format!("/x/tmp/{abs}")]);
    let o = pocky(r, &["exec", "hx", "test", "-e", &format!("/tmp/{thru}")]);
    assert!(!o.status.success());

    ok(r, &["rm", "-f", "hx", "hy"]);
    assert!(tree(&r.join("containers")).is_empty());
}

#[test]
fn bad_arguments_and_missing_paths_give_one_line_errors() {
    let Some(c) = Ctx::new("cp_errors", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(
        r,
        &["run", "-d", "--name", "er", &c.busybox(), "sleep", "1000"],
    );
    let host = tempfile::tempdir().unwrap();
    let hs = |p: &str| host.path().join(p).to_string_lossy().into_owned();
    std::fs::write(host.path().join("file"), "f").unwrap();
    let cases: [(&[&str], &str); 9] = [
        (
            &["er:/nonexist", &hs("x")],
            "Could not find the file /nonexist in container er",
        ),
        (&["nosuch:/etc", &hs("x")], "no such container"),
        (
            &[&hs("a"), &hs("b")],
            "must specify at least one container source",
        ),
        (
            &["er:/etc", "er:/tmp"],
            "copying between containers is not supported",
        ),
        (&["er:/etc/passwd/", &hs("x")], "not a directory"),
        (&["er:/etc", &hs("file")], "cannot copy directory"),
        (&["er:/etc/passwd", &hs("nodir/x")], "does not exist"),
        (&["er:/etc/passwd", &hs("newdir/")], "no such directory"),
        (&["er:", &hs("x")], "can not be empty"),
    ];
    for (args, want) in cases {
        let mut all = vec!["cp"];
        all.extend_from_slice(args);
        let err = fails(r, &all);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!host.path().join("x").exists());
    ok(r, &["rm", "-f", "er"]);
    assert!(tree(&r.join("containers")).is_empty());
}
