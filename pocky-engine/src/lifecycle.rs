//! Stopping, killing, removing and waiting for containers.
//!
//! Signals go through a pidfd opened against the recorded pid and start
//! time, so a pid the kernel reused for something else is never hit. Once the
//! process is gone, these commands wait for its owner (the foreground `run`
//! or the monitor) to record the exit, so what they print afterwards, and
//! what `ps` shows, is the owner's account rather than a guess.

use std::time::{Duration, Instant};

use pocky_cgroup::CgroupManager;

use pocky_runtime::process::{self, Pidfd};
use pocky_store::{ContainerRecord, ContainerStore, FileLock, Store, StoreError};

use crate::{Error, Result, conflict, state};

/// How long a SIGKILLed process may take to go: past this something is
/// badly wrong (a task stuck in the kernel), and saying so beats hanging.
const KILL_WAIT: Duration = Duration::from_secs(30);
/// How long an owner may take to record an exit it has seen.
const OWNER_WAIT: Duration = Duration::from_secs(10);

/// Stops a container: `signal` (default: its stop signal), then SIGKILL
/// after `timeout` seconds (default: its `--stop-timeout`, else 10). A
/// stopped container is no error.
pub fn stop(store: &Store, name: &str, timeout: Option<u64>, signal: Option<&str>) -> Result<()> {
    stop_one(store, name, timeout, signal)
}

/// Starts a created or stopped container again, detached: the same
/// rootfs and upper layer, name, id, volumes and network settings, a new
/// process (Docker's `start`). A running one is left as it is.
pub fn start(store: &Store, name: &str) -> Result<crate::monitor::Detached> {
    let rec = state::find(store, name)?;
    if state::process_alive(&rec) || state::owner_alive(store, &rec.id)? {
        return Ok(crate::monitor::Detached::AlreadyRunning);
    }
    // A start by hand lifts a stop by hand, and counts restarts afresh.
    let rec = store.update_container(&rec.id, &mut |r| {
        r.state.manually_stopped = false;
        r.state.restart_count = 0;
        r.state.restart_by_hand = false;
    })?;
    crate::fault::point("start:before-monitor");
    let created = crate::create::reopen(store, rec)?;
    crate::monitor::start_detached(store, created)
}

/// `stop`, then `start`: a stopped container just starts.
pub fn restart(
    store: &Store,
    name: &str,
    timeout: Option<u64>,
    signal: Option<&str>,
) -> Result<crate::monitor::Detached> {
    let rec = state::find(store, name)?;
    if rec.auto_remove {
        store.update_container(&rec.id, &mut |r| r.state.restart_by_hand = true)?;
    }
    if let Err(e) = stop_one(store, name, timeout, signal) {
        // Still running: its exit is to remove it after all.
        if rec.auto_remove {
            let _ = store.update_container(&rec.id, &mut |r| r.state.restart_by_hand = false);
        }
        return Err(e);
    }
    crate::fault::point("restart:stopped");
    let started = start(store, name)?;
    if let Ok(rec) = state::find(store, name) {
        crate::events::container(store, &rec, "restart", &[]);
    }
    Ok(started)
}

/// Gives a container a new name (running or not). Its peers on a user
/// network resolve the new name from its next start.
pub fn rename(store: &Store, name: &str, new_name: &str) -> Result<()> {
    crate::flags::check_name(new_name)?;
    let rec = state::find(store, name)?;
    let renamed = store.rename_container(&rec.id, new_name)?;
    crate::events::container(store, &renamed, "rename", &[("oldName", rec.name.clone())]);
    Ok(())
}

/// Freezes every process of a running container (Docker's `pause`).
pub fn pause(store: &Store, name: &str) -> Result<()> {
    let rec = state::find(store, name)?;
    if !state::process_alive(&rec) {
        return Err(Error::NotRunning(name.into()));
    }
    let cg = state::cgroup(&rec, "pause")?;
    if cg.is_frozen() {
        return Err(conflict!("container {name} is already paused"));
    }
    cg.freeze()?;
    crate::fault::point("pause:frozen");
    crate::events::container(store, &rec, "pause", &[]);
    Ok(())
}

/// Lets a paused container's processes run again.
pub fn unpause(store: &Store, name: &str) -> Result<()> {
    let rec = state::find(store, name)?;
    let cg = state::cgroup(&rec, "unpause")?;
    if !state::process_alive(&rec) || !cg.is_frozen() {
        return Err(conflict!("container {name} is not paused"));
    }
    cg.thaw()?;
    crate::events::container(store, &rec, "unpause", &[]);
    Ok(())
}

