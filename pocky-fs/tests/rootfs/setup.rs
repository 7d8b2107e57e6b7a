//! `setup_rootfs` / `prepare_rootfs` on a busybox rootfs, hostile ones too.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};

use nix::sys::stat::{major, minor};
use pocky_fs::{
    FsError, Overlay, default_masked_paths, default_mounts, default_readonly_paths, prepare_rootfs,
    setup_rootfs,
};

use crate::support::{
    bind, busybox_rootfs, check, ensure, in_private_mount_ns, mount_points, spec,
};

/// Every path under `dir` (not crossing into /proc or /sys) named `name`.
fn find_named(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == Path::new("/proc") || path == Path::new("/sys") {
            continue;
        }
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_named(&path, name, found);
        }
    }
}

#[test]
fn full_setup_pivots_into_an_overlay_busybox_rootfs() {
    if !pocky_testkit::privileged("full_setup_pivots_into_an_overlay_busybox_rootfs") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let marker = format!("pocky-host-marker-{}", std::process::id());
    fs::write(t.path().join(&marker), "host").unwrap();
    let bundle = t.path().join("bundle");
    let layer = t.path().join("layer");
    busybox_rootfs(&layer);
    let (upper, work) = (t.path().join("upper"), t.path().join("work"));
    for d in [&bundle.join("rootfs"), &upper, &work] {
        fs::create_dir_all(d).unwrap();
    }
    let hosts = t.path().join("hosts");
    fs::write(&hosts, pocky_fs::hosts_file("c1", None, &[])).unwrap();

    let mut mounts = default_mounts();
    mounts.push(bind(&hosts, "/etc/hosts", &["rbind", "ro"]));
    let mut spec = spec("rootfs", false, mounts);
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_masked_paths(Some(default_masked_paths()));
    linux.set_readonly_paths(Some(default_readonly_paths()));
    spec.set_linux(Some(linux));
    let overlay = Overlay {
        lowers: vec![pocky_fs::Lower::Dir(layer)],
        upper: upper.clone(),
        work,
        links: None,
        volatile: false,
    };
    check(in_private_mount_ns(|| {
        setup_rootfs(&spec, &bundle, Some(&overlay)).map_err(|e| e.to_string())?;
        ensure(Path::new("/bin/busybox").is_file(), "busybox at /bin")?;
        ensure(Path::new("/proc/self").exists(), "/proc/self")?;
        let null = fs::metadata("/dev/null").map_err(|e| e.to_string())?;
        ensure(
            null.file_type().is_char_device(),
            "/dev/null is a char device",
        )?;
        ensure(
            (major(null.rdev()), minor(null.rdev())) == (1, 3),
            "/dev/null is 1:3",
        )?;
        ensure(null.mode() & 0o777 == 0o666, "/dev/null mode 0666")?;
        ensure(Path::new("/dev/pts/ptmx").exists(), "/dev/pts/ptmx")?;
        ensure(
            fs::read_link("/dev/ptmx").ok() == Some(PathBuf::from("pts/ptmx")),
            "/dev/ptmx -> pts/ptmx",
        )?;
        ensure(
            fs::read_link("/dev/fd").ok() == Some(PathBuf::from("/proc/self/fd")),
            "/dev/fd",
        )?;
        ensure(!Path::new("/dev/core").exists(), "no /dev/core")?;
        ensure(
            fs::read_to_string("/etc/hosts").is_ok_and(|h| h.starts_with("127.0.0.1\tlocalhost")),
            "/etc/hosts bound in",
        )?;
        let e = fs::write("/etc/hosts", "x").err().map(|e| e.kind());
        ensure(
            e == Some(ErrorKind::ReadOnlyFilesystem),
            format!("/etc/hosts ro: {e:?}"),
        )?;
        fs::write("/written-in-container", "w").map_err(|e| format!("rw root: {e}"))?;
        // /proc/keys exists on every kernel with keys; /proc/kcore may not.
        let keys = fs::metadata("/proc/keys").map_err(|e| format!("/proc/keys: {e}"))?;
        ensure(
            keys.file_type().is_char_device() && keys.rdev() == null.rdev(),
            "/proc/keys masked by /dev/null",
        )?;
        let acpi = fs::read_dir("/sys/firmware").map_err(|e| format!("/sys/firmware: {e}"))?;
        ensure(acpi.count() == 0, "/sys/firmware masked by an empty tmpfs")?;
        let e = fs::write("/proc/sys/kernel/hostname", "x")
            .err()
            .map(|e| e.kind());
        ensure(
            e == Some(ErrorKind::ReadOnlyFilesystem),
            format!("/proc/sys ro: {e:?}"),
        )?;
        let shm = nix::sys::statvfs::statvfs("/dev/shm").map_err(|e| e.to_string())?;
        ensure(
            shm.blocks() * shm.fragment_size() == 64 * 1024 * 1024,
            "/dev/shm is 64 MiB",
        )?;

        // Only the mounts made for the container are left.
        for point in mount_points() {
            let expected = [
                "/",
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/hosts",
            ]
            .contains(&point.as_str())
                || point == "/sys/fs/cgroup"
                || point.starts_with("/sys/fs/cgroup/")
                || default_masked_paths().contains(&point)
                || default_readonly_paths().contains(&point);
            ensure(expected, format!("unexpected mount {point}"))?;
        }
        let mut found = Vec::new();
        find_named(Path::new("/"), &marker, &mut found);
        ensure(
            found.is_empty(),
            format!("host marker reachable at {found:?}"),
        )
    }));
    assert_eq!(
        fs::read_to_string(upper.join("written-in-container")).unwrap(),
        "w"
    );
}

