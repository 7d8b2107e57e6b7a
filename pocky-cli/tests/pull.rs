//! End-to-end tests of `pocky pull`, `images`, `rmi` and `image inspect`
//! against the sandbox's registry (see ci/sandbox and ci/fixtures).

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

/// A stored layer's directory (`layer.json` plus `diff/` or `layer.erofs`).
fn layer_dir(root: &Path, chain_id: &str) -> std::path::PathBuf {
    root.join("layers")
        .join(chain_id.trim_start_matches("sha256:"))
}

/// What a stored layer holds at `path`, in either form: (mode, size,
/// rdev, opaque).
fn layer_entry(root: &Path, chain_id: &str, path: &str) -> Option<(u32, u64, u64, bool)> {
    let dir = layer_dir(root, chain_id);
    let image = dir.join("layer.erofs");
    if image.exists() {
        let img = pocky_erofs::Image::open(Box::new(std::fs::File::open(&image).unwrap())).unwrap();
        let parts: Vec<&[u8]> = path.split('/').map(str::as_bytes).collect();
        let node = img.lookup(&parts).unwrap()?;
        let opaque = img
            .xattrs(&node)
            .unwrap()
            .iter()
            .any(|(k, v)| k == b"trusted.overlay.opaque" && v == b"y");
        let rdev = if node.mode() & 0o170000 == 0o020000 {
            u64::from(node.inode.raw)
        } else {
            0
        };
        return Some((node.mode(), node.inode.size, rdev, opaque));
    }
    let p = dir.join("diff").join(path);
    let m = std::fs::symlink_metadata(&p).ok()?;
    let opaque = xattr(&p, "trusted.overlay.opaque").as_deref() == Some(&b"y"[..]);
    Some((m.mode(), m.len(), m.rdev(), opaque))
}

#[test]
fn pull_busybox_then_list_inspect_and_repull() {
    let Some(sb) = pocky_testkit::sandbox("pull_busybox") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let image = format!("{}/busybox", sb.registry);
    let out = ok(root.path(), &["pull", &image]);
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert!(
        out.trim_end().ends_with(&format!("{image}:latest")),
        "{out}"
    );

    let list = images_json(root.path());
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["Repository"], image);
    assert_eq!(list[0]["Tag"], "latest");
    assert_eq!(list[0]["Platform"], "linux/amd64");

    let table = ok(root.path(), &["images"]);
    let header = table.lines().next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }

    assert_eq!(
        ok(root.path(), &["images", "--format", "{{.Tag}} {{len .ID}}"]),
        "latest 12\n"
    );

    let info = inspect(root.path(), &image);
    assert_eq!(info["Config"]["Cmd"][0], "/bin/sh");
    let chain = info["ChainIDs"][0].as_str().unwrap();
    let (mode, size, _, _) = layer_entry(root.path(), chain, "bin/busybox").unwrap();
    assert!(size > 100_000 && mode & 0o111 != 0);
    // A fresh store on this kernel keeps layers as EROFS images.
    let system = ok(root.path(), &["system", "info"]);
    assert!(system.contains("Storage Driver: erofs"), "{system}");
    assert!(layer_dir(root.path(), chain).join("layer.erofs").is_file());

    let again = ok(root.path(), &["pull", &image]);
    assert!(again.contains("Image is up to date"), "{again}");
    assert_eq!(images_json(root.path()).as_array().unwrap().len(), 1);

    // By id prefix and by the two-word form of the original proof of concept.
    let id = info["Id"].as_str().unwrap();
    assert_eq!(inspect(root.path(), &id[7..15])["Id"], id);
    ok(root.path(), &["pull", &image, "latest"]);
    let q = ok(root.path(), &["images", "-q"]);
    assert_eq!(q.trim(), &id[7..19]);
}

