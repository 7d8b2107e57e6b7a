//! Healthchecks, as Docker runs them, without a daemon: whoever owns the
//! container (its monitor, or the foreground `pocky run`) forks a prober
//! process right after the start. The prober sleeps the interval, execs
//! the check in the container ([`probe`]), and records each result in the
//! container record through `update_container` (atomic, under the store's
//! lock): `starting`, then `healthy` on a success, `unhealthy` after
//! `Retries` failures in a row (failures in the start period do not
//! count while it is still starting).
//!
//! A process rather than a thread: pocky-ns forks to enter the container,
//! which is sound only in a single-threaded process. The owner stops the
//! prober (closing a pipe, then waiting a bounded time, then SIGKILL)
//! before it records the exit; the prober also stops by itself when the
//! owner dies (the pipe closes then too) or the container is no longer
//! running, so it never outlives either.

pub mod config;
pub mod probe;

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use pocky_store::{
    ContainerRecord, ContainerStore, Health, HealthResult, HealthStatus, Status, Store,
};

use crate::create::Created;
use crate::state;
use config::Settings;

/// Docker keeps the last five results.
pub const MAX_LOG: usize = 5;
/// How long the owner waits for the prober to stop before killing it: a
/// probe being killed and reaped takes milliseconds.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Adds one probe's result to the state, with Docker's rules.
pub fn record(h: &mut Health, result: HealthResult, started_at: f64, settings: &Settings) {
    let in_start_period = h.status == HealthStatus::Starting
        && result.start - started_at < settings.start_period.as_secs_f64();
    if result.exit_code == 0 {
        h.failing_streak = 0;
        h.status = HealthStatus::Healthy;
    } else if !in_start_period {
        h.failing_streak = h.failing_streak.saturating_add(1);
        if h.failing_streak >= settings.retries {
            h.status = HealthStatus::Unhealthy;
        }
    }
    h.log.push(result);
    let extra = h.log.len().saturating_sub(MAX_LOG);
    h.log.drain(..extra);
}

/// A start of a container with a healthcheck: `starting` with a new
/// streak; the log goes on, as in Docker. Called inside the update that
/// records the start, so no listing sees the last run's health meanwhile.
pub fn on_start(r: &mut ContainerRecord) {
    if Settings::of(r.healthcheck.as_ref()).is_none() {
        return;
    }
    let log = r.state.health.take().map(|h| h.log).unwrap_or_default();
    r.state.health = Some(Health {
        status: HealthStatus::Starting,
        failing_streak: 0,
        log,
    });
}

/// The exit of a container with a healthcheck: no more probes, and Docker
/// reports such a container `unhealthy` (for compatibility, its source
/// says). Called inside the update that records the exit.
pub fn on_exit(r: &mut ContainerRecord) {
    if let Some(h) = r.state.health.as_mut() {
        h.status = HealthStatus::Unhealthy;
    }
}

/// The running prober; dropping it stops it and waits for it.
pub type Prober = crate::helper::Helper;

/// Forks the prober of a container just started (marked `starting` by
/// [`on_start`]). None when the
/// container has no healthcheck (or the fork failed, which leaves it
/// `starting`: logged, not fatal to a container that runs). Call it while
/// single-threaded, after the start was reported (the prober must not
/// hold the CLI's pipe), with `pid` the container's first process.
pub fn start(store: &Store, created: &Created, pid: i32) -> Option<Prober> {
    let settings = Settings::of(created.record.healthcheck.as_ref())?;
    let id = created.record.id.as_str();
    let rec = store.find_container(id).ok()?;
    let started_at = rec.state.started_at.unwrap_or_else(state::now);
    crate::helper::spawn(&format!("healthcheck of {id}"), vec![], STOP_WAIT, |stop| {
        run_probes(store, id, pid, &created.spec, &settings, started_at, stop);
        0
    })
}

/// The prober's loop, until it is told to stop or the container no
/// longer runs.
fn run_probes(
    store: &Store,
    id: &str,
    pid: i32,
    spec: &oci_spec::runtime::Spec,
    settings: &Settings,
    started_at: f64,
    stop: BorrowedFd<'_>,
) {
    let mut status = HealthStatus::Starting;
    loop {
        // Docker's: the start interval while starting within the start
        // period, else the interval; counted from the end of a probe.
        let in_start = state::now() - started_at < settings.start_period.as_secs_f64();
        let wait = if in_start && status == HealthStatus::Starting {
            settings.start_interval
        } else {
            settings.interval
        };
        if stop_requested(stop, wait) {
            return;
        }
        let Ok(rec) = store.find_container(id) else {
            return;
        };
        if rec.state.pid != pid || !state::process_alive(&rec) {
            return;
        }
        // A frozen container cannot answer; Docker does not probe it.
        if state::paused(&rec) {
            continue;
        }
        let result = match probe::run(pid, spec, settings, stop) {
            probe::Outcome::Done(r) => r,
            probe::Outcome::Stopped => return,
        };
        let updated = store.update_container(id, &mut |r| {
            if r.state.status != Some(Status::Running) || r.state.pid != pid {
                return;
            }
            if let Some(h) = r.state.health.as_mut() {
                record(h, result.clone(), started_at, settings);
            }
        });
        match updated {
            Ok(r) => {
                if let Some(h) = &r.state.health {
                    // Docker's event on every change of the status.
                    if h.status != status {
                        let action = format!("health_status: {}", h.status.as_str());
                        crate::events::container(store, &r, &action, &[]);
                    }
                    status = h.status;
                }
            }
            Err(_) => return,
        }
    }
}

/// Waits `wait`; true when the stop pipe closed (or failed) meanwhile.
fn stop_requested(stop: BorrowedFd<'_>, wait: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut fds = [libc::pollfd {
            fd: stop.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        match rc {
            0 if Instant::now() >= deadline => return false,
            0 => {}
            n if n > 0 => return true,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return true,
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