#[test]
fn readonly_root_is_remounted_read_only() {
    if !pocky_testkit::privileged("readonly_root_is_remounted_read_only") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    busybox_rootfs(&t.path().join("rootfs"));
    let spec = spec("rootfs", true, default_mounts());
    check(in_private_mount_ns(|| {
        setup_rootfs(&spec, t.path(), None).map_err(|e| e.to_string())?;
        let e = fs::write("/new-file", "x").err().map(|e| e.kind());
        ensure(
            e == Some(ErrorKind::ReadOnlyFilesystem),
            format!("/ ro: {e:?}"),
        )?;
        fs::write("/dev/shm/scratch", "x").map_err(|e| format!("/dev/shm stays rw: {e}"))?;
        ensure(Path::new("/bin/busybox").is_file(), "busybox")
    }));
    assert!(!t.path().join("rootfs/new-file").exists());
}

#[test]
fn a_proc_symlink_in_the_image_is_refused() {
    if !pocky_testkit::privileged("a_proc_symlink_in_the_image_is_refused") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    busybox_rootfs(&rootfs);
    symlink("/etc", rootfs.join("proc")).unwrap();
    let spec = spec("rootfs", false, default_mounts());
    check(in_private_mount_ns(|| {
        match prepare_rootfs(&spec, t.path(), None) {
            Err(e @ FsError::UnsafeRootfs { .. }) => {
                let msg = e.to_string();
                ensure(msg.contains("/proc") && msg.contains("symlink"), msg)?;
                ensure(
                    fs::read_dir(rootfs.join("etc"))
                        .map(|d| d.count())
                        .unwrap_or(1)
                        == 0,
                    "nothing mounted on or created under /etc",
                )
            }
            other => Err(format!("expected a refusal, got {other:?}")),
        }
    }));
}

