//! `volume create --opt`, Docker's local driver options: a tmpfs volume
//! mounted as tmpfs, a bind volume showing (and keeping) a host
//! directory's files, and the types pocky refuses by name.

mod common;

use common::*;

fn sh_in(c: &Ctx, flags: &[&str], script: &str) -> String {
    c.sh_ok(flags, script)
}

#[test]
fn a_tmpfs_volume_is_a_tmpfs() {
    let Some(c) = Ctx::new("a_tmpfs_volume_is_a_tmpfs", &["busybox"]) else {
        return;
    };
    let root = c.root();
    ok(
        root,
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=16m,mode=0770",
            "scratch",
        ],
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["volume", "inspect", "scratch"])).unwrap();
    assert_eq!(
        v[0]["Options"],
        serde_json::json!({"type": "tmpfs", "device": "tmpfs", "o": "size=16m,mode=0770"})
    );
    let mounts = sh_in(
        &c,
        &["-v", "scratch:/s"],
        "grep ' /s ' /proc/mounts; stat -c %a /s; echo x > /s/f && echo written",
    );
    assert!(mounts.starts_with("tmpfs /s tmpfs rw,"), "{mounts}");
    assert!(
        mounts.contains("size=16384k") && mounts.contains("mode=770"),
        "{mounts}"
    );
    assert!(
        mounts.contains("\n770\n") && mounts.contains("written"),
        "{mounts}"
    );
    // Read-only through the flag, like any volume.
    let ro = c.sh(&["-v", "scratch:/s:ro"], "touch /s/f");
    assert!(
        !ro.status.success(),
        "a read-only tmpfs volume took a write"
    );
    // Nothing of it is on the host: its directory stays empty.
    let dir = root.join("volumes/scratch/_data");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    ok(root, &["volume", "rm", "scratch"]);
}

#[test]
fn a_bind_volume_shows_and_keeps_the_host_directory() {
    let Some(c) = Ctx::new(
        "a_bind_volume_shows_and_keeps_the_host_directory",
        &["busybox"],
    ) else {
        return;
    };
    let root = c.root();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hello.txt"), "from the host\n").unwrap();
    let device = format!("device={}", host.path().display());
    ok(
        root,
        &[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &device,
            "hostdir",
        ],
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["volume", "inspect", "hostdir"])).unwrap();
    assert_eq!(v[0]["Mountpoint"], host.path().display().to_string());
    let out = sh_in(
        &c,
        &["-v", "hostdir:/d"],
        "cat /d/hello.txt; echo from the container > /d/back.txt",
    );
    assert_eq!(out, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("back.txt")).unwrap(),
        "from the container\n"
    );
    // `o=bind,ro`: read-only whatever the flag says.
    let ro_dev = tempfile::tempdir().unwrap();
    let device_ro = format!("device={}", ro_dev.path().display());
    ok(
        root,
        &[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind,ro",
            "-o",
            &device_ro,
            "rodir",
        ],
    );
    assert!(!c.sh(&["-v", "rodir:/d"], "touch /d/x").status.success());
    // An empty device is seeded from the image, as any new volume.
    let empty = tempfile::tempdir().unwrap();
    let device_empty = format!("device={}", empty.path().display());
    ok(
        root,
        &[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &device_empty,
            "seeded",
        ],
    );
    sh_in(&c, &["-v", "seeded:/etc"], "true");
    assert!(
        empty.path().join("passwd").exists(),
        "the image's /etc was copied"
    );
    // Removing the volumes leaves the host's files alone.
    ok(root, &["volume", "rm", "hostdir", "rodir", "seeded"]);
    assert!(host.path().join("hello.txt").exists() && host.path().join("back.txt").exists());
    assert!(empty.path().join("passwd").exists());
    // A device that is gone by the time a container mounts the volume.
    let gone = tempfile::tempdir().unwrap();
    let device_gone = format!("device={}", gone.path().display());
    ok(
        root,
        &[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &device_gone,
            "gone",
        ],
    );
    drop(gone);
    let before = ok(root, &["ps", "-aq"]);
    let o = c.sh(&["-v", "gone:/d"], "true");
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a directory"), "{}", stderr(&o));
    assert_eq!(ok(root, &["ps", "-aq"]), before, "no container left");
    ok(root, &["volume", "rm", "gone"]);
}

#[test]
fn other_volume_options_are_refused_by_name() {
    let Some(c) = Ctx::new("other_volume_options_are_refused_by_name", &[]) else {
        return;
    };
    let root = c.root();
    for (opts, why) in [
        (
            &["type=nfs", "o=addr=192.0.2.9,rw", "device=:/export"][..],
            "volume type \"nfs\" is not supported",
        ),
        (
            &["type=cifs", "device=//server/share"][..],
            "volume type \"cifs\" is not supported",
        ),
        (&["type=ext4", "device=/dev/vdb1"][..], "not supported"),
        (&["size=10G"][..], "size is not supported"),
        (&["color=blue"][..], "invalid option key"),
        (
            &["type=none", "o=bind", "device=relative/dir"][..],
            "absolute path",
        ),
        (&["type=tmpfs", "o=size=lots"][..], "volume option o"),
    ] {
        let mut args = vec!["volume", "create"];
        for o in opts {
            args.extend_from_slice(&["--opt", o]);
        }
        args.push("bad");
        let e = fails(root, &args);
        assert!(e.contains(why), "{opts:?}: {e}");
    }
    assert_eq!(ok(root, &["volume", "ls", "-q"]), "", "nothing made");
    // The same name again with other options is a conflict, not a reuse.
    ok(root, &["volume", "create", "--opt", "type=tmpfs", "twice"]);
    ok(root, &["volume", "create", "--opt", "type=tmpfs", "twice"]);
    let e = fails(
        root,
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "o=size=1m",
            "twice",
        ],
    );
    assert!(e.contains("other options"), "{e}");
    ok(root, &["volume", "rm", "twice"]);
}