/// A signal reaches a frozen task only once it is thawed: after sending
/// one to a paused container, let it run (Docker does the same).
fn thaw_after_signal(rec: &ContainerRecord) {
    if let Ok(cg) = pocky_cgroup::Cgroup::detect(&rec.cgroup)
        && cg.is_frozen()
        && let Err(e) = cg.thaw()
    {
        crate::log::debug!("thawing {}: {e}", rec.id);
    }
}

/// Sends `signal` (a name or number) to a running container.
pub fn kill(store: &Store, name: &str, signal: &str) -> Result<()> {
    let signal = process::parse_signal(signal)?;
    let rec = state::find(store, name)?;
    let Some(fd) = pidfd(&rec)? else {
        return Err(Error::NotRunning(name.into()));
    };
    mark_stopped(store, &rec);
    fd.signal(signal)?;
    crate::events::container(store, &rec, "kill", &[("signal", signal.to_string())]);
    thaw_after_signal(&rec);
    Ok(())
}

/// Removes a container; `force` kills a running one first, `volumes`
/// removes its anonymous volumes too.
pub fn remove(store: &Store, name: &str, force: bool, volumes: bool) -> Result<()> {
    rm_one(store, name, force, volumes)
}

/// Waits for a container to exit and returns its exit code.
pub fn wait(store: &Store, name: &str) -> Result<i32> {
    wait_one(store, name)
}

/// A handle on the container's first process while it runs.
fn pidfd(rec: &ContainerRecord) -> Result<Option<Pidfd>> {
    if !state::process_alive(rec) {
        return Ok(None);
    }
    Ok(Pidfd::open(rec.state.pid, rec.state.pid_start)?)
}

/// Docker's grace period when neither `-t` nor `--stop-timeout` says.
const STOP_GRACE: u64 = 10;