#[test]
fn image_config_is_kept() {
    let Some(sb) = pocky_testkit::sandbox("image_config_is_kept") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let image = format!("{}/config:latest", sb.registry);
    ok(root.path(), &["pull", "-q", &image]);
    let c = &inspect(root.path(), &image)["Config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["echo hello from $GREETING"]));
    assert_eq!(c["WorkingDir"], "/work");
    assert_eq!(c["User"], "app");
    assert!(
        c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "GREETING=fixture")
    );
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_markers() {
    let Some(sb) = pocky_testkit::sandbox("whiteouts") else {
        return;
    };
    for driver in ["erofs", "overlay"] {
        let root = tempfile::tempdir().unwrap();
        let _reset = common::Reset(root.path());
        let image = format!("{}/layered", sb.registry);
        ok(root.path(), &["--storage-driver", driver, "pull", &image]);
        let info = inspect(root.path(), &image);
        let chains: Vec<&str> = info["ChainIDs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(chains.len(), 3);
        let r = root.path();
        let (motd, _, _, _) = layer_entry(r, chains[0], "etc/motd").unwrap();
        assert_eq!(motd & 0o170000, 0o100000, "{driver}");
        let (wh, _, rdev, _) = layer_entry(r, chains[1], "etc/motd").unwrap();
        assert_eq!((wh & 0o170000, rdev), (0o020000, 0), "{driver}");
        let (_, _, _, opaque) = layer_entry(r, chains[2], "opt/data").unwrap();
        assert!(opaque, "{driver}");
        assert!(layer_entry(r, chains[2], "opt/data/.wh..wh..opq").is_none());
        let form = if driver == "erofs" {
            "layer.erofs"
        } else {
            "diff"
        };
        assert!(layer_dir(r, chains[0]).join(form).exists(), "{driver}");
        // The merged view in a container is the same with both.
        let script = "test -e /etc/motd && echo motd shows; ls /opt/data";
        let out = ok(
            r,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &image,
                "sh",
                "-c",
                script,
            ],
        );
        assert_eq!(out.trim(), "c", "{driver}");
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

#[test]
fn docker_schema2_zstd_and_index_platforms() {
    let Some(sb) = pocky_testkit::sandbox("media_types") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let r = &sb.registry;
    ok(root.path(), &["pull", &format!("{r}/busybox")]);
    ok(root.path(), &["pull", &format!("{r}/busybox-v2s2")]);
    let oci = inspect(root.path(), &format!("{r}/busybox"));
    let v2 = inspect(root.path(), &format!("{r}/busybox-v2s2"));
    assert_eq!(oci["RootFS"], v2["RootFS"]);
    assert_eq!(
        v2["Manifest"]["MediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    ok(root.path(), &["pull", &format!("{r}/busybox-zstd")]);
    let z = inspect(root.path(), &format!("{r}/busybox-zstd"));
    let chain = z["ChainIDs"][0].as_str().unwrap();
    let (mode, _, _, _) = layer_entry(root.path(), chain, "etc/zstd-fixture").unwrap();
    assert_eq!(mode & 0o170000, 0o100000);

    // The index lists arm64 first; the host's amd64 entry must be chosen.
    ok(root.path(), &["pull", &format!("{r}/multiarch")]);
    assert_eq!(
        inspect(root.path(), &format!("{r}/multiarch"))["Architecture"],
        "amd64"
    );
    let other = tempfile::tempdir().unwrap();
    ok(
        other.path(),
        &[
            "pull",
            "--platform",
            "linux/arm64",
            &format!("{r}/multiarch"),
        ],
    );
    assert_eq!(
        inspect(other.path(), &format!("{r}/multiarch"))["Architecture"],
        "arm64"
    );
    let err = fails(
        other.path(),
        &[
            "pull",
            "--platform",
            "linux/s390x",
            &format!("{r}/multiarch"),
        ],
    );
    assert!(err.contains("s390x"), "{err}");
}

#[test]
fn rmi_untags_deletes_and_collects_only_unshared_layers() {
    let Some(sb) = pocky_testkit::sandbox("rmi") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let _reset = common::Reset(root.path());
    let r = &sb.registry;
    ok(root.path(), &["pull", &format!("{r}/busybox")]);
    ok(root.path(), &["pull", &format!("{r}/layered")]);
    let layered = inspect(root.path(), &format!("{r}/layered"));
    let base = layered["ChainIDs"][0].as_str().unwrap().to_owned();
    let top = layered["ChainIDs"][2].as_str().unwrap().to_owned();
    // busybox and layered share their base layer.
    assert_eq!(
        inspect(root.path(), &format!("{r}/busybox"))["ChainIDs"][0],
        base
    );

    let out = ok(root.path(), &["rmi", &format!("{r}/layered")]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(layer_dir(root.path(), &base).exists());
    assert!(!layer_dir(root.path(), &top).exists());

    let id = inspect(root.path(), &format!("{r}/busybox"))["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(root.path(), &["rmi", &id[7..14]]);
    assert_eq!(images_json(root.path()).as_array().unwrap().len(), 0);
    assert!(tree(&root.path().join("layers")).is_empty());
    assert!(tree(&root.path().join("blobs/sha256")).is_empty());
    let err = fails(root.path(), &["rmi", "nothing-here"]);
    assert!(err.contains("nothing-here"), "{err}");

    // An image a container uses is kept; -f only untags it.
    let image = format!("{r}/busybox");
    ok(root.path(), &["pull", "-q", &image]);
    ok(root.path(), &["run", "--name", "user", &image, "true"]);
    let err = fails(root.path(), &["rmi", &image]);
    assert!(err.contains("used by container"), "{err}");
    ok(root.path(), &["rmi", "-f", &image]);
    let list = images_json(root.path());
    assert_eq!(list[0]["Repository"], "<none>");
    ok(root.path(), &["rm", "user"]);
    let id = list[0]["ID"].as_str().unwrap().to_owned();
    ok(root.path(), &["rmi", &id]);
    assert!(tree(&root.path().join("layers")).is_empty());
    let err = fails(root.path(), &["rmi", "nothing-here"]);
    assert!(err.contains("nothing-here"), "{err}");
}

#[test]
fn bad_input_fails_cleanly_and_leaves_the_store_as_it_was() {
    let Some(sb) = pocky_testkit::sandbox("bad_input") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    ok(root.path(), &["pull", &format!("{}/busybox", sb.registry)]);
    let before = tree(root.path());
    for bad in [
        "Busybox",
        "a//b",
        "busybox:bad tag",
        "busybox@sha256:1234",
        ":latest",
    ] {
        let err = fails(root.path(), &["pull", bad]);
        assert!(
            err.to_lowercase().contains("reference") || err.contains(bad),
            "{bad}: {err}"
        );
    }
    let err = fails(
        root.path(),
        &["pull", &format!("{}/no-such-image", sb.registry)],
    );
    assert!(err.contains("no-such-image"), "{err}");
    // Nothing listens on this port: connection refused, retried, reported.
    fails(root.path(), &["pull", "127.0.0.1:9/busybox"]);
    assert_eq!(tree(root.path()), before);
}

#[test]
fn concurrent_pulls_of_one_image_agree() {
    let Some(sb) = pocky_testkit::sandbox("concurrent_pulls") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let image = format!("{}/layered", sb.registry);
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
                .arg("--root")
                .arg(root.path())
                .args(["pull", "-q", &image])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(images_json(root.path()).as_array().unwrap().len(), 1);
    assert_eq!(
        tree(&root.path().join("layers"))
            .iter()
            .filter(|p| !p.contains('/'))
            .count(),
        3
    );
    assert!(tree(&root.path().join("tmp")).is_empty());
}

#[test]
fn killed_pull_leaves_nothing_visible_and_next_pull_finishes() {
    let Some(sb) = pocky_testkit::sandbox("killed_pull") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let image = format!("{}/layered", sb.registry);
    // Kill at a few different moments; wherever it lands, no half image may
    // be listed and the next command must clean up.
    for delay_ms in [0u64, 5, 20, 60] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pocky"))
            .arg("--root")
            .arg(root.path())
            .args(["pull", "-q", &image])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let images = images_json(root.path());
        for img in images.as_array().unwrap() {
            // A listed image must be complete: every layer present.
            let info = inspect(root.path(), img["ID"].as_str().unwrap());
            for c in info["ChainIDs"].as_array().unwrap() {
                assert!(layer_dir(root.path(), c.as_str().unwrap()).exists());
            }
        }
        assert!(
            tree(&root.path().join("tmp")).is_empty(),
            "images listing cleaned tmp: {:?}",
            tree(&root.path().join("tmp"))
        );
    }
    ok(root.path(), &["pull", &image]);
    assert_eq!(images_json(root.path()).as_array().unwrap().len(), 1);
}
