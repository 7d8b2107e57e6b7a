use super::*;

/// This machine's table (hybrid: v1 controllers plus `unified`), with a
/// few foreign lines around it.
const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
90 80 0:32 / /var/lib/other/memory rw,relatime - cgroup cgroup rw,memory
";

#[test]
fn v1_controllers_from_mountinfo() {
    let m = V1Mounts::from_mountinfo(Path::new("/sys/fs/cgroup"), HYBRID).unwrap();
    let cpu = Path::new("/sys/fs/cgroup/cpu,cpuacct");
    assert_eq!(m.mount("cpu"), Some(cpu));
    assert_eq!(m.mount("cpuacct"), Some(cpu));
    assert_eq!(m.mount("memory"), Some(Path::new("/sys/fs/cgroup/memory")));
    assert_eq!(m.mount("pids"), Some(Path::new("/sys/fs/cgroup/pids")));
    assert_eq!(m.mount("cpuset"), Some(Path::new("/sys/fs/cgroup/cpuset")));
    let names: Vec<_> = m.iter().map(|(c, _)| c).collect();
    assert_eq!(
        names,
        [
            "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"
        ]
    );
}

#[test]
fn mounts_outside_the_root_are_ignored() {
    let m = V1Mounts::from_mountinfo(Path::new("/var/lib/other"), HYBRID).unwrap();
    assert_eq!(m.iter().count(), 1);
    assert_eq!(m.mount("memory"), Some(Path::new("/var/lib/other/memory")));
    assert!(matches!(
        V1Mounts::from_mountinfo(Path::new("/nowhere"), HYBRID),
        Err(CgroupError::NoControllers { .. })
    ));
}

#[test]
fn escaped_mount_points() {
    let mi = "1 0 0:1 / /tmp/a\\040b/mem rw - cgroup cgroup rw,memory\n";
    let m = V1Mounts::from_mountinfo(Path::new("/tmp"), mi).unwrap();
    assert_eq!(m.mount("memory"), Some(Path::new("/tmp/a b/mem")));
}

#[test]
fn malformed_lines_are_skipped() {
    let mi = "garbage\n1 2 3\n1 0 0:1 / /c/pids rw - cgroup\n5 0 0:1 / /c/mem rw - cgroup cgroup rw,memory\n";
    let m = V1Mounts::from_mountinfo(Path::new("/c"), mi).unwrap();
    assert_eq!(m.iter().count(), 1);
}

#[test]
fn filesystem_type_decides_version() {
    let root = Path::new("/sys/fs/cgroup");
    assert_eq!(
        Hierarchy::from_fs_type(CGROUP2_SUPER_MAGIC, root, "").unwrap(),
        Hierarchy::V2 {
            root: root.to_path_buf()
        }
    );
    let v1 = Hierarchy::from_fs_type(TMPFS_MAGIC, root, HYBRID).unwrap();
    assert_eq!(v1.version(), "v1");
    assert!(matches!(
        Hierarchy::from_fs_type(nix::sys::statfs::EXT4_SUPER_MAGIC, root, HYBRID),
        Err(CgroupError::UnknownHierarchy { .. })
    ));
}

#[test]
fn detect_at_a_plain_directory_is_refused_with_its_path() {
    let t = tempfile::tempdir().unwrap();
    let fs = statfs(t.path()).unwrap().filesystem_type();
    if fs == TMPFS_MAGIC {
        // A tmpfs temp dir looks like a v1 root: then the mounts decide.
        assert!(matches!(
            Hierarchy::detect_at(t.path(), HYBRID),
            Err(CgroupError::NoControllers { .. })
        ));
    } else {
        let err = Hierarchy::detect_at(t.path(), HYBRID).unwrap_err();
        assert!(err.to_string().contains(&t.path().display().to_string()));
    }
}

#[test]
fn detect_at_a_missing_root_names_it() {
    let err = Hierarchy::detect_at(Path::new("/no/such/cgroup/root"), "").unwrap_err();
    assert!(matches!(err, CgroupError::Detect { .. }));
    assert!(err.to_string().contains("/no/such/cgroup/root"));
}

#[test]
fn detects_this_host() {
    // Whatever the host runs, detection must answer, not fail.
    if Path::new(DEFAULT_ROOT).exists() {
        let h = Hierarchy::detect().unwrap();
        assert!(["v1", "v2"].contains(&h.version()));
    }
}
