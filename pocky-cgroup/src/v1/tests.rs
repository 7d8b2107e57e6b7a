//! v1 against a fake tree: a temporary directory whose mountinfo text
//! says where each controller is "mounted".

use std::path::{Path, PathBuf};

use super::*;
use crate::Hierarchy;

struct Fake {
    tmp: tempfile::TempDir,
    cg: V1Cgroup,
}

impl Fake {
    /// A host with `cpu,cpuacct` combined, as most v1 distributions mount it.
    fn new() -> Self {
        Self::with(&["cpu,cpuacct", "memory", "pids", "freezer", "devices"])
    }

    fn with(mounts: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut mi = String::new();
        for (i, m) in mounts.iter().enumerate() {
            let p = tmp.path().join(m);
            std::fs::create_dir_all(&p).unwrap();
            mi += &format!("{i} 1 0:{i} / {} rw - cgroup cgroup rw,{m}\n", p.display());
        }
        let Hierarchy::V1(mounts) =
            Hierarchy::from_fs_type(nix::sys::statfs::TMPFS_MAGIC, tmp.path(), &mi).unwrap()
        else {
            panic!("not v1")
        };
        let cg = V1Cgroup::new(mounts, CgroupPath::new("pocky/c1").unwrap());
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
fn create_makes_one_dir_per_mount() {
    let f = Fake::new();
    f.cg.create().unwrap();
    let dirs = f.cg.dirs();
    let expect: Vec<PathBuf> = ["cpu,cpuacct", "devices", "freezer", "memory", "pids"]
        .iter()
        .map(|m| f.at(m).join("pocky/c1"))
        .collect();
    assert_eq!(dirs, expect);
    assert!(dirs.iter().all(|d| d.is_dir()));
    // Creating again is fine.
    f.cg.create().unwrap();
}

#[test]
fn limits_land_in_the_right_files() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.cg.apply(&Limits {
        cpu_shares: Some(512),
        nano_cpus: Some(1_500_000_000),
        memory_bytes: Some(64 << 20),
        pids: Some(8),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(f.read("pids/pocky/c1/pids.max"), "8");
    assert_eq!(f.read("cpu,cpuacct/pocky/c1/cpu.shares"), "512");
    assert_eq!(f.read("cpu,cpuacct/pocky/c1/cpu.cfs_period_us"), "100000");
    assert_eq!(f.read("cpu,cpuacct/pocky/c1/cpu.cfs_quota_us"), "150000");
    assert_eq!(f.read("memory/pocky/c1/memory.limit_in_bytes"), "67108864");
    // No swap accounting on this "host": memsw is not invented.
    assert!(!f.at("memory/pocky/c1/memory.memsw.limit_in_bytes").exists());
}

#[test]
fn memsw_follows_the_limit_when_present() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.put(
        "memory/pocky/c1/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    f.put(
        "memory/pocky/c1/memory.memsw.limit_in_bytes",
        "9223372036854771712\n",
    );
    f.cg.apply(&Limits {
        memory_bytes: Some(1 << 30),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(
        f.read("memory/pocky/c1/memory.limit_in_bytes"),
        "1073741824"
    );
    assert_eq!(
        f.read("memory/pocky/c1/memory.memsw.limit_in_bytes"),
        "1073741824"
    );
}

fn files(plan: &Result<Vec<Write>>) -> Vec<&str> {
    let plan = plan.as_ref().unwrap();
    plan.iter().map(|w| w.file.as_str()).collect()
}

#[test]
fn memsw_ordering() {
    let mem = |bytes| Limits {
        memory_bytes: Some(bytes),
        ..Limits::default()
    };
    let state = |current_limit| MemoryState {
        current_limit,
        has_memsw: true,
    };
    let lower_first = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"];
    let memsw_first = ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"];
    // Fresh cgroup (unlimited): lowering, the limit goes first.
    assert_eq!(files(&plan(&mem(100), state(Some(u64::MAX)))), lower_first);
    assert_eq!(files(&plan(&mem(100), state(None))), lower_first);
    assert_eq!(files(&plan(&mem(100), state(Some(200)))), lower_first);
    assert_eq!(files(&plan(&mem(100), state(Some(100)))), lower_first);
    // Raising: memsw must make room first.
    assert_eq!(files(&plan(&mem(300), state(Some(200)))), memsw_first);
    let no_memsw = MemoryState {
        current_limit: Some(200),
        has_memsw: false,
    };
    assert_eq!(files(&plan(&mem(300), no_memsw)), ["memory.limit_in_bytes"]);
}

#[test]
fn an_explicit_swap_figure_orders_by_itself() {
    let both = |limit, swap| Limits {
        memory_bytes: Some(limit),
        more: crate::Resources {
            memory_swap: Some(swap),
            ..Default::default()
        },
        ..Limits::default()
    };
    let at = |current| MemoryState {
        current_limit: Some(current),
        has_memsw: true,
    };
    let lower_first = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"];
    let memsw_first = ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"];
    // Limit 100 with 300 of memory+swap, from a limit of 200: memsw can
    // rise first. From 400 it cannot (400 > 300): the limit shrinks first.
    assert_eq!(files(&plan(&both(100, 300), at(200))), memsw_first);
    assert_eq!(files(&plan(&both(100, 300), at(400))), lower_first);
    // -1: unlimited swap, written as the kernel's -1, first.
    let p = plan(&both(100, -1), at(50)).unwrap();
    assert_eq!(
        (p[0].file.as_str(), p[0].value.as_str()),
        ("memory.memsw.limit_in_bytes", "-1")
    );
    assert!(both(100, 50).validate().is_err(), "swap below the limit");
}

#[test]
fn empty_limits_write_nothing() {
    let state = MemoryState {
        current_limit: None,
        has_memsw: true,
    };
    assert!(plan(&Limits::default(), state).unwrap().is_empty());
}

#[test]
fn unlimited_pids_is_max() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.cg.apply(&Limits {
        pids: Some(0),
        ..Limits::default()
    })
    .unwrap();
    assert_eq!(f.read("pids/pocky/c1/pids.max"), "max");
}

#[test]
fn a_missing_controller_is_named() {
    let f = Fake::with(&["cpu,cpuacct", "memory"]);
    f.cg.create().unwrap();
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
}

#[test]
fn writes_before_create_fail_with_the_path() {
    let f = Fake::new();
    let err =
        f.cg.apply(&Limits {
            pids: Some(8),
            ..Limits::default()
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("pids/pocky/c1/pids.max"), "{msg}");
}

#[test]
fn add_task_joins_every_controller() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.cg.add_task(4242).unwrap();
    for d in f.cg.dirs() {
        assert_eq!(
            std::fs::read_to_string(d.join("cgroup.procs")).unwrap(),
            "4242"
        );
    }
}

#[test]
fn pids_are_the_union_over_controllers() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.put("memory/pocky/c1/cgroup.procs", "10\n12\n");
    f.put("pids/pocky/c1/cgroup.procs", "12\n11\n");
    assert_eq!(f.cg.pids().unwrap(), vec![10, 11, 12]);
}

#[test]
fn stats_parse() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.put("memory/pocky/c1/memory.usage_in_bytes", "1048576\n");
    f.put(
        "memory/pocky/c1/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    f.put(
        "memory/pocky/c1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    f.put("memory/pocky/c1/memory.failcnt", "0\n");
    f.put("pids/pocky/c1/pids.current", "3\n");
    f.put("cpu,cpuacct/pocky/c1/cpuacct.usage", "123456789\n");
    assert_eq!(
        f.cg.stats().unwrap(),
        Stats {
            memory_bytes: Some(1 << 20),
            memory_limit_bytes: None,
            pids: Some(3),
            cpu_usage_nanos: Some(123_456_789),
            oom_killed: true,
        }
    );
    f.put("memory/pocky/c1/memory.limit_in_bytes", "67108864\n");
    f.put(
        "memory/pocky/c1/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    );
    let s = f.cg.stats().unwrap();
    assert_eq!(s.memory_limit_bytes, Some(64 << 20));
    assert!(!s.oom_killed);
}

#[test]
fn oom_falls_back_to_failcnt_on_old_kernels() {
    let p = Path::new("memory.oom_control");
    let old = "oom_kill_disable 0\nunder_oom 0\n";
    assert!(oom_killed((p, Some(old)), Some(2)).unwrap());
    assert!(!oom_killed((p, Some(old)), Some(0)).unwrap());
    assert!(!oom_killed((p, None), None).unwrap());
    // The counter wins where it exists: hitting the limit is not an OOM kill.
    assert!(!oom_killed((p, Some("oom_kill 0\n")), Some(5)).unwrap());
}

#[test]
fn stats_of_garbage_names_the_file() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.put("pids/pocky/c1/pids.current", "many\n");
    let msg = f.cg.stats().unwrap_err().to_string();
    assert!(
        msg.contains("pids.current") && msg.contains("many"),
        "{msg}"
    );
}

#[test]
fn freeze_and_thaw_write_freezer_state() {
    let f = Fake::new();
    f.cg.create().unwrap();
    f.cg.freeze().unwrap();
    assert_eq!(f.read("freezer/pocky/c1/freezer.state"), "FROZEN");
    f.cg.thaw().unwrap();
    assert_eq!(f.read("freezer/pocky/c1/freezer.state"), "THAWED");
}

#[test]
fn device_rules_go_to_allow_and_deny() {
    let f = Fake::new();
    f.cg.create().unwrap();
    let rules = [
        DeviceRule::parse(false, "a *:* rwm").unwrap(),
        DeviceRule::parse(true, "c 1:3 rwm").unwrap(),
    ];
    f.cg.apply_devices(&rules).unwrap();
    assert_eq!(f.read("devices/pocky/c1/devices.deny"), "a *:* rwm");
    assert_eq!(f.read("devices/pocky/c1/devices.allow"), "c 1:3 rwm");
}

#[test]
fn kill_all_kills_listed_tasks_and_thaws() {
    let f = Fake::new();
    f.cg.create().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // 0 must never be signalled (it would be our own process group).
    f.put("freezer/pocky/c1/cgroup.procs", &format!("0\n{pid}\n"));
    f.cg.kill_all().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert_eq!(f.read("freezer/pocky/c1/freezer.state"), "THAWED");
}

#[test]
fn remove_takes_every_dir_and_tolerates_absence() {
    let f = Fake::new();
    f.cg.remove().unwrap();
    f.cg.create().unwrap();
    f.cg.remove().unwrap();
    assert!(f.cg.dirs().iter().all(|d| !d.exists()));
    // The shared parent stays: other containers live there.
    assert!(f.at("memory/pocky").is_dir());
    f.cg.remove().unwrap();
}

#[test]
fn kill_all_of_an_absent_cgroup_is_a_no_op() {
    let f = Fake::new();
    f.cg.kill_all().unwrap();
    assert!(f.cg.dirs().iter().all(|d| !d.exists()));
}
