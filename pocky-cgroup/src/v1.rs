//! cgroup v1: one directory per controller mount.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::detect::V1Mounts;
use crate::devices::DeviceRule;
use crate::error::{CgroupError, Result};
use crate::limits::{Limits, Write};
use crate::path::CgroupPath;
use crate::stats::{Stats, limit_or_none};
use crate::{CgroupManager, fsio, signal};

/// The controllers a container's cgroup is made in. cpuset is left out on
/// purpose: a new v1 cpuset group has empty `cpus`/`mems` and refuses
/// tasks until they are copied from the parent, and pocky sets no cpusets.
pub const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "pids", "freezer", "devices"];

/// Controllers a container joins only when one of its limits needs them
/// (cpusets, block I/O, hugetlb, network classes): most containers set
/// none, and each directory costs a mkdir and a write per start.
pub const OPTIONAL: &[&str] = &["cpuset", "blkio", "hugetlb", "net_cls", "net_prio"];

/// One container's cgroup on a v1 host.
#[derive(Clone, Debug)]
pub struct V1Cgroup {
    mounts: V1Mounts,
    path: CgroupPath,
}

impl V1Cgroup {
    /// A handle on `path` in every controller of `mounts`; nothing is
    /// touched until [`CgroupManager::create`].
    pub fn new(mounts: V1Mounts, path: CgroupPath) -> Self {
        Self { mounts, path }
    }

    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// This cgroup's directory for `controller`.
    pub fn dir(&self, controller: &'static str) -> Result<PathBuf> {
        let mount =
            self.mounts
                .mount(controller)
                .ok_or_else(|| CgroupError::MissingController {
                    controller,
                    path: self.path.as_relative().to_path_buf(),
                })?;
        Ok(self.path.under(mount))
    }

    /// Every distinct directory of the cgroup (combined mounts such as
    /// `cpu,cpuacct` share one), in a stable order: those of
    /// [`CONTROLLERS`], and those of [`OPTIONAL`] that a limit made.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut set: BTreeSet<PathBuf> = CONTROLLERS
            .iter()
            .filter_map(|c| self.mounts.mount(c))
            .map(|m| self.path.under(m))
            .collect();
        set.extend(
            OPTIONAL
                .iter()
                .filter_map(|c| self.mounts.mount(c))
                .map(|m| self.path.under(m))
                .filter(|d| d.is_dir()),
        );
        set.into_iter().collect()
    }

    fn file(&self, controller: &'static str, file: &str) -> Result<PathBuf> {
        Ok(self.dir(controller)?.join(file))
    }

    fn run(&self, writes: &[Write]) -> Result<()> {
        for w in writes {
            fsio::write(&self.file(w.controller, &w.file)?, &w.value)?;
        }
        Ok(())
    }

    /// Makes the cgroup in a controller outside [`CONTROLLERS`], which a
    /// limit needs. A new cpuset group starts with empty `cpus` and `mems`
    /// and refuses tasks, so each new level copies its parent's, as runc
    /// does; the limit's own values are written after.
    /// Returns whether the directory is new.
    fn create_optional(&self, controller: &'static str) -> Result<bool> {
        let dir = self.dir(controller)?;
        if dir.is_dir() {
            return Ok(false);
        }
        let mount = self
            .mounts
            .mount(controller)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut chain = self.path.ancestors_under(&mount);
        chain.push(dir);
        let mut parent = mount;
        for level in chain {
            fsio::mkdir_p(&level)?;
            if controller == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let own = fsio::read(&level.join(f))?;
                    if own.trim().is_empty() {
                        fsio::write(&level.join(f), fsio::read(&parent.join(f))?.trim())?;
                    }
                }
            }
            parent = level;
        }
        Ok(true)
    }

    fn freezer_state(&self) -> Result<PathBuf> {
        self.file("freezer", "freezer.state")
    }

    fn set_freezer(&self, wanted: &'static str) -> Result<()> {
        let path = self.freezer_state()?;
        // A group can sit in FREEZING while a task is in uninterruptible
        // sleep; writing the wanted state again retries the freeze, as runc
        // does.
        fsio::poll_until(&path, wanted, || {
            fsio::write(&path, wanted)?;
            Ok(fsio::read(&path)?.trim().to_owned())
        })
    }
}

/// What the memory writes depend on in the live tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryState {
    /// The limit now in `memory.limit_in_bytes` (`None`: unreadable, taken
    /// as unlimited).
    pub current_limit: Option<u64>,
    /// Whether `memory.memsw.limit_in_bytes` exists (swap accounting on).
    pub has_memsw: bool,
}

/// The writes for `limits`, in the order the kernel accepts them.
pub(crate) fn plan(limits: &Limits, mem: MemoryState) -> Result<Vec<Write>> {
    let mut w = Vec::new();
    if let Some(shares) = limits.shares() {
        w.push(Write::new("cpu", "cpu.shares", shares));
    }
    if let Some((quota, period)) = limits.cfs() {
        w.push(Write::new("cpu", "cpu.cfs_period_us", period));
        w.push(Write::new("cpu", "cpu.cfs_quota_us", quota.unwrap_or(-1)));
    }
    // memsw is memory plus swap: held to the limit unless the caller says
    // otherwise (-1: unlimited).
    let swap = match limits.more.memory_swap {
        Some(s) => Some(u64::try_from(s).unwrap_or(u64::MAX)),
        None => limits.memory_bytes,
    };
    let limit = limits
        .memory_bytes
        .map(|b| Write::new("memory", "memory.limit_in_bytes", b));
    let memsw = swap.filter(|_| mem.has_memsw).map(|s| {
        let value = if s == u64::MAX {
            "-1".to_owned()
        } else {
            s.to_string()
        };
        Write::new("memory", "memory.memsw.limit_in_bytes", value)
    });
    match (limit, memsw) {
        (Some(limit), Some(memsw)) => {
            // The kernel keeps memory.limit <= memsw.limit at every step:
            // when the new memsw is above the current limit it can go
            // first; otherwise the limit must shrink first.
            if swap.unwrap_or(u64::MAX) > mem.current_limit.unwrap_or(u64::MAX) {
                w.extend([memsw, limit]);
            } else {
                w.extend([limit, memsw]);
            }
        }
        (limit, memsw) => w.extend(limit.into_iter().chain(memsw)),
    }
    if let Some(max) = limits.pids_max() {
        w.push(Write::new("pids", "pids.max", max));
    }
    w.extend(limits.more.v1_writes()?);
    Ok(w)
}

