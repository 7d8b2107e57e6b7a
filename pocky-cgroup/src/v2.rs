//! cgroup v2: one directory in the unified hierarchy.

use std::path::{Path, PathBuf};

use crate::devices::DeviceRule;
use crate::error::{CgroupError, Result};
use crate::limits::{Limits, Write, shares_to_weight};
use crate::path::CgroupPath;
use crate::resources::unified_controller;
use crate::stats::{Stats, limit_or_none};
use crate::{CgroupManager, fsio, signal};

/// The controllers pocky enables for its cgroups, where the host has them.
pub const CONTROLLERS: &[&str] = &["cpu", "memory", "pids"];

/// One container's cgroup on a v2 (unified) hierarchy.
#[derive(Clone, Debug)]
pub struct V2Cgroup {
    root: PathBuf,
    path: CgroupPath,
}

impl V2Cgroup {
    /// A handle on `path` under the cgroup2 mount `root`; nothing is
    /// touched until [`CgroupManager::create`].
    pub fn new(root: impl Into<PathBuf>, path: CgroupPath) -> Self {
        Self {
            root: root.into(),
            path,
        }
    }

    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> PathBuf {
        self.path.under(&self.root)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Controllers listed in `dir/cgroup.controllers` (empty if absent).
    fn controllers_of(dir: &Path) -> Result<Vec<String>> {
        Ok(fsio::read_optional(&dir.join("cgroup.controllers"))?
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// Fails early with a clear error when the host does not delegate
    /// `controller` to this cgroup, instead of a bare EACCES on a file
    /// that does not exist.
    fn require(&self, controller: &'static str) -> Result<()> {
        let dir = self.dir();
        if fsio::read_optional(&dir.join("cgroup.controllers"))?.is_some()
            && !Self::controllers_of(&dir)?.iter().any(|c| c == controller)
        {
            return Err(CgroupError::MissingController {
                controller,
                path: dir,
            });
        }
        Ok(())
    }

    /// Enables `controllers` (those each level has) in every ancestor's
    /// `cgroup.subtree_control`, from the root down to the parent, where
    /// this process may write it: above a subtree delegated to a rootless
    /// user the levels are the administrator's, and a limit needing a
    /// controller they hold back fails by name in `apply`.
    fn enable(&self, controllers: &[&str]) -> Result<()> {
        self.enable_with(controllers, &|control: &Path| {
            !control.exists()
                || nix::unistd::access(control, nix::unistd::AccessFlags::W_OK).is_ok()
        })
    }

    /// [`Self::enable`] with the judgement of which `subtree_control`
    /// files may be written made by `may_write`.
    pub(crate) fn enable_with(
        &self,
        controllers: &[&str],
        may_write: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        let words = |text: Option<String>| -> Vec<String> {
            text.unwrap_or_default()
                .split_whitespace()
                .map(|w| w.trim_start_matches('+').to_owned())
                .collect()
        };
        let mut chain = vec![self.root.clone()];
        chain.extend(self.path.ancestors_under(&self.root));
        // What the level above enabled, for a level whose own list the
        // kernel would show (a fake tree may not have it).
        let mut carried: Vec<String> = Vec::new();
        for dir in &chain {
            fsio::mkdir_p(dir)?;
            let available = match fsio::read_optional(&dir.join("cgroup.controllers"))? {
                Some(text) => words(Some(text)),
                None => carried.clone(),
            };
            let control = dir.join("cgroup.subtree_control");
            let mut enabled = words(fsio::read_optional(&control)?);
            let missing: Vec<&str> = controllers
                .iter()
                .copied()
                .filter(|c| available.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c))
                .collect();
            if !missing.is_empty() && may_write(&control) {
                let text: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
                fsio::write(&control, &text.join(" "))?;
                enabled.extend(missing.iter().map(|c| (*c).to_owned()));
            }
            carried = enabled;
        }
        Ok(())
    }

    fn events_frozen(&self) -> Result<&'static str> {
        let path = self.file("cgroup.events");
        let text = fsio::read(&path)?;
        Ok(match fsio::keyed_u64(&path, &text, "frozen")? {
            Some(1) => "frozen",
            _ => "thawed",
        })
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let path = self.file("cgroup.freeze");
        let (value, wanted) = if frozen {
            ("1", "frozen")
        } else {
            ("0", "thawed")
        };
        fsio::write(&path, value)?;
        // The write starts the freeze; cgroup.events says when every task
        // has stopped.
        fsio::poll_until(&path, wanted, || self.events_frozen().map(str::to_owned))
    }
}

/// The writes for `limits`; `has_swap` says whether `memory.swap.max`
/// exists (it does not when swap accounting is off).
pub(crate) fn plan(limits: &Limits, has_swap: bool) -> Result<Vec<Write>> {
    let mut w = Vec::new();
    if let Some(shares) = limits.shares() {
        w.push(Write::new("cpu", "cpu.weight", shares_to_weight(shares)));
    }
    if let Some((quota, period)) = limits.cfs() {
        let quota = quota.map_or("max".to_owned(), |q| q.to_string());
        w.push(Write::new("cpu", "cpu.max", format!("{quota} {period}")));
    }
    if let Some(bytes) = limits.memory_bytes {
        w.push(Write::new("memory", "memory.max", bytes));
    }
    // v2 counts swap apart from memory, where the spec's (and v1's) figure
    // is memory plus swap: no figure means none beyond the limit.
    let swap = match (limits.more.memory_swap, limits.memory_bytes) {
        (None, Some(_)) => Some("0".to_owned()),
        (None, None) => None,
        (Some(s), _) if s < 0 => Some("max".to_owned()),
        (Some(s), Some(m)) => Some(u64::try_from(s).unwrap_or(0).saturating_sub(m).to_string()),
        (Some(s), None) => {
            return Err(CgroupError::InvalidLimit {
                limit: "memory+swap",
                value: u64::try_from(s).unwrap_or(0),
                reason: "cgroup v2 needs a memory limit to derive the swap limit from",
            });
        }
    };
    if let Some(swap) = swap.filter(|_| has_swap) {
        w.push(Write::new("memory", "memory.swap.max", swap));
    }
    if let Some(max) = limits.pids_max() {
        w.push(Write::new("pids", "pids.max", max));
    }
    w.extend(limits.more.v2_writes()?);
    Ok(w)
}

impl CgroupManager for V2Cgroup {
    fn create(&self) -> Result<()> {
        // A controller is usable in a cgroup only if every ancestor lists it
        // in cgroup.subtree_control, so enable the wanted ones the host
        // offers from the root down to the parent. The leaf itself enables
        // nothing: it holds tasks, and v2 forbids tasks in a cgroup that
        // delegates domain controllers.
        self.enable(CONTROLLERS)?;
        fsio::mkdir_p(&self.dir())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        fsio::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, limits: &Limits) -> Result<()> {
        limits.validate()?;
        let writes = plan(limits, self.file("memory.swap.max").exists())?;
        let unified: Vec<(&'static str, &String, &String)> = limits
            .more
            .unified
            .iter()
            .map(|(k, v)| {
                let c = unified_controller(k).ok_or_else(|| CgroupError::InvalidPath {
                    path: k.clone(),
                    reason: "not a file of a known cgroup v2 controller",
                })?;
                Ok((c, k, v))
            })
            .collect::<Result<_>>()?;
        let extra: Vec<&str> = writes
            .iter()
            .map(|w| w.controller)
            .chain(unified.iter().map(|u| u.0))
            .filter(|c| !CONTROLLERS.contains(c))
            .collect();
        if !extra.is_empty() {
            self.enable(&extra)?;
        }
        for w in &writes {
            self.require(w.controller)?;
            fsio::write(&self.file(&w.file), &w.value)?;
        }
        for (controller, key, value) in unified {
            self.require(controller)?;
            fsio::write(&self.file(key), value)?;
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        crate::devices_bpf::attach(&self.dir(), rules)
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats {
            memory_bytes: fsio::read_u64_optional(&self.file("memory.current"))?,
            memory_limit_bytes: limit_or_none(fsio::read_u64_optional(&self.file("memory.max"))?),
            pids: fsio::read_u64_optional(&self.file("pids.current"))?,
            ..Stats::default()
        };
        let stat = self.file("cpu.stat");
        if let Some(text) = fsio::read_optional(&stat)? {
            s.cpu_usage_nanos =
                fsio::keyed_u64(&stat, &text, "usage_usec")?.map(|us| us.saturating_mul(1_000));
        }
        let events = self.file("memory.events");
        if let Some(text) = fsio::read_optional(&events)? {
            s.oom_killed = fsio::keyed_u64(&events, &text, "oom_kill")?.is_some_and(|n| n > 0);
        }
        Ok(s)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let f = self.file("cgroup.procs");
        fsio::parse_pids(&f, &fsio::read(&f)?)
    }

    fn freeze(&self) -> Result<()> {
        self.set_frozen(true).inspect_err(|_| {
            let _ = fsio::write(&self.file("cgroup.freeze"), "0");
        })
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn kill_all(&self) -> Result<()> {
        // `stop` after a crash may find the cgroup gone: nothing to kill.
        if !self.dir().exists() {
            return Ok(());
        }
        // cgroup.kill (Linux 5.14+) kills the whole subtree atomically,
        // racing no fork; before it, freeze, signal and thaw as on v1.
        let kill = self.file("cgroup.kill");
        if kill.exists() {
            return fsio::write(&kill, "1");
        }
        let frozen = self.file("cgroup.freeze").exists() && self.freeze().is_ok();
        let killed = signal::kill_each(&self.pids()?, &self.path.to_string());
        let thawed = if frozen { self.thaw() } else { Ok(()) };
        killed.and(thawed)
    }

    fn remove(&self) -> Result<()> {
        fsio::rmdir_retrying(&self.dir())
    }
}

#[cfg(test)]
mod tests;
