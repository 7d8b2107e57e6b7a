//! v2 against a fake unified tree in a temporary directory.

use std::path::PathBuf;

use super::*;

struct Fake {
    tmp: tempfile::TempDir,
    cg: V2Cgroup,
}

impl Fake {
    /// A root offering `controllers`, as its `cgroup.controllers` lists them.
    fn new(controllers: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("cgroup.controllers"), controllers).unwrap();
        let cg = V2Cgroup::new(tmp.path(), CgroupPath::new("/pocky/c1").unwrap());
        Self { tmp, cg }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.at(rel)).unwrap()
    }

    fn put(&self, rel: &str, content: &str) {
        std::fs::write(self.at(rel), content).unwrap();
    }
}

#[test]
fn create_delegates_controllers_down_to_the_parent() {
    let f = Fake::new("cpuset cpu io memory hugetlb pids rdma misc\n");
    f.cg.create().unwrap();
    assert_eq!(f.read("cgroup.subtree_control"), "+cpu +memory +pids");
    assert_eq!(f.read("pocky/cgroup.subtree_control"), "+cpu +memory +pids");
    assert!(f.at("pocky/c1").is_dir());
    // The leaf holds tasks, so it must not delegate anything.
    assert!(!f.at("pocky/c1/cgroup.subtree_control").exists());
}

#[test]
fn create_enables_only_what_is_missing_and_offered() {
    let f = Fake::new("cpu memory io\n");
    f.put("cgroup.subtree_control", "cpu io\n");
    f.cg.create().unwrap();
    assert_eq!(f.read("cgroup.subtree_control"), "+memory");
    assert_eq!(f.read("pocky/cgroup.subtree_control"), "+cpu +memory");
}

#[test]
fn a_delegated_subtree_is_enabled_from_its_own_root_down() {
    // The administrator enabled memory and pids for the user's subtree
    // `user`, not cpu, and the root's file is not the user's to write.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
    std::fs::write(root.join("cgroup.subtree_control"), "memory pids\n").unwrap();
    std::fs::create_dir(root.join("user")).unwrap();
    std::fs::write(root.join("user/cgroup.controllers"), "memory pids\n").unwrap();
    let cg = V2Cgroup::new(root, CgroupPath::new("user/pocky/c1").unwrap());
    let admin = root.join("cgroup.subtree_control");
    cg.enable_with(CONTROLLERS, &|p: &Path| p != admin).unwrap();
    assert_eq!(std::fs::read_to_string(&admin).unwrap(), "memory pids\n");
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
    assert_eq!(read("user/cgroup.subtree_control"), "+memory +pids");
    assert_eq!(read("user/pocky/cgroup.subtree_control"), "+memory +pids");
    // A limit on what the subtree lacks is refused by name.
    std::fs::create_dir(root.join("user/pocky/c1")).unwrap();
    std::fs::write(root.join("user/pocky/c1/cgroup.controllers"), "memory pids").unwrap();
    let limits = Limits {
        nano_cpus: Some(500_000_000),
        ..Limits::default()
    };
    let err = cg.apply(&limits).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::MissingController {
                controller: "cpu",
                ..
            }
        ),
        "{err}"
    );
    cg.apply(&Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(10),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(read("user/pocky/c1/memory.max"), (64u64 << 20).to_string());
    assert_eq!(read("user/pocky/c1/pids.max"), "10");
}

#[test]
fn create_on_a_bare_hierarchy_writes_no_subtree_control() {
    // A hybrid host's cgroup2 mount often offers nothing.
    let f = Fake::new("hugetlb\n");
    f.cg.create().unwrap();
    assert!(!f.at("cgroup.subtree_control").exists());
    assert!(f.at("pocky/c1").is_dir());
}

