//! `save` and `load`, checked with independent tools: skopeo copies
//! pocky's archives to the registry and makes archives pocky loads, umoci
//! builds an OCI layout, GNU tar and python make hostile archives.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Ctx, fails, id_and_digest, ok, one};

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn saved_archives_go_through_skopeo_and_back() {
    let Some(c) = Ctx::new("image_save", &["busybox", "layered"]) else {
        return;
    };
    let r = c.root();
    let reg = c.image("");
    let reg = reg.trim_end_matches('/');
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let layered = c.image("layered");
    let want = id_and_digest(r, &layered);

    ok(r, &["save", "-o", &file("one.tar"), &layered]);
    // skopeo reads it as either format; the OCI side keeps the manifest.
    let dest = format!("docker://{reg}/saved/oci:1");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("oci-archive:{}", file("one.tar")),
            &dest,
        ],
    );
    let dest2 = format!("docker://{reg}/saved/docker:1");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", file("one.tar")),
            &dest2,
        ],
    );
    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path();
    ok(f, &["pull", "-q", &format!("{reg}/saved/oci:1")]);
    assert_eq!(id_and_digest(f, &format!("{reg}/saved/oci:1")), want);
    ok(f, &["pull", "-q", &format!("{reg}/saved/docker:1")]);
    assert_eq!(id_and_digest(f, &format!("{reg}/saved/docker:1")).0, want.0);
    assert_eq!(
        one(
            f,
            &[
                "run",
                "--rm",
                &format!("{reg}/saved/docker:1"),
                "ls",
                "/opt/data"
            ]
        ),
        "c"
    );

    // Several images in one archive, into a fresh root: same ids and
    // manifest digests, tags as saved; gzip'd input too.
    ok(r, &["tag", &c.busybox(), "mine/bb:2"]);
    ok(
        r,
        &[
            "save",
            "-o",
            &file("many.tar"),
            &layered,
            "mine/bb:2",
            &c.busybox(),
        ],
    );
    let out = ok(f, &["load", "-i", &file("many.tar")]);
    assert!(out.contains("Loaded image: mine/bb:2"), "{out}");
    assert!(
        out.contains(&format!("Loaded image: {reg}/layered:latest")),
        "{out}"
    );
    assert_eq!(
        id_and_digest(f, "mine/bb:2"),
        id_and_digest(r, &c.busybox())
    );
    assert_eq!(id_and_digest(f, &layered), want);
    assert!(!one(f, &["run", "--rm", "mine/bb:2", "cat", "/etc/motd"]).is_empty());
    ok(f, &["system", "reset", "--force"]);
    let gz = file("many.tar.gz");
    let st = Command::new("sh")
        .args(["-c", &format!("gzip -c {} > {gz}", file("many.tar"))])
        .status()
        .unwrap();
    assert!(st.success());
    let f2 = tempfile::tempdir().unwrap();
    let out = ok(f2.path(), &["load", "-q", "-i", &gz]);
    assert_eq!(out.lines().count(), 2, "{out}");
    // Saving an image by id names none; stdout to a terminal is refused
    // (not testable here), stdout to a pipe works.
    let id = &want.0;
    let o = common::pocky(r, &["save", id]);
    assert!(o.status.success() && o.stdout.len() > 1024);
    let err = fails(r, &["save", "nosuch:1"]);
    assert!(err.contains("no such image"), "{err}");
    assert!(!Path::new(&file("nothing.tar")).exists());
    let err = fails(
        r,
        &["save", "-o", &file("nothing.tar"), &layered, "nosuch:1"],
    );
    assert!(err.contains("no such image"), "{err}");
    assert_eq!(count(dir.path()), 3, "no partial archive left");
}

