//! Privileged tests against this machine's real cgroup hierarchy.
//!
//! Every cgroup lives under a parent named for the test run
//! (`pocky-test-<pid>-<name>`), and a guard kills and removes everything
//! on the way out, assertion failure included.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::sys::signal::Signal;
use pocky_cgroup::{Cgroup, CgroupError, CgroupManager, DeviceRule, Hierarchy, Limits, V2Cgroup};

/// Owns the test's cgroups and its child process; cleans up on drop.
struct Guard {
    parent: Cgroup,
    leaf: Cgroup,
    child: Option<Child>,
    /// A write to a root's `cgroup.subtree_control` that undoes the test's.
    restore_root: Option<(PathBuf, &'static str)>,
}

impl Guard {
    fn new(hierarchy: &Hierarchy, name: &str) -> Self {
        let parent = format!("pocky-test-{}-{name}", std::process::id());
        Self {
            parent: Cgroup::new(hierarchy, &parent).unwrap(),
            leaf: Cgroup::new(hierarchy, format!("{parent}/c1")).unwrap(),
            child: None,
            restore_root: None,
        }
    }

    /// A `sleep` that the test moves into the cgroup.
    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        self.child = Some(child);
        pid
    }

    fn all_dirs(&self) -> Vec<PathBuf> {
        let mut d = self.leaf.dirs();
        d.extend(self.parent.dirs());
        d
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.leaf.thaw();
        let _ = self.leaf.kill_all();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let leaf = self.leaf.remove();
        let parent = self.parent.remove();
        let root = self
            .restore_root
            .take()
            .map(|(dir, undo)| std::fs::write(dir.join("cgroup.subtree_control"), undo));
        // Not an assert: a panic inside a panic would abort and hide the
        // first failure.
        if leaf.is_err() || parent.is_err() || root.as_ref().is_some_and(Result::is_err) {
            eprintln!("cleanup failed: {leaf:?} {parent:?} {root:?}");
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}

/// The directory holding `controller`'s files: one per controller on v1,
/// the single directory on v2.
fn dir_of(cg: &Cgroup, controller: &'static str) -> PathBuf {
    match cg {
        Cgroup::V1(c) => c.dir(controller).unwrap(),
        Cgroup::V2(c) => c.dir(),
    }
}

#[test]
fn real_lifecycle() {
    if !pocky_testkit::privileged("real_lifecycle") {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let mut g = Guard::new(&h, "lifecycle");
    let cg = g.leaf.clone();
    cg.create().unwrap();
    assert!(cg.dirs().iter().all(|d| d.is_dir()));

    let limits = Limits {
        cpu_shares: Some(512),
        nano_cpus: Some(500_000_000),
        memory_bytes: Some(64 << 20),
        pids: Some(8),
        ..Limits::default()
    };
    cg.apply(&limits).unwrap();
    let (cpu, mem, pids) = (
        dir_of(&cg, "cpu"),
        dir_of(&cg, "memory"),
        dir_of(&cg, "pids"),
    );
    assert_eq!(read(&pids, "pids.max"), "8");
    if cg.version() == "v1" {
        assert_eq!(read(&cpu, "cpu.shares"), "512");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    } else {
        assert_eq!(read(&cpu, "cpu.weight"), "20");
        assert_eq!(read(&cpu, "cpu.max"), "50000 100000");
        assert_eq!(read(&mem, "memory.max"), "67108864");
    }
    // On v1 the kernel itself enforces the memsw ordering: lowering and then
    // raising must both be accepted.
    for bytes in [32u64 << 20, 128 << 20] {
        cg.apply(&Limits {
            memory_bytes: Some(bytes),
            ..Limits::default()
        })
        .unwrap();
        let want = bytes.to_string();
        if cg.version() == "v1" {
            assert_eq!(read(&mem, "memory.limit_in_bytes"), want);
            if mem.join("memory.memsw.limit_in_bytes").exists() {
                assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), want);
            }
        } else {
            assert_eq!(read(&mem, "memory.max"), want);
        }
    }
    if cg.version() == "v1" {
        cg.apply_devices(&DeviceRule::docker_defaults()).unwrap();
        let list = read(&dir_of(&cg, "devices"), "devices.list");
        assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        assert!(!list.lines().any(|l| l == "a *:* rwm"), "{list}");
    }

    let pid = g.spawn_sleep();
    cg.add_task(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids, Some(1));
    assert!(stats.memory_bytes.is_some());
    assert_eq!(stats.memory_limit_bytes, Some(128 << 20));
    assert!(!stats.oom_killed);

    cg.freeze().unwrap();
    cg.thaw().unwrap();

    // A cgroup with a live task cannot go; the error names it.
    match cg.remove() {
        Err(CgroupError::Remove { path, .. }) => assert!(cg.dirs().contains(&path)),
        other => panic!("remove of a busy cgroup: {other:?}"),
    }

    cg.kill_all().unwrap();
    let status = g.child.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
    g.child = None;
    assert!(cg.pids().unwrap().is_empty());

    cg.remove().unwrap();
    assert!(cg.dirs().iter().all(|d| !d.exists()));
    let dirs = g.all_dirs();
    drop(g);
    assert!(dirs.iter().all(|d| !d.exists()), "left behind: {dirs:?}");
}

/// The cgroup2 mount beside v1 controllers on a hybrid host: no resource
/// controllers, but the core files (procs, freeze, kill) work, so the v2
/// backend's lifecycle can be checked here too. Pure v2 hosts cover it in
/// `real_lifecycle`.
#[test]
fn real_v2_core_on_hybrid_unified() {
    if !pocky_testkit::privileged("real_v2_core_on_hybrid_unified") {
        return;
    }
    let unified = Path::new(pocky_cgroup::DEFAULT_ROOT).join("unified");
    let is_cgroup2 = nix::sys::statfs::statfs(&unified)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    if !is_cgroup2 {
        eprintln!("SKIPPED real_v2_core_on_hybrid_unified: no cgroup2 at {unified:?}");
        return;
    }
    let h = Hierarchy::V2 { root: unified };
    let mut g = Guard::new(&h, "v2core");
    let Cgroup::V2(cg) = g.leaf.clone() else {
        panic!("a V2 hierarchy must give a V2 cgroup")
    };
    let cg: V2Cgroup = cg;
    cg.create().unwrap();
    let pid = g.spawn_sleep();
    cg.add_task(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    // Whatever controllers this mount lacks show as None, not as errors.
    cg.stats().unwrap();
    // A limit of a controller the mount has (hugetlb, on this machine's
    // unified hierarchy) is enabled down the tree and written; one it
    // lacks is named.
    let offered = read(
        Path::new(pocky_cgroup::DEFAULT_ROOT)
            .join("unified")
            .as_path(),
        "cgroup.controllers",
    );
    if offered.split_whitespace().any(|c| c == "hugetlb") {
        let size = std::fs::read_dir("/sys/kernel/mm/hugepages")
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .and_then(|e| e.file_name().into_string().ok())
            .and_then(|n| n.strip_prefix("hugepages-").map(str::to_owned))
            .map(|kb| {
                let kb: u64 = kb.trim_end_matches("kB").parse().unwrap();
                if kb >= 1 << 20 {
                    format!("{}GB", kb >> 20)
                } else {
                    format!("{}MB", kb >> 10)
                }
            });
        // The root's subtree_control is the host's: put it back after.
        let root = Path::new(pocky_cgroup::DEFAULT_ROOT).join("unified");
        let had = read(&root, "cgroup.subtree_control")
            .split_whitespace()
            .any(|c| c == "hugetlb");
        if let Some(size) = size {
            let limits = Limits {
                more: pocky_cgroup::Resources {
                    hugepages: vec![(size.clone(), 0)],
                    ..Default::default()
                },
                ..Limits::default()
            };
            cg.apply(&limits).unwrap();
            assert_eq!(read(&cg.dir(), &format!("hugetlb.{size}.max")), "0");
        }
        if !had {
            // Only once the test's own cgroups are gone may the root let
            // the controller go: done after the removal below.
            g.restore_root = Some((root, "-hugetlb"));
        }
    }
    if !offered.split_whitespace().any(|c| c == "pids") {
        let err = cg
            .apply(&Limits {
                pids: Some(8),
                ..Limits::default()
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::MissingController {
                    controller: "pids",
                    ..
                }
            ),
            "{err}"
        );
    }

    if cg.dir().join("cgroup.freeze").exists() {
        cg.freeze().unwrap();
        assert_eq!(read(&cg.dir(), "cgroup.freeze"), "1");
        cg.thaw().unwrap();
    }
    cg.kill_all().unwrap();
    let status = g.child.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
    g.child = None;

    cg.remove().unwrap();
    let dirs = g.all_dirs();
    drop(g);
    assert!(dirs.iter().all(|d| !d.exists()), "left behind: {dirs:?}");
}

/// A task that outgrows the memory limit is OOM-killed inside the cgroup,
/// and `stats` says so: the kernel's counters are read correctly.
#[test]
fn real_oom_is_reported() {
    if !pocky_testkit::privileged("real_oom_is_reported") {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let mut g = Guard::new(&h, "oom");
    let cg = g.leaf.clone();
    cg.create().unwrap();
    cg.apply(&Limits {
        memory_bytes: Some(16 << 20),
        ..Limits::default()
    })
    .unwrap();
    assert!(!cg.stats().unwrap().oom_killed);

    // The shell waits for a line so that it is inside the cgroup before it
    // starts the hog (`tail` keeps a newline-free input whole in memory).
    // The hog marks itself the OOM killer's first choice: left to the
    // kernel's heuristics, a CI run saw the shell picked instead.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            "read go; head -c 256m /dev/zero | \
             (echo 1000 > /proc/self/oom_score_adj; exec tail); echo survived",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    g.child = Some(child);
    cg.add_task(pid).unwrap();
    std::io::Write::write_all(&mut stdin, b"go\n").unwrap();
    drop(stdin);
    let out = std::io::read_to_string(stdout).unwrap();
    let status = g.child.as_mut().unwrap().wait().unwrap();
    g.child = None;
    // The shell itself goes on after its pipeline's tail dies.
    assert_eq!(out.trim(), "survived", "status {status:?}");
    assert!(cg.stats().unwrap().oom_killed);

    cg.remove().unwrap();
    let dirs = g.all_dirs();
    drop(g);
    assert!(dirs.iter().all(|d| !d.exists()), "left behind: {dirs:?}");
}

/// The v2 device rules are an eBPF program the kernel runs on every open
/// of a device node: a task in the cgroup gets /dev/null, allowed, and not
/// /dev/zero. On this hybrid machine the unified hierarchy is the v2 one;
/// the kernel checks its programs besides the v1 device cgroup.
#[test]
fn real_v2_device_program_is_enforced() {
    if !pocky_testkit::privileged("real_v2_device_program_is_enforced") {
        return;
    }
    let root = Path::new(pocky_cgroup::DEFAULT_ROOT);
    let unified = if nix::sys::statfs::statfs(root)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    {
        root.to_path_buf()
    } else {
        root.join("unified")
    };
    if !nix::sys::statfs::statfs(&unified)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    {
        assert!(std::env::var("CI").is_err(), "no cgroup2 mount under CI");
        eprintln!("SKIPPED real_v2_device_program_is_enforced: no cgroup2");
        return;
    }
    let h = Hierarchy::V2 { root: unified };
    let g = Guard::new(&h, "v2dev");
    g.leaf.create().unwrap();
    let rules = [
        DeviceRule::parse(false, "a *:* rwm").unwrap(),
        DeviceRule::parse(true, "c 1:3 rwm").unwrap(),
    ];
    g.leaf.apply_devices(&rules).unwrap();
    let mut child = Command::new("sh")
        .args([
            "-c",
            "read go; head -c1 /dev/null; echo null=$?; \
             head -c1 /dev/zero >/dev/null 2>&1; echo zero=$?",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    g.leaf.add_task(i32::try_from(child.id()).unwrap()).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null=0\nzero=1\n");
    // The cgroup goes, and its program with it.
    g.leaf.remove().unwrap();
}