/// Reads an OOM verdict: the `oom_kill` counter of `memory.oom_control`
/// (Linux 4.13+), else whether the limit was ever hit (`memory.failcnt`),
/// which is what older Docker reported.
pub(crate) fn oom_killed(oom_control: (&Path, Option<&str>), failcnt: Option<u64>) -> Result<bool> {
    if let Some(text) = oom_control.1
        && let Some(n) = fsio::keyed_u64(oom_control.0, text, "oom_kill")?
    {
        return Ok(n > 0);
    }
    Ok(failcnt.is_some_and(|n| n > 0))
}

impl CgroupManager for V1Cgroup {
    fn create(&self) -> Result<()> {
        self.dirs().iter().try_for_each(|d| fsio::mkdir_p(d))
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        self.dirs()
            .iter()
            .try_for_each(|d| fsio::write(&d.join("cgroup.procs"), &pid))
    }

    fn apply(&self, limits: &Limits) -> Result<()> {
        limits.validate()?;
        let touches_memory = limits.memory_bytes.is_some() || limits.more.memory_swap.is_some();
        let mem = if touches_memory {
            let dir = self.dir("memory")?;
            MemoryState {
                current_limit: fsio::read_u64_optional(&dir.join("memory.limit_in_bytes"))?,
                has_memsw: dir.join("memory.memsw.limit_in_bytes").exists(),
            }
        } else {
            MemoryState {
                current_limit: None,
                has_memsw: false,
            }
        };
        let writes = plan(limits, mem)?;
        let mut joined = Vec::new();
        for c in writes.iter().map(|w| w.controller) {
            if !CONTROLLERS.contains(&c) && !joined.contains(&c) && self.create_optional(c)? {
                joined.push(c);
            }
        }
        self.run(&writes)?;
        // An update of a running container: its tasks join the controllers
        // the new limits brought in, or those limits would bind nobody.
        if !joined.is_empty() {
            let pids = self.pids()?;
            for c in joined {
                let procs = self.file(c, "cgroup.procs")?;
                for pid in &pids {
                    fsio::write(&procs, &pid.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let dir = self.dir("devices")?;
        for r in rules {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            fsio::write(&dir.join(file), &r.to_v1()?)?;
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Ok(mem) = self.dir("memory") {
            s.memory_bytes = fsio::read_u64_optional(&mem.join("memory.usage_in_bytes"))?;
            s.memory_limit_bytes =
                limit_or_none(fsio::read_u64_optional(&mem.join("memory.limit_in_bytes"))?);
            let oc = mem.join("memory.oom_control");
            let oc_text = fsio::read_optional(&oc)?;
            let failcnt = fsio::read_u64_optional(&mem.join("memory.failcnt"))?;
            s.oom_killed = oom_killed((&oc, oc_text.as_deref()), failcnt)?;
        }
        if let Ok(pids) = self.dir("pids") {
            s.pids = fsio::read_u64_optional(&pids.join("pids.current"))?;
        }
        if let Ok(acct) = self.dir("cpuacct") {
            s.cpu_usage_nanos = fsio::read_u64_optional(&acct.join("cpuacct.usage"))?;
        }
        Ok(s)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // The union over controllers: after a partial add_task a task may
        // be in some directories only, and kill_all must still find it.
        let mut all = BTreeSet::new();
        for d in self.dirs() {
            let f = d.join("cgroup.procs");
            if let Some(text) = fsio::read_optional(&f)? {
                all.extend(fsio::parse_pids(&f, &text)?);
            }
        }
        Ok(all.into_iter().collect())
    }

    fn freeze(&self) -> Result<()> {
        self.set_freezer("FROZEN").inspect_err(|_| {
            // Half-frozen is the worst state to leave a container in.
            let _ = self.freezer_state().and_then(|p| fsio::write(&p, "THAWED"));
        })
    }

    fn thaw(&self) -> Result<()> {
        self.set_freezer("THAWED")
    }

    fn kill_all(&self) -> Result<()> {
        // `stop` after a crash may find the cgroup gone: nothing to kill.
        if !self.dirs().iter().any(|d| d.exists()) {
            return Ok(());
        }
        // An empty cgroup (the usual case at a container's end: its init has
        // exited, taking its pid namespace along) has no task to fork a new
        // one, so there is nothing to freeze for: the freeze, the poll of its
        // state and the thaw cost a millisecond at every container's end.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        // Frozen tasks cannot fork, so the pid list cannot go stale between
        // reading it and signalling it. SIGKILL reaches frozen tasks; they
        // die once thawed. Without a freezer, kill what is there.
        let frozen = self.mounts.mount("freezer").is_some() && self.freeze().is_ok();
        let killed = signal::kill_each(&self.pids()?, &self.path.to_string());
        let thawed = if frozen { self.thaw() } else { Ok(()) };
        killed.and(thawed)
    }

    fn remove(&self) -> Result<()> {
        fsio::rmdir_all(&self.dirs())
    }
}

#[cfg(test)]
mod tests;
