use super::*;
use crate::V1Mounts;

#[test]
fn new_picks_the_backend_of_the_hierarchy() {
    let v2 = Hierarchy::V2 {
        root: PathBuf::from("/r"),
    };
    let c = Cgroup::new(&v2, "/pocky/x").unwrap();
    assert_eq!(c.version(), "v2");
    assert_eq!(c.dirs(), [PathBuf::from("/r/pocky/x")]);
    assert_eq!(c.path().to_string(), "/pocky/x");

    let v1 = Hierarchy::V1(V1Mounts::from_pairs([
        ("cpu", "/r/cpu,cpuacct"),
        ("cpuacct", "/r/cpu,cpuacct"),
        ("memory", "/r/memory"),
    ]));
    let c = Cgroup::new(&v1, "pocky/x").unwrap();
    assert_eq!(c.version(), "v1");
    assert_eq!(
        c.dirs(),
        [
            PathBuf::from("/r/cpu,cpuacct/pocky/x"),
            PathBuf::from("/r/memory/pocky/x")
        ]
    );
}

#[test]
fn escaping_paths_are_refused() {
    let v2 = Hierarchy::V2 {
        root: PathBuf::from("/r"),
    };
    assert!(Cgroup::new(&v2, "../../etc").is_err());
    assert!(Cgroup::new(&v2, "/").is_err());
}

#[test]
fn the_enum_dispatches_to_the_backend() {
    let tmp = tempfile::tempdir().unwrap();
    let h = Hierarchy::V2 {
        root: tmp.path().to_path_buf(),
    };
    let c = Cgroup::new(&h, "pocky/x").unwrap();
    c.create().unwrap();
    c.apply(&Limits {
        pids: Some(8),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("pocky/x/pids.max")).unwrap(),
        "8"
    );
    let err = c.pids().unwrap_err().to_string();
    assert!(err.contains("pocky/x/cgroup.procs"), "{err}");
    // A fake directory with files in it is not empty, unlike a real cgroup.
    std::fs::remove_file(tmp.path().join("pocky/x/pids.max")).unwrap();
    c.remove().unwrap();
    assert!(!tmp.path().join("pocky/x").exists());
}
