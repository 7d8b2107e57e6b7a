//! `commit`, `import` and `export`: checked with GNU tar and python's
//! tarfile, independent of pocky's own tar code.

mod common;

use std::process::Command;

use common::{Ctx, fails, ok, one};

/// The entries of the top layer blob of `image`, as GNU tar lists them.
fn top_layer_entries(root: &std::path::Path, image: &str) -> Vec<String> {
    let digest = one(
        root,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Manifest.Digest}}",
            image,
        ],
    );
    let blobs = root.join("blobs/sha256");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(blobs.join(top))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn commit_keeps_changes_and_hides_deleted_files() {
    let Some(c) = Ctx::new("image_commit", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let busybox = c.busybox();
    ok(
        r,
        &[
            "run",
            "--name",
            "work",
            "-e",
            "GREETING=hi",
            &busybox,
            "sh",
            "-c",
            "rm /etc/motd && echo made > /new && mkdir -p /d/e && ln -s /new /lnk && ln /new /hard",
        ],
    );
    let id = one(
        r,
        &[
            "commit",
            "-m",
            "my change",
            "-a",
            "Tester",
            "-c",
            r#"CMD ["cat", "/new"]"#,
            "-c",
            "LABEL stage=two",
            "work",
            "committed:v1",
        ],
    );
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(one(r, &["run", "--rm", "committed:v1"]), "made");
    let out = ok(
        r,
        &[
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "test ! -e /etc/motd && readlink /lnk && test -d /d/e && echo $GREETING && \
           [ $(stat -c %i /new) = $(stat -c %i /hard) ] && echo linked",
        ],
    );
    assert_eq!(out, "/new\nhi\nlinked\n");
    assert_eq!(
        one(
            r,
            &[
                "inspect",
                "--format",
                "{{.Config.Labels.stage}} {{.Author}}",
                "committed:v1"
            ]
        ),
        "two Tester"
    );
    let history = ok(r, &["history", "--no-trunc", "committed:v1"]);
    assert!(history.contains("my change"), "{history}");

    // The layer is OCI: a whiteout for the deleted file, no mount points
    // of the runtime (/etc/hosts, /etc/resolv.conf were never the image's).
    let entries = top_layer_entries(r, "committed:v1");
    assert!(entries.iter().any(|e| e == "etc/.wh.motd"), "{entries:?}");
    assert!(entries.iter().any(|e| e == "new"), "{entries:?}");
    for absent in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        assert!(
            !entries.iter().any(|e| e == absent),
            "{absent} in {entries:?}"
        );
    }

    // A running container is committed too (paused meanwhile).
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "live",
            &busybox,
            "sh",
            "-c",
            "echo live > /live; exec sleep 60",
        ],
    );
    common::eventually("the file is written", || {
        common::pocky(r, &["exec", "live", "test", "-e", "/live"])
            .status
            .success()
    });
    ok(r, &["commit", "live", "committed:live"]);
    assert_eq!(
        ok(r, &["inspect", "--format", "{{.State.Status}}", "live"]).trim(),
        "running"
    );
    assert_eq!(
        one(r, &["run", "--rm", "committed:live", "cat", "/live"]),
        "live"
    );
    ok(r, &["rm", "-f", "live", "work"]);

    let err = fails(r, &["commit", "-c", "RUN true", "nosuch"]);
    assert!(
        err.contains("not a valid change") || err.contains("no such"),
        "{err}"
    );
    let err = fails(r, &["commit", "nosuch", "x:1"]);
    assert!(err.contains("no such container"), "{err}");
}

