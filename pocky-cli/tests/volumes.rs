//! End-to-end tests of volumes in the sandbox: bind mounts, named and
//! anonymous volumes (seeding, persistence, removal), tmpfs, --read-only,
//! and mount destinations that are symlinks out of the rootfs.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

fn volume_names(c: &Ctx) -> Vec<String> {
    ok(c.root(), &["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Where a volume's content lives on the host.
fn data(c: &Ctx, volume: &str) -> PathBuf {
    c.root().join("volumes").join(volume).join("_data")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let Some(c) = Ctx::new("bind_mounts_read_write_and_read_only", &["busybox"]) else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("in"), "from host\n").unwrap();
    let spec = format!("{}:/mnt", host.path().display());
    let out = c.sh_ok(&["-v", &spec], "cat /mnt/in; echo out > /mnt/out");
    assert_eq!(out, "from host\n");
    assert_eq!(
        fs::read_to_string(host.path().join("out")).unwrap(),
        "out\n"
    );

    let spec = format!("{}:/mnt:ro", host.path().display());
    let o = c.sh(&["-v", &spec], "cat /mnt/in; echo x > /mnt/denied");
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "from host\n");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!host.path().join("denied").exists());
    let m = format!(
        "type=bind,source={},target=/mnt,readonly",
        host.path().display()
    );
    let o = c.sh(&["--mount", &m], "touch /mnt/denied");
    assert_ne!(o.status.code(), Some(0));
    assert!(!host.path().join("denied").exists());

    // -v creates a missing host directory; --mount type=bind refuses it.
    let missing = host.path().join("made/by/v");
    c.sh_ok(&["-v", &format!("{}:/m", missing.display())], "touch /m/f");
    assert!(missing.join("f").exists());
    let absent = host.path().join("absent");
    let m = format!("type=bind,source={},target=/m", absent.display());
    let err = fails(
        c.root(),
        &["run", "--rm", "--mount", &m, &c.image("busybox"), "true"],
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(!absent.exists());
    // Bad flags fail before anything is created.
    fails(
        c.root(),
        &[
            "run",
            "--rm",
            "-v",
            "/h:relative",
            &c.image("busybox"),
            "true",
        ],
    );
    fails(
        c.root(),
        &[
            "run",
            "--rm",
            "-v",
            "/a:/x",
            "--tmpfs",
            "/x",
            &c.image("busybox"),
            "true",
        ],
    );
    assert!(tree(&c.root().join("containers")).is_empty());
}

#[test]
fn named_volumes_are_seeded_from_the_image_and_persist() {
    let Some(c) = Ctx::new(
        "named_volumes_are_seeded_from_the_image_and_persist",
        &["busybox"],
    ) else {
        return;
    };
    // Seeded: the image's /etc shows up in the new volume.
    let out = c.sh_ok(
        &["-v", "data:/etc"],
        "cat /etc/motd; echo kept > /etc/written",
    );
    assert_eq!(out, "pocky busybox fixture\n");
    assert_eq!(volume_names(&c), vec!["data"]);
    // The container is gone (--rm), the volume and its data stay, and the
    // next container sees them, wherever it mounts the volume; a volume
    // that is not empty is not seeded again.
    assert!(tree(&c.root().join("containers")).is_empty());
    let out = c.sh_ok(&["-v", "data:/x"], "cat /x/written /x/motd; ls /x");
    assert!(out.starts_with("kept\npocky busybox fixture\n"), "{out}");
    assert_eq!(
        fs::read_to_string(data(&c, "data").join("written")).unwrap(),
        "kept\n"
    );

    // Ownership and mode come from the image: /tmp is 1777 there.
    let out = c.sh_ok(&["-v", "tv:/tmp"], "stat -c %a /tmp");
    assert_eq!(out, "1777\n");
    // nocopy: no seeding.
    let out = c.sh_ok(
        &["-v", "bare:/etc:nocopy"],
        "ls /etc | grep -c motd || true",
    );
    assert_eq!(out, "0\n");
    // A path the image does not have: an empty volume.
    let out = c.sh_ok(&["--mount", "source=new,target=/nowhere"], "ls -A /nowhere");
    assert_eq!(out, "");

    let v: serde_json::Value =
        serde_json::from_str(&ok(c.root(), &["volume", "inspect", "data"])).unwrap();
    let v = &v[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Mountpoint"], data(&c, "data").display().to_string());
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'), "{v}");
    let ls = ok(c.root(), &["volume", "ls"]);
    assert!(ls.starts_with("DRIVER"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "data"]),
        "{ls}"
    );
}

#[test]
fn anonymous_volumes_for_image_volumes_go_with_rm_v() {
    let Some(c) = Ctx::new(
        "anonymous_volumes_for_image_volumes_go_with_rm_v",
        &["busybox", "config"],
    ) else {
        return;
    };
    let config = c.image("config");
    let o = pocky(
        c.root(),
        &["run", "--name", "anon", &config, "cat /data/seed.txt"],
    );
    assert_eq!(stdout(&o), "seeded from the image\n", "{}", stderr(&o));
    let names = volume_names(&c);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(is_hex64(&names[0]), "{names:?}");
    assert_eq!(
        fs::read_to_string(data(&c, &names[0]).join("seed.txt")).unwrap(),
        "seeded from the image\n"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(c.root(), &["volume", "inspect", &names[0]])).unwrap();
    assert!(
        v[0]["Labels"]["com.docker.volume.anonymous"].is_string(),
        "{v}"
    );
    // rm without -v keeps it; volume prune then removes it (unused, anonymous).
    ok(c.root(), &["rm", "anon"]);
    assert_eq!(volume_names(&c), names);
    ok(c.root(), &["volume", "prune", "-f"]);
    assert!(volume_names(&c).is_empty());

    // rm -v removes the anonymous ones, never a named one.
    ok(
        c.root(),
        &[
            "run", "--name", "anon2", "-v", "named:/n", "-v", "/anon", &config, "true",
        ],
    );
    assert_eq!(volume_names(&c).len(), 3);
    ok(c.root(), &["rm", "-v", "anon2"]);
    assert_eq!(volume_names(&c), vec!["named"]);
    // run --rm takes its anonymous volumes along.
    let o = pocky(c.root(), &["run", "--rm", &config, "ls /data"]);
    assert_eq!(stdout(&o), "seed.txt\n", "{}", stderr(&o));
    assert_eq!(volume_names(&c), vec!["named"]);
    // A flag on the image's VOLUME path replaces the anonymous volume.
    let o = pocky(
        c.root(),
        &["run", "--rm", "-v", "named:/data", &config, "true"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(volume_names(&c), vec!["named"]);
}

#[test]
fn tmpfs_and_read_only_rootfs() {
    let Some(c) = Ctx::new("tmpfs_and_read_only_rootfs", &["busybox"]) else {
        return;
    };
    let out = c.sh_ok(
        &["--read-only", "--tmpfs", "/run:size=1m,mode=1777"],
        "df -k /run | tail -n 1 | awk '{print $2}'; stat -c %a /run; \
         echo ok > /run/f && cat /run/f; touch /denied 2>&1 || echo refused",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1024", "{out}");
    assert_eq!(lines[1], "1777", "{out}");
    assert_eq!(lines[2], "ok", "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.ends_with("refused\n"), "{out}");
    let out = c.sh_ok(
        &["--mount", "type=tmpfs,target=/t,tmpfs-size=2m"],
        "df -k /t | tail -n 1 | awk '{print $2}'; grep ' /t ' /proc/mounts",
    );
    assert!(out.starts_with("2048\n"), "{out}");
    assert!(
        out.contains("tmpfs /t tmpfs rw,nosuid,nodev,noexec"),
        "{out}"
    );
    // A read-only tmpfs, and a named volume on a read-only rootfs.
    let o = c.sh(&["--tmpfs", "/t:ro"], "touch /t/x");
    assert_ne!(o.status.code(), Some(0));
    c.sh_ok(&["--read-only", "-v", "wv:/w"], "echo y > /w/y");
    assert_eq!(fs::read_to_string(data(&c, "wv").join("y")).unwrap(), "y\n");
}

#[test]
fn volumes_in_use_are_kept_and_prune_takes_unused_ones() {
    let Some(c) = Ctx::new(
        "volumes_in_use_are_kept_and_prune_takes_unused_ones",
        &["busybox"],
    ) else {
        return;
    };
    assert_eq!(ok(c.root(), &["volume", "create", "made"]), "made\n");
    let random = ok(c.root(), &["volume", "create"]);
    assert!(is_hex64(random.trim()), "{random}");
    let busybox = c.image("busybox");
    ok(
        c.root(),
        &["run", "--name", "user", "-v", "made:/m", &busybox, "true"],
    );
    // A stopped container still holds its volume, as with Docker.
    let o = pocky(c.root(), &["volume", "rm", "made"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("volume is in use"), "{}", stderr(&o));
    let o = pocky(c.root(), &["volume", "rm", "-f", "made"]);
    assert_eq!(o.status.code(), Some(125));
    // Plain prune: anonymous volumes only; --all: every unused one.
    ok(c.root(), &["volume", "prune", "-f"]);
    assert_eq!(volume_names(&c).len(), 2);
    let out = ok(c.root(), &["volume", "prune", "-a", "-f"]);
    assert!(out.contains(random.trim()), "{out}");
    assert_eq!(volume_names(&c), vec!["made"]);
    // system prune removes the container, and volumes only with --volumes.
    ok(
        c.root(),
        &["run", "--name", "ca", "-v", "/anon", &busybox, "true"],
    );
    ok(c.root(), &["system", "prune", "-f"]);
    assert_eq!(volume_names(&c).len(), 2);
    let out = ok(c.root(), &["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(volume_names(&c), vec!["made"]);
    assert_eq!(ok(c.root(), &["volume", "rm", "made"]), "made\n");
    assert!(volume_names(&c).is_empty());
    let err = fails(c.root(), &["volume", "rm", "made"]);
    assert!(err.contains("no such volume"), "{err}");
    let err = fails(c.root(), &["volume", "create", "../x"]);
    assert!(err.contains("invalid characters"), "{err}");
}

#[test]
fn mount_destinations_through_symlinks_stay_in_the_rootfs() {
    let Some(c) = Ctx::new(
        "mount_destinations_through_symlinks_stay_in_the_rootfs",
        &["symlinks"],
    ) else {
        return;
    };
    // A host directory that a mount escaping the rootfs would land in.
    let marker = tempfile::Builder::new()
        .prefix("pocky-escape-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::write(marker.path().join("untouched"), "").unwrap();
    let m = marker.path().display().to_string();
    let bind_src = tempfile::tempdir().unwrap();
    for link in ["/evil", "/up"] {
        let dest = format!("{link}{m}/inside");
        let tmpfs_dest = format!("{link}{m}/tmpfs");
        let bind_dest = format!(
            "{bind_src_dir}:{link}{m}/bind",
            bind_src_dir = bind_src.path().display()
        );
        let script = format!(
            "echo data > {m}/inside/f && echo t > {m}/tmpfs/f && echo b > {m}/bind/f-{n} && ls {m}",
            n = &link[1..]
        );
        let o = c.sh_in(
            "symlinks",
            &[
                "-v",
                &format!("v{}:{dest}", &link[1..]),
                "--tmpfs",
                &tmpfs_dest,
                "-v",
                &bind_dest,
            ],
            &script,
        );
        assert!(o.status.success(), "{link}: {}", stderr(&o));
        // Inside the container the mounts sit at the rootfs's own path.
        assert_eq!(stdout(&o), "bind\ninside\ntmpfs\n", "{link}");
        assert_eq!(
            fs::read_to_string(data(&c, &format!("v{}", &link[1..])).join("f")).unwrap(),
            "data\n"
        );
        assert!(bind_src.path().join(format!("f-{}", &link[1..])).exists());
    }
    let names: Vec<String> = fs::read_dir(marker.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["untouched"], "a mount escaped into the host");

    // Seeding resolves the source inside the image too: /evil/etc is the
    // image's /etc, never the host's.
    c.sh_in("symlinks", &["-v", "seeded:/evil/etc"], "true");
    let mut seeded: Vec<String> = fs::read_dir(data(&c, "seeded"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    seeded.sort();
    assert_eq!(seeded, vec!["group", "motd", "passwd"]);
}

#[test]
fn seeding_honours_whiteouts_and_opaque_directories() {
    let Some(c) = Ctx::new(
        "seeding_honours_whiteouts_and_opaque_directories",
        &["layered"],
    ) else {
        return;
    };
    let o = c.sh_in(
        "layered",
        &["-v", "opt:/opt/data", "-v", "etc:/etc"],
        "ls /opt/data",
    );
    assert_eq!(stdout(&o), "c\n", "{}", stderr(&o));
    let mut opt: Vec<String> = fs::read_dir(data(&c, "opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    opt.sort();
    assert_eq!(opt, vec!["c"]);
    assert!(data(&c, "etc").join("passwd").exists());
    assert!(
        !data(&c, "etc").join("motd").exists(),
        "a whiteout was copied through"
    );
}

/// `inspect` says what is mounted, in Docker's `Mounts` shape: the user's
/// volumes, binds and tmpfs, not the runtime's own mounts.
#[test]
fn inspect_lists_the_containers_mounts() {
    let Some(c) = Ctx::new("inspect_mounts", &["busybox"]) else {
        return;
    };
    let r = c.root();
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/h:ro", host.path().display());
    ok(
        r,
        &[
            "create",
            "--name",
            "mnt",
            "-v",
            "mvol:/data",
            "-v",
            &bind,
            "--tmpfs",
            "/scratch",
            "--cap-add",
            "NET_ADMIN",
            "--entrypoint",
            "/bin/echo",
            "-p",
            "8080:80",
            "--dns",
            "10.0.0.53",
            "--add-host",
            "db:10.0.0.9",
            &c.busybox(),
            "true",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(r, &["inspect", "mnt"])).unwrap();
    let mut mounts = v[0]["Mounts"].as_array().unwrap().clone();
    mounts.sort_by_key(|m| m["Destination"].as_str().unwrap().to_owned());
    let summary: Vec<(String, String, bool)> = mounts
        .iter()
        .map(|m| {
            (
                m["Type"].as_str().unwrap().to_owned(),
                m["Destination"].as_str().unwrap().to_owned(),
                m["RW"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("volume".to_owned(), "/data".to_owned(), true),
            ("bind".to_owned(), "/h".to_owned(), false),
            ("tmpfs".to_owned(), "/scratch".to_owned(), true),
        ],
        "{mounts:#?}"
    );
    assert_eq!(mounts[0]["Name"], "mvol");
    assert_eq!(mounts[1]["Source"], host.path().display().to_string());
    // HostConfig and Config say what was asked for, as Docker's do.
    let hc = &v[0]["HostConfig"];
    assert_eq!(hc["Binds"], serde_json::json!(["mvol:/data", bind]));
    assert_eq!(hc["Tmpfs"], serde_json::json!({"/scratch": ""}));
    assert_eq!(hc["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(hc["Privileged"], false);
    assert_eq!(hc["Dns"], serde_json::json!(["10.0.0.53"]));
    assert_eq!(hc["ExtraHosts"], serde_json::json!(["db:10.0.0.9"]));
    assert_eq!(
        hc["PortBindings"],
        serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
    );
    assert_eq!(hc["LogConfig"]["Type"], "json-file");
    assert_eq!(
        v[0]["Config"]["Entrypoint"],
        serde_json::json!(["/bin/echo"])
    );
    for key in ["ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"] {
        assert!(
            v[0][key].as_str().is_some_and(|p| p.starts_with('/')),
            "{key}"
        );
    }
    // --type picks the kind of object; -s adds the sizes.
    let sized: serde_json::Value =
        serde_json::from_str(&ok(r, &["inspect", "-s", "--type", "container", "mnt"])).unwrap();
    assert!(sized[0]["SizeRootFs"].as_u64().unwrap() >= sized[0]["SizeRw"].as_u64().unwrap());
    let err = fails(r, &["inspect", "--type", "image", "mnt"]);
    assert!(err.contains("no such image"), "{err}");
    ok(r, &["rm", "-v", "mnt"]);
    ok(r, &["volume", "rm", "mvol"]);
}
