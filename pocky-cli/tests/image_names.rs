//! `tag`, `history`, `image prune`, `rmi --no-prune` and where pulled
//! layer blobs are kept.

mod common;

use common::{Ctx, fails, ok, one};

#[test]
fn tag_moves_names_and_prune_removes_untagged() {
    let Some(c) = Ctx::new("image_tag", &["busybox", "config"]) else {
        return;
    };
    let r = c.root();
    let busybox = c.busybox();
    ok(r, &["tag", &busybox, "mine:1"]);
    ok(r, &["image", "tag", &busybox, "localhost:5000/team/app"]);
    let listed = ok(r, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for name in ["mine:1", "localhost:5000/team/app:latest"] {
        assert!(listed.lines().any(|l| l == name), "{name} in {listed}");
    }
    let id = one(r, &["inspect", "--format", "{{.Id}}", "mine:1"]);
    assert_eq!(id, one(r, &["inspect", "--format", "{{.Id}}", &busybox]));

    // The name moves to the other image, as in Docker.
    ok(r, &["tag", &c.image("config"), "mine:1"]);
    let moved = one(r, &["inspect", "--format", "{{.Id}}", "mine:1"]);
    assert_ne!(moved, id);
    let err = fails(r, &["tag", &busybox, "bad@sha256:abc"]);
    assert!(err.contains("digest") || err.contains("invalid"), "{err}");
    let err = fails(r, &["tag", "nosuch", "x"]);
    assert!(err.contains("no such image"), "{err}");
    let err = fails(r, &["tag", &busybox, "UPPER"]);
    assert!(err.contains("lowercase"), "{err}");

    // Busybox's last name moves away: it is left dangling, and prune
    // removes it (but not the image a container uses).
    ok(r, &["rmi", "localhost:5000/team/app"]);
    ok(r, &["tag", &c.image("config"), &busybox]);
    assert!(!ok(r, &["images", "-q", "-f", "dangling=true"]).is_empty());
    ok(r, &["create", "--name", "user", "mine:1", "true"]);
    let out = ok(r, &["image", "prune", "-f"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert!(ok(r, &["images", "-q", "-f", "dangling=true"]).is_empty());
    let out = ok(r, &["image", "prune", "-a", "-f"]);
    assert!(!out.contains("Deleted"), "{out}");
    assert_eq!(ok(r, &["images", "-q"]).lines().count(), 1);
    ok(r, &["rm", "user"]);
    ok(
        r,
        &[
            "image",
            "prune",
            "-a",
            "-f",
            "--filter",
            "label=io.pocky.fixture=other",
        ],
    );
    assert_eq!(ok(r, &["images", "-q"]).lines().count(), 1);
    ok(r, &["image", "prune", "-a", "-f"]);
    assert_eq!(ok(r, &["images", "-q"]).lines().count(), 0);
    let left = std::fs::read_dir(r.join("blobs/sha256")).unwrap().count();
    assert_eq!(left, 0, "every blob collected");
}

#[test]
fn history_lists_steps_and_layer_blobs_are_kept() {
    let Some(c) = Ctx::new("image_history", &["layered"]) else {
        return;
    };
    let r = c.root();
    let image = c.image("layered");
    let out = ok(r, &["history", &image]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{out}");
    assert!(lines.len() >= 4, "three layers at least: {out}");
    let id = one(r, &["inspect", "--format", "{{.Id}}", &image]);
    assert!(lines[1].starts_with(&id[7..19]), "{out}");
    let quiet = ok(r, &["history", "-q", "--no-trunc", &image]);
    assert_eq!(quiet.lines().next(), Some(id.as_str()));
    let json = ok(r, &["history", "--format", "json", &image]);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v.get("CreatedBy").is_some(), "{l}");
    }

    // Every layer's compressed blob is in the store, as the registry has it.
    let manifest_digest = one(
        r,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Manifest.Digest}}",
            &image,
        ],
    );
    let hex = manifest_digest.trim().trim_start_matches("sha256:");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join("blobs/sha256").join(hex)).unwrap()).unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let blob = std::fs::read(r.join("blobs/sha256").join(d)).unwrap();
        assert_eq!(blob.len() as u64, l["size"].as_u64().unwrap());
        assert_eq!(pocky_engine::store::sha256_of(&blob), format!("sha256:{d}"));
    }
    // rmi --no-prune keeps the blobs; the next collection takes them.
    ok(r, &["rmi", "--no-prune", &image]);
    assert!(std::fs::read_dir(r.join("blobs/sha256")).unwrap().count() > 0);
    ok(r, &["system", "prune", "-f"]);
    assert_eq!(
        std::fs::read_dir(r.join("blobs/sha256")).unwrap().count(),
        0
    );
}

#[test]
fn run_pull_policies_and_cidfile() {
    let Some(c) = Ctx::new("run_pull_policy", &[]) else {
        return;
    };
    let r = c.root();
    let busybox = c.busybox();
    let err = fails(r, &["run", "--rm", "--pull", "never", &busybox, "true"]);
    assert!(err.contains("no such image"), "{err}");
    assert!(ok(r, &["images", "-q"]).is_empty(), "never pulls");
    assert_eq!(
        ok(
            r,
            &["run", "--rm", "--pull", "always", &busybox, "echo", "hi"]
        ),
        "hi\n"
    );
    assert_eq!(
        ok(
            r,
            &["run", "--rm", "--pull", "never", &busybox, "echo", "hi"]
        ),
        "hi\n"
    );
    // `always` asks the registry even when the image is here.
    let err = fails(
        r,
        &[
            "run",
            "--rm",
            "--pull",
            "always",
            "127.0.0.1:1/gone:1",
            "true",
        ],
    );
    assert!(!err.contains("no such image"), "{err}");
    let o = common::pocky(r, &["run", "--pull", "sometimes", &busybox]);
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains("sometimes"));

    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let cidf = cid.to_str().unwrap();
    let id = one(r, &["create", "--cidfile", cidf, &busybox, "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    let err = fails(r, &["run", "--rm", "--cidfile", cidf, &busybox, "true"]);
    assert!(err.contains("container ID file found"), "{err}");
    assert_eq!(
        ok(r, &["ps", "-aq"]).lines().count(),
        1,
        "the refused run made nothing"
    );
    ok(r, &["rm", &id]);
}