#[test]
fn archives_from_skopeo_and_umoci_load() {
    let Some(c) = Ctx::new("image_load", &[]) else {
        return;
    };
    let r = c.root();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |n: &str| d.join(n).to_str().unwrap().to_owned();
    let src = format!("docker://{}", c.image("layered"));
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &src,
            &format!("docker-archive:{}:foo/bar:1", path("docker.tar")),
        ],
    );
    let out = ok(r, &["load", "-i", &path("docker.tar")]);
    assert_eq!(out, "Loaded image: foo/bar:1\n");
    assert_eq!(
        one(r, &["run", "--rm", "foo/bar:1", "ls", "/opt/data"]),
        "c"
    );
    let src = format!("docker://{}", c.image("busybox-zstd"));
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &src,
            &format!("oci-archive:{}:zstd", path("oci.tar")),
        ],
    );
    let out = ok(r, &["load", "-i", &path("oci.tar")]);
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    let id = out.trim().rsplit(' ').next().unwrap().to_owned();
    ok(r, &["run", "--rm", &id, "cat", "/etc/zstd-fixture"]);

    // An OCI layout built by umoci, tarred by GNU tar.
    let layout = path("layout");
    run("umoci", &["init", "--layout", &layout]);
    run("umoci", &["new", "--image", &format!("{layout}:t")]);
    let bundle = path("bundle");
    run(
        "umoci",
        &["unpack", "--image", &format!("{layout}:t"), &bundle],
    );
    let rootfs = d.join("bundle/rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::fs::write(rootfs.join("hello"), "from umoci\n").unwrap();
    run(
        "umoci",
        &["repack", "--image", &format!("{layout}:t"), &bundle],
    );
    run("tar", &["-C", &layout, "-cf", &path("umoci.tar"), "."]);
    let out = ok(r, &["load", "-q", "-i", &path("umoci.tar")]);
    let id = out.trim().to_owned();
    assert_eq!(
        one(r, &["run", "--rm", &id, "/bin/busybox", "cat", "/hello"]),
        "from umoci"
    );
}

#[test]
fn hostile_archives_store_nothing() {
    let Some(c) = Ctx::new("image_load_hostile", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tar");
    ok(r, &["save", "-o", good.to_str().unwrap(), &c.busybox()]);
    let script = r#"
import copy, io, sys, tarfile
src, out_dir = sys.argv[1], sys.argv[2]
good = tarfile.open(src)
members = [(m, good.extractfile(m).read() if m.isfile() else None) for m in good.getmembers()]
def write(name, edit):
    with tarfile.open(f"{out_dir}/{name}", "w") as t:
        for m, data in members:
            m2, data2 = edit(copy.copy(m), data)
            if m2 is not None:
                t.addfile(m2, io.BytesIO(data2) if data2 is not None else None)
def traversal(m, d):
    if m.name == "manifest.json":
        m.name = "../../manifest.json"
    return m, d
write("traversal.tar", traversal)
def mismatch(m, d):
    if m.name.startswith("blobs/sha256/") and m.size > 1000:
        d = bytearray(d); d[500] ^= 1; d = bytes(d)
    return m, d
write("mismatch.tar", mismatch)
def link(m, d):
    if m.name == "index.json":
        m.type = tarfile.SYMTYPE; m.linkname = "/etc/passwd"; m.size = 0
        return m, None
    if m.name == "manifest.json":
        return None, None
    return m, d
write("link.tar", link)
raw = open(src, "rb").read()
open(f"{out_dir}/truncated.tar", "wb").write(raw[: len(raw) // 2])
"#;
    let st = Command::new("/usr/bin/python3")
        .args([
            "-c",
            script,
            good.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let before = (
        ok(r, &["images", "-q"]),
        count(&r.join("blobs/sha256")),
        count(&r.join("layers")),
    );
    for (name, says) in [
        ("traversal.tar", ".."),
        ("mismatch.tar", "sha256"),
        ("link.tar", "index.json"),
        ("truncated.tar", ""),
    ] {
        let p = dir.path().join(name);
        let err = fails(r, &["load", "-i", p.to_str().unwrap()]);
        assert!(err.contains(says), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        let after = (
            ok(r, &["images", "-q"]),
            count(&r.join("blobs/sha256")),
            count(&r.join("layers")),
        );
        assert_eq!(after, before, "{name} changed the store");
        assert_eq!(count(&r.join("tmp")), 0, "{name} left scratch");
    }
    let err = fails(r, &["load", "-i", "/nonexistent.tar"]);
    assert!(err.contains("/nonexistent.tar"), "{err}");
}
