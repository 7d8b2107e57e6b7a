//! `system prune` as Docker's (networks, untagged images, `-a`), and the
//! prune filters (`until=`, `label=`, `label!=`) of containers, networks,
//! volumes and the system; `--platform` of push, save, load and history.

mod common;

use common::{Ctx, fails, ok, one};

fn names(root: &std::path::Path, args: &[&str]) -> Vec<String> {
    ok(root, args).lines().map(str::to_owned).collect()
}

#[test]
fn prune_filters_keep_what_does_not_match() {
    let Some(ctx) = Ctx::new("prune_filters", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    for (name, label) in [("keep", "tier=prod"), ("drop", "tier=dev"), ("bare", "x=y")] {
        ok(
            root,
            &["create", "--name", name, "--label", label, &img, "true"],
        );
    }
    let out = ok(
        root,
        &["container", "prune", "-f", "--filter", "label=tier=dev"],
    );
    assert!(out.contains("Deleted Containers:"), "{out}");
    let left = names(root, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.len(), 2, "{left:?}");
    ok(
        root,
        &["container", "prune", "-f", "--filter", "label!=tier=prod"],
    );
    assert_eq!(
        names(root, &["ps", "-a", "--format", "{{.Names}}"]),
        ["keep"]
    );
    // until: made before the time only.
    ok(
        root,
        &[
            "container",
            "prune",
            "-f",
            "--filter",
            "until=2000-01-01T00:00:00Z",
        ],
    );
    assert_eq!(
        names(root, &["ps", "-a", "--format", "{{.Names}}"]),
        ["keep"]
    );
    fails(root, &["container", "prune", "-f", "--filter", "bogus=1"]);

    ok(root, &["network", "create", "neta"]);
    ok(root, &["network", "create", "netb"]);
    ok(
        root,
        &[
            "create",
            "--name",
            "user",
            "--network",
            "netb",
            &img,
            "true",
        ],
    );
    ok(
        root,
        &[
            "network",
            "prune",
            "-f",
            "--filter",
            "until=2000-01-01T00:00:00Z",
        ],
    );
    assert!(ok(root, &["network", "ls"]).contains("neta"));
    let out = ok(root, &["network", "prune", "-f"]);
    assert!(
        out.contains("neta") && !out.contains("netb"),
        "a network in use stays: {out}"
    );

    ok(root, &["volume", "create", "--label", "k=v", "vk"]);
    ok(root, &["volume", "create", "vn"]);
    ok(
        root,
        &["volume", "prune", "-a", "-f", "--filter", "label=k=v"],
    );
    assert_eq!(names(root, &["volume", "ls", "-q"]), ["vn"]);
    fails(root, &["volume", "prune", "-f", "--filter", "until=1h"]);
    ok(root, &["rm", "keep", "user"]);
}

#[test]
fn system_prune_takes_networks_and_untagged_images_and_all() {
    let Some(ctx) = Ctx::new("prune_system", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    ok(root, &["tag", &img, "extra:1"]);
    ok(root, &["network", "create", "unused"]);
    let out = ok(root, &["system", "prune", "-f"]);
    assert!(out.contains("Deleted Networks:\nunused"), "{out}");
    assert_eq!(
        names(root, &["images", "-q"]).len(),
        1,
        "tagged images stay"
    );
    let out = ok(root, &["system", "prune", "-f", "-a"]);
    assert!(out.contains("untagged: extra:1"), "{out}");
    assert!(
        names(root, &["images", "-q"]).is_empty(),
        "-a takes every unused image"
    );
}

#[test]
fn platform_flags_name_the_image_kept() {
    let Some(ctx) = Ctx::new("prune_platform", &["busybox"]) else {
        return;
    };
    let root = ctx.root();
    let img = ctx.busybox();
    ok(root, &["history", "--platform", "linux/amd64", &img]);
    let err = fails(root, &["history", "--platform", "linux/arm64", &img]);
    assert!(err.contains("linux/arm64"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("a.tar");
    let tar = tar.to_str().unwrap();
    fails(
        root,
        &["save", "--platform", "linux/s390x", "-o", tar, &img],
    );
    assert!(!std::path::Path::new(tar).exists(), "nothing written");
    ok(
        root,
        &["save", "--platform", "linux/amd64", "-o", tar, &img],
    );
    let id = one(root, &["inspect", "-f", "{{.Id}}", &img]);
    ok(root, &["rmi", &img]);
    let err = fails(root, &["load", "--platform", "linux/arm64", "-i", tar]);
    assert!(err.contains("linux/arm64"), "{err}");
    assert!(
        names(root, &["images", "-q"]).is_empty(),
        "the refused load stored nothing"
    );
    ok(root, &["load", "--platform", "linux/amd64", "-i", tar]);
    assert_eq!(one(root, &["inspect", "-f", "{{.Id}}", &img]), id);
    fails(root, &["push", "--platform", "linux/arm64", &img]);
}