/// The container's stop signal (its `--stop-signal` or image StopSignal,
/// which servers such as nginx and PostgreSQL need for a clean shutdown),
/// then SIGKILL after the grace period.
fn stop_one(store: &Store, name: &str, time: Option<u64>, signal: Option<&str>) -> Result<()> {
    let rec = state::find(store, name)?;
    let signal = match signal.or(rec.stop_signal.as_deref()) {
        Some(s) => process::parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let grace = Duration::from_secs(time.or(rec.stop_timeout).unwrap_or(STOP_GRACE));
    mark_stopped(store, &rec);
    if let Some(fd) = pidfd(&rec)? {
        fd.signal(signal)?;
        crate::events::container(store, &rec, "kill", &[("signal", signal.to_string())]);
        thaw_after_signal(&rec);
        if !fd.wait_timeout(Some(grace))? {
            kill_and_reap(&fd, &rec, name)?;
        }
    }
    settle(store, &rec.id)?;
    crate::events::container(store, &rec, "stop", &[]);
    Ok(())
}

/// Tells the container's monitor not to restart it (its policy yields to
/// a stop by hand until the next `start`).
fn mark_stopped(store: &Store, rec: &ContainerRecord) {
    if rec.restart_policy.is_some() {
        let _ = store.update_container(&rec.id, &mut |r| r.state.manually_stopped = true);
    }
}

fn kill_and_reap(fd: &Pidfd, rec: &ContainerRecord, name: &str) -> Result<()> {
    fd.signal(libc::SIGKILL)?;
    thaw_after_signal(rec);
    if !fd.wait_timeout(Some(KILL_WAIT))? {
        return Err(Error::Internal(anyhow::anyhow!(
            "container {name} did not exit {}s after SIGKILL",
            KILL_WAIT.as_secs()
        )));
    }
    Ok(())
}

/// Waits (bounded) for the owner to record the exit, then settles the
/// record. Returns the record, or None when the owner removed it (`--rm`),
/// and whether the owner let go in time.
fn settle(store: &Store, id: &str) -> Result<(Option<ContainerRecord>, bool)> {
    let deadline = Instant::now() + OWNER_WAIT;
    let mut released = false;
    loop {
        match state::owner_alive(store, id) {
            Ok(false) => {
                released = true;
                break;
            }
            Ok(true) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(true) => break,
            // The directory went away: the owner removed the container.
            Err(_) => break,
        }
    }
    match store.find_container(id) {
        Ok(rec) => Ok((Some(state::refresh(store, rec)?), released)),
        Err(StoreError::NoSuchContainer(_)) => Ok((None, true)),
        Err(e) => Err(e.into()),
    }
}

/// `rm -f -v`: for `system reset`.
pub fn remove_forced(store: &Store, id: &str) -> Result<()> {
    rm_one(store, id, true, true)
}

fn rm_one(store: &Store, name: &str, force: bool, volumes: bool) -> Result<()> {
    let rec = match store.find_container(name) {
        Err(StoreError::BrokenContainer { id, .. }) => {
            return Ok(crate::broken::remove_container(store, &id, force)?);
        }
        Err(e) => return Err(e.into()),
        Ok(rec) => state::refresh(store, rec)?,
    };
    // Its process has ended and the owner is still recording that (a
    // client that waited for the `die` event removes it at once): a moment
    // for the owner, rather than a "running" refusal. An owner that will
    // restart the container keeps it, as before.
    let rec = if !force
        && rec.restart_policy.is_none()
        && !state::process_alive(&rec)
        && state::owner_alive(store, &rec.id)?
    {
        match settle(store, &rec.id)? {
            (Some(r), _) => r,
            // The owner removed it (`--rm`): nothing is left to do.
            (None, _) => return Ok(()),
        }
    } else {
        rec
    };
    let busy = state::process_alive(&rec) || state::owner_alive(store, &rec.id)?;
    let rec = if busy {
        if !force {
            return Err(conflict!(
                "cannot remove container {name}: container is running: stop the container before removing or force remove"
            ));
        }
        mark_stopped(store, &rec);
        if let Some(fd) = pidfd(&rec)? {
            kill_and_reap(&fd, &rec, name)?;
        }
        match settle(store, &rec.id)? {
            (None, _) => return Ok(()),
            (Some(_), false) => {
                return Err(conflict!(
                    "cannot remove container {name}: the process that owns it did not let go within {}s",
                    OWNER_WAIT.as_secs()
                ));
            }
            (Some(rec), true) => rec,
        }
    } else {
        rec
    };
    if state::process_alive(&rec) {
        return Err(conflict!(
            "cannot remove container {name}: it is still running"
        ));
    }
    let used = match volumes {
        true => store.container_volumes(&rec.id)?,
        false => vec![],
    };
    state::remove_container(store, &rec)?;
    crate::events::container(store, &rec, "destroy", &[]);
    crate::volumes_setup::remove_anonymous(store, &used);
    Ok(())
}

fn wait_one(store: &Store, name: &str) -> Result<i32> {
    let rec = state::find(store, name)?;
    let lock = state::monitor_lock_path(store, &rec.id)?;
    if lock.exists() {
        // Blocks for as long as the owner runs: it lets go only once the
        // exit is recorded.
        drop(FileLock::shared(&lock)?);
    }
    loop {
        let rec = match store.find_container(&rec.id) {
            Ok(r) => state::refresh(store, r)?,
            Err(StoreError::NoSuchContainer(_)) => {
                return Err(conflict!(
                    "container {name} was removed before its exit code could be read"
                ));
            }
            Err(e) => return Err(e.into()),
        };
        // A process that outlived its owner: wait for it directly, then
        // let refresh settle the record.
        if let Some(fd) = pidfd(&rec)? {
            fd.wait_timeout(None)?;
            continue;
        }
        return Ok(rec.state.exit_code.unwrap_or(0));
    }
}

/// For a front end that follows a container it does not own (`attach`):
/// blocks the forwarded signals in every thread of this process and has
/// one thread pass each to the container, as `kill` does. Call it before
/// starting other threads, so that they inherit the mask.
pub fn proxy_signals(store: &Store, id: &str) -> Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for sig in pocky_ns::FORWARDED {
        set.add(sig);
    }
    let internal =
        |e: nix::Error| Error::Internal(anyhow::Error::new(e).context("blocking signals"));
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(internal)?;
    let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(internal)?;
    let (store, id) = (store.clone(), id.to_owned());
    std::thread::spawn(move || {
        while let Ok(Some(info)) = fd.read_signal() {
            let sig = info.ssi_signo.to_string();
            if let Err(e) = kill(&store, &id, &sig) {
                crate::log::debug!("passing signal {sig} on: {e}");
            }
        }
    });
    Ok(())
}