/// Binds a directory holding `name` onto `destination` in a rootfs whose
/// `/abs` is a link to `/` and `/dots` a link to `../../../..`, and checks
/// that every new mount point is inside the rootfs, the host directory the
/// links name is untouched, and the bind is where the kernel resolved it.
fn bind_through_links(destination: &'static str) {
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("a/b/bundle/rootfs");
    busybox_rootfs(&rootfs);
    symlink("/", rootfs.join("abs")).unwrap();
    symlink("../../../..", rootfs.join("dots")).unwrap();
    // What `/dots` names on the host: the tempdir, holding a victim dir.
    let victim = t.path().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("original"), "host").unwrap();
    let source = t.path().join("source");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("from-source"), "bound").unwrap();

    let spec = spec(
        "rootfs",
        false,
        vec![bind(&source, destination, &["rbind"])],
    );
    let bundle = t.path().join("a/b/bundle");
    let (rootfs_c, victim_c) = (rootfs.clone(), victim.clone());
    check(in_private_mount_ns(move || {
        let before = mount_points();
        prepare_rootfs(&spec, &bundle, None).map_err(|e| e.to_string())?;
        let mut new = mount_points();
        for p in &before {
            if let Some(i) = new.iter().position(|n| n == p) {
                new.remove(i);
            }
        }
        let root = rootfs_c.to_string_lossy().into_owned();
        for p in &new {
            ensure(p.starts_with(&root), format!("mount escaped to {p}"))?;
        }
        ensure(!new.is_empty(), "no mount made")?;
        let names: Vec<_> = fs::read_dir(&victim_c)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        ensure(names == ["original"], format!("victim touched: {names:?}"))?;
        // The bind landed where the kernel resolved the path in the root.
        let landed = match destination {
            "/abs" | "/dots" => rootfs_c.clone(),
            other => rootfs_c.join(other.trim_start_matches("/dots/")),
        };
        ensure(
            landed.join("from-source").is_file(),
            format!("bind not at {}", landed.display()),
        )
    }));
}

#[test]
fn bind_onto_a_link_to_slash_lands_on_the_rootfs() {
    if pocky_testkit::privileged("bind_onto_a_link_to_slash_lands_on_the_rootfs") {
        bind_through_links("/abs");
    }
}

#[test]
fn bind_onto_a_dotdot_link_lands_on_the_rootfs() {
    if pocky_testkit::privileged("bind_onto_a_dotdot_link_lands_on_the_rootfs") {
        bind_through_links("/dots");
    }
}

#[test]
fn bind_under_a_dotdot_link_lands_inside_the_rootfs() {
    if pocky_testkit::privileged("bind_under_a_dotdot_link_lands_inside_the_rootfs") {
        bind_through_links("/dots/victim");
    }
}

#[test]
fn bind_flags_and_tmpfs_size_are_applied() {
    if !pocky_testkit::privileged("bind_flags_and_tmpfs_size_are_applied") {
        return;
    }
    use nix::sys::statvfs::{FsFlags, statvfs};
    let t = tempfile::tempdir().unwrap();
    busybox_rootfs(&t.path().join("rootfs"));
    let data = t.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("in-volume"), "v").unwrap();
    let mut scratch = oci_spec::runtime::Mount::default();
    scratch.set_destination("/deep/scratch".into());
    scratch.set_typ(Some("tmpfs".to_owned()));
    scratch.set_source(Some("tmpfs".into()));
    scratch.set_options(Some(vec!["size=1m".to_owned(), "mode=1777".to_owned()]));
    let mounts = vec![
        bind(&data, "/data", &["bind", "ro", "nosuid", "noexec", "nodev"]),
        scratch,
    ];
    let spec = spec("rootfs", false, mounts);
    check(in_private_mount_ns(|| {
        setup_rootfs(&spec, t.path(), None).map_err(|e| e.to_string())?;
        ensure(Path::new("/data/in-volume").is_file(), "volume content")?;
        let st = statvfs("/data").map_err(|e| e.to_string())?;
        let want = FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NOEXEC | FsFlags::ST_NODEV;
        ensure(
            st.flags().contains(want),
            format!("/data flags {:?}", st.flags()),
        )?;
        let e = fs::write("/data/x", "x").err().map(|e| e.kind());
        ensure(
            e == Some(ErrorKind::ReadOnlyFilesystem),
            format!("/data ro: {e:?}"),
        )?;
        let st = statvfs("/deep/scratch").map_err(|e| e.to_string())?;
        ensure(
            st.blocks() * st.fragment_size() == 1024 * 1024,
            "tmpfs size=1m",
        )?;
        fs::write("/deep/scratch/x", "x").map_err(|e| format!("tmpfs rw: {e}"))
    }));
    // The missing destinations were created in the rootfs, nothing else.
    assert!(t.path().join("rootfs/deep/scratch").is_dir());
    assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
}
