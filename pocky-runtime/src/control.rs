//! The runtime binary's operations on a created container: kill, delete,
//! pause, resume, ps. Each starts from the state directory's record.

use std::time::Duration;

use pocky_cgroup::{Cgroup, CgroupManager};

use crate::RuntimeError;
use crate::hooks;
use crate::process::Pidfd;
use crate::state::{Record, StateDir, Status};

pub(crate) fn cgroup_of(record: &Record) -> Result<Option<Cgroup>, RuntimeError> {
    record
        .cgroup
        .as_deref()
        .map(|p| crate::launch::open_cgroup(p, record.cgroup_base.as_deref()))
        .transpose()
}

/// Sends `signal` to the init, or with `all` to every process of the
/// container's cgroup. A stopped container is an error, as in runc.
pub fn kill(dir: &StateDir, signal: i32, all: bool) -> Result<(), RuntimeError> {
    let record = dir.load()?;
    let status = dir.status(&record);
    if status == Status::Stopped {
        return Err(RuntimeError::State(format!(
            "cannot kill container {}: it is not running",
            record.id
        )));
    }
    if all && let Some(cg) = cgroup_of(&record)? {
        for pid in cg.pids().map_err(RuntimeError::Cgroup)? {
            // SAFETY: kill takes plain integers; a vanished pid is ESRCH.
            unsafe { libc::kill(pid, signal) };
        }
        if status == Status::Paused && signal == libc::SIGKILL {
            // Frozen tasks act on SIGKILL only once thawed.
            cg.thaw().map_err(RuntimeError::Cgroup)?;
        }
        return Ok(());
    }
    match Pidfd::open(record.pid, record.start_time)? {
        Some(fd) => fd.signal(signal),
        None => Err(RuntimeError::State(format!(
            "cannot kill container {}: it is not running",
            record.id
        ))),
    }
}

/// Removes the container: its cgroup, then its state directory, then
/// runs the poststop hooks. A created container is killed first (runc
/// does the same); a running or paused one only with `force`. Returns
/// warnings (failed poststop hooks).
pub fn delete(dir: &StateDir, force: bool) -> Result<Vec<String>, RuntimeError> {
    let record = match dir.load() {
        Ok(r) => r,
        Err(RuntimeError::NotFound(_)) if force => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let status = dir.status(&record);
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(RuntimeError::State(format!(
            "cannot delete container {} that is not stopped: it is {status} (use --force)",
            record.id
        )));
    }
    let cgroup = cgroup_of(&record)?;
    if status != Status::Stopped
        && let Some(fd) = Pidfd::open(record.pid, record.start_time)?
    {
        fd.signal(libc::SIGKILL)?;
        if let Some(cg) = &cgroup {
            cg.kill_all().map_err(RuntimeError::Cgroup)?;
            if status == Status::Paused {
                cg.thaw().map_err(RuntimeError::Cgroup)?;
            }
        }
        // The init's parent (a shim, conmon, or pid 1) reaps it; a
        // zombie counts as gone, so this returns promptly.
        fd.wait_timeout(Some(Duration::from_secs(10)))?;
    }
    if let Some(cg) = &cgroup {
        // Children of the init may outlive it (they are killed with the
        // pid namespace, but a container without one keeps them).
        let _ = cg.kill_all();
        cg.remove().map_err(RuntimeError::Cgroup)?;
    }
    dir.remove()?;
    let mut warnings = Vec::new();
    let poststop = record
        .hooks
        .as_ref()
        .and_then(|h| h.poststop().clone())
        .unwrap_or_default();
    let state = dir.oci_state(&record, Status::Stopped);
    if let Err(e) = hooks::run_host(&poststop, &state) {
        warnings.push(format!("poststop hook: {e}"));
    }
    Ok(warnings)
}

fn running_cgroup(dir: &StateDir, want: &[Status], op: &str) -> Result<Cgroup, RuntimeError> {
    let record = dir.load()?;
    let status = dir.status(&record);
    if !want.contains(&status) {
        return Err(RuntimeError::State(format!(
            "cannot {op} container {}: it is {status}",
            record.id
        )));
    }
    cgroup_of(&record)?.ok_or_else(|| {
        RuntimeError::State(format!("container {} has no cgroup to {op}", record.id))
    })
}

/// Freezes every process of the container.
pub fn pause(dir: &StateDir) -> Result<(), RuntimeError> {
    running_cgroup(dir, &[Status::Running], "pause")?
        .freeze()
        .map_err(RuntimeError::Cgroup)
}

/// Thaws a paused container.
pub fn resume(dir: &StateDir) -> Result<(), RuntimeError> {
    running_cgroup(dir, &[Status::Paused], "resume")?
        .thaw()
        .map_err(RuntimeError::Cgroup)
}

/// The host pids of the container's processes.
pub fn pids(dir: &StateDir) -> Result<Vec<i32>, RuntimeError> {
    let record = dir.load()?;
    if dir.status(&record) == Status::Stopped {
        return Ok(Vec::new());
    }
    match cgroup_of(&record)? {
        Some(cg) => cg.pids().map_err(RuntimeError::Cgroup),
        None => Ok(vec![record.pid]),
    }
}

const LIVE: &[Status] = &[Status::Created, Status::Running, Status::Paused];

/// Applies new limits to a live container's cgroup (runc's `update`).
pub fn update(dir: &StateDir, limits: &pocky_cgroup::Limits) -> Result<(), RuntimeError> {
    running_cgroup(dir, LIVE, "update")?
        .apply(limits)
        .map_err(RuntimeError::Cgroup)
}

/// The container's cgroup statistics (runc's `events --stats`).
pub fn stats(dir: &StateDir) -> Result<pocky_cgroup::Stats, RuntimeError> {
    running_cgroup(dir, LIVE, "read statistics of")?
        .stats()
        .map_err(RuntimeError::Cgroup)
}