#[test]
fn export_and_import_round_trip_modes_owners_links_xattrs() {
    let Some(c) = Ctx::new("image_import", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.tar");
    // A tar made by python's tarfile: owners, setuid, a symlink, a hard
    // link, a FIFO, an xattr (PAX), and busybox to run it with.
    let script = r#"
import io, sys, tarfile, time
out = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(ti, k, v)
    ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
    ti.mtime = 1700000000
    out.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
add("bin", type=tarfile.DIRTYPE, mode=0o755)
out.add("/bin/busybox", arcname="bin/busybox")
add("bin/sh", type=tarfile.SYMTYPE, linkname="busybox")
add("data", type=tarfile.DIRTYPE, mode=0o1777)
add("data/owned", b"owned\n", uid=1234, gid=5678, mode=0o4750)
add("data/hard", type=tarfile.LNKTYPE, linkname="data/owned")
add("data/link", type=tarfile.SYMTYPE, linkname="/data/owned")
add("data/fifo", type=tarfile.FIFOTYPE, mode=0o600)
add("data/x", b"x", pax_headers={"SCHILY.xattr.user.pocky": "yes"}, mode=0o644)
out.close()
"#;
    let st = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let id = one(
        r,
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-m",
            "from python",
            src.to_str().unwrap(),
            "imported:1",
        ],
    );
    assert!(id.starts_with("sha256:"));
    let out = ok(
        r,
        &[
            "run",
            "--name",
            "imp",
            "imported:1",
            "sh",
            "-c",
            "stat -c '%u %g %a %F' /data/owned /data/fifo /data; readlink /data/link; \
           [ $(stat -c %i /data/owned) = $(stat -c %i /data/hard) ] && echo linked; cat /data/owned",
        ],
    );
    assert_eq!(
        out,
        "1234 5678 4750 regular file\n0 0 600 fifo\n0 0 1777 directory\n/data/owned\nlinked\nowned\n"
    );
    let history = ok(r, &["history", "imported:1"]);
    assert!(history.contains("from python"), "{history}");

    // Export it and read the tar back with python: the same properties.
    let exported = dir.path().join("out.tar");
    ok(r, &["export", "-o", exported.to_str().unwrap(), "imp"]);
    let check = r#"
import sys, tarfile
t = tarfile.open(sys.argv[1])
m = {i.name.lstrip("./"): i for i in t.getmembers()}
o = m["data/owned"]
assert (o.uid, o.gid, o.mode) == (1234, 5678, 0o4750), (o.uid, o.gid, oct(o.mode))
assert m["data/hard"].islnk() or m["data/owned"].islnk(), "hard link kept"
assert m["data/link"].issym() and m["data/link"].linkname == "/data/owned"
assert m["data/fifo"].isfifo()
assert m["data/x"].pax_headers.get("SCHILY.xattr.user.pocky") == "yes", m["data/x"].pax_headers
assert "proc/cpuinfo" not in m
print("ok")
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", check])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it imports again.
    let f = exported.to_str().unwrap();
    ok(r, &["import", f, "reimported:1"]);
    assert_eq!(
        one(
            r,
            &[
                "run",
                "--rm",
                "reimported:1",
                "/bin/busybox",
                "cat",
                "/data/owned"
            ]
        ),
        "owned"
    );
    ok(r, &["rm", "imp"]);

    // A running container's export stays on its own filesystem: no
    // /proc, no volume contents.
    ok(
        r,
        &[
            "run",
            "-d",
            "--name",
            "live",
            "-v",
            "expvol:/vol",
            "imported:1",
            "sh",
            "-c",
            "echo v > /vol/in-volume; echo r > /in-root; exec busybox sleep 60",
        ],
    );
    common::eventually("the files are written", || {
        common::pocky(r, &["exec", "live", "sh", "-c", "[ -e /in-root ]"])
            .status
            .success()
    });
    let live = dir.path().join("live.tar");
    ok(r, &["export", "--output", live.to_str().unwrap(), "live"]);
    let out = Command::new("tar").arg("-tf").arg(&live).output().unwrap();
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "in-root"),
        "{names}"
    );
    for absent in ["vol/in-volume", "proc/self/", "proc/1/"] {
        assert!(
            !names
                .lines()
                .any(|l| l.trim_start_matches("./").starts_with(absent)),
            "{absent}: {names}"
        );
    }
    ok(r, &["rm", "-f", "live"]);

    // Hostile tars leave no image.
    let bad = dir.path().join("bad.tar");
    let script = r#"
import io, sys, tarfile
out = tarfile.open(sys.argv[1], "w")
ti = tarfile.TarInfo("../escape"); ti.size = 1
out.addfile(ti, io.BytesIO(b"x")); out.close()
"#;
    assert!(
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&bad)
            .status()
            .unwrap()
            .success()
    );
    let before = ok(r, &["images", "-q"]);
    let err = fails(r, &["import", bad.to_str().unwrap(), "bad:1"]);
    assert!(err.contains(".."), "{err}");
    assert_eq!(ok(r, &["images", "-q"]), before);
    let err = fails(r, &["import", "/nonexistent.tar"]);
    assert!(err.contains("/nonexistent.tar"), "{err}");
}