#[test]
fn limits_land_in_the_right_files() {
    let f = Fake::new("cpu memory pids\n");
    f.cg.create().unwrap();
    f.put("pocky/c1/memory.swap.max", "max\n");
    f.cg.apply(&Limits {
        cpu_shares: Some(1024),
        nano_cpus: Some(1_500_000_000),
        memory_bytes: Some(64 << 20),
        pids: Some(8),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(f.read("pocky/c1/pids.max"), "8");
    assert_eq!(f.read("pocky/c1/cpu.weight"), "39");
    assert_eq!(f.read("pocky/c1/cpu.max"), "150000 100000");
    assert_eq!(f.read("pocky/c1/memory.max"), "67108864");
    assert_eq!(f.read("pocky/c1/memory.swap.max"), "0");
}

#[test]
fn no_swap_file_means_no_swap_write() {
    let files: Vec<_> = plan(
        &Limits {
            memory_bytes: Some(1 << 20),
            ..Limits::default()
        },
        false,
    )
    .unwrap()
    .into_iter()
    .map(|w| w.file)
    .collect();
    assert_eq!(files, ["memory.max"]);
}

#[test]
fn an_undelegated_controller_is_named() {
    let f = Fake::new("cpu memory\n");
    f.cg.create().unwrap();
    f.put("pocky/c1/cgroup.controllers", "cpu memory\n");
    let err =
        f.cg.apply(&Limits {
            pids: Some(8),
            ..Limits::default()
        })
        .unwrap_err();
    assert!(matches!(
        err,
        CgroupError::MissingController {
            controller: "pids",
            ..
        }
    ));
    assert!(!f.at("pocky/c1/pids.max").exists());
}

#[test]
fn add_task_and_pids() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    f.cg.add_task(77).unwrap();
    assert_eq!(f.read("pocky/c1/cgroup.procs"), "77");
    f.put("pocky/c1/cgroup.procs", "77\n78\n");
    assert_eq!(f.cg.pids().unwrap(), vec![77, 78]);
}

#[test]
fn stats_parse() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    f.put("pocky/c1/memory.current", "2097152\n");
    f.put("pocky/c1/memory.max", "max\n");
    f.put("pocky/c1/pids.current", "2\n");
    f.put(
        "pocky/c1/cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
    );
    f.put(
        "pocky/c1/memory.events",
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
    );
    assert_eq!(
        f.cg.stats().unwrap(),
        Stats {
            memory_bytes: Some(2 << 20),
            memory_limit_bytes: None,
            pids: Some(2),
            cpu_usage_nanos: Some(1_500_000),
            oom_killed: true,
        }
    );
}

#[test]
fn stats_without_controllers_are_empty_not_errors() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    assert_eq!(f.cg.stats().unwrap(), Stats::default());
}

#[test]
fn freeze_writes_and_waits_for_events() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    f.put("pocky/c1/cgroup.events", "populated 1\nfrozen 1\n");
    f.cg.freeze().unwrap();
    assert_eq!(f.read("pocky/c1/cgroup.freeze"), "1");
    f.put("pocky/c1/cgroup.events", "populated 1\nfrozen 0\n");
    f.cg.thaw().unwrap();
    assert_eq!(f.read("pocky/c1/cgroup.freeze"), "0");
}

#[test]
fn a_freeze_that_never_settles_is_undone() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    f.put("pocky/c1/cgroup.events", "populated 1\nfrozen 0\n");
    let err = f.cg.freeze().unwrap_err();
    assert!(matches!(
        err,
        CgroupError::Freeze {
            wanted: "frozen",
            ..
        }
    ));
    assert_eq!(f.read("pocky/c1/cgroup.freeze"), "0");
}

#[test]
fn kill_all_prefers_cgroup_kill() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    f.put("pocky/c1/cgroup.kill", "");
    f.cg.kill_all().unwrap();
    assert_eq!(f.read("pocky/c1/cgroup.kill"), "1");
}

#[test]
fn device_rules_go_through_bpf() {
    let f = Fake::new("");
    f.cg.create().unwrap();
    // No rules, no program; rules on a directory that is no cgroup (or
    // without the privilege to load one) fail by name, not silently.
    f.cg.apply_devices(&[]).unwrap();
    let err =
        f.cg.apply_devices(&crate::DeviceRule::docker_defaults())
            .unwrap_err();
    assert!(matches!(err, CgroupError::Bpf { .. }), "{err}");
}

#[test]
fn remove_tolerates_absence_and_keeps_the_parent() {
    let f = Fake::new("");
    f.cg.remove().unwrap();
    f.cg.create().unwrap();
    f.cg.remove().unwrap();
    assert!(!f.at("pocky/c1").exists());
    assert!(f.at("pocky").is_dir());
}

#[test]
fn kill_all_of_an_absent_cgroup_is_a_no_op() {
    let f = Fake::new("");
    f.cg.kill_all().unwrap();
    assert!(!f.at("pocky/c1").exists());
}
