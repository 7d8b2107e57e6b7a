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

use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
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
/// The fd the prober keeps its stop pipe on.
const STOP_FD: i32 = 3;

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
#[derive(Debug)]
pub struct Prober {
    pid: Pid,
    stop: Option<OwnedFd>,
}

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
    let (stop_r, stop_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            crate::log::debug!("healthcheck of {id}: {e}");
            return None;
        }
    };
    // SAFETY: the caller is single-threaded (see above); the child runs
    // this process's Rust code and leaves with _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(stop_w);
            let code = match prepare_child(stop_r) {
                Ok(stop) => {
                    run_probes(store, id, pid, &created.spec, &settings, started_at, stop);
                    0
                }
                Err(_) => 1,
            };
            // SAFETY: leaves without running the owner's destructors (its
            // container handle, its locks) in this copy of it.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => Some(Prober {
            pid: child,
            stop: Some(stop_w),
        }),
        Err(e) => {
            crate::log::debug!("healthcheck of {id}: fork: {e}");
            None
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        // Closing the pipe is the request to stop.
        drop(self.stop.take());
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    return;
                }
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }
}

/// The prober's own setup: its own session (no terminal's signals reach
/// it), default signal handling, stdio on /dev/null, and no descriptor of
/// its parent's but the stop pipe (on fd 3): the CLI's pipes, the monitor
/// lock and the container's output must not be held open by it.
fn prepare_child(stop: OwnedFd) -> std::io::Result<BorrowedFd<'static>> {
    let _ = nix::unistd::setsid();
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let raw = stop.into_raw_fd();
    // SAFETY: dup onto the standard fds and fd 3 (close-on-exec, so no
    // probe inherits it), then close every fd above; none of those is
    // owned by a Rust object this process still uses (`raw` was released
    // above, `null` is closed by the range and forgotten below).
    unsafe {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            libc::dup2(null.as_raw_fd(), fd);
        }
        if raw != STOP_FD && libc::dup3(raw, STOP_FD, libc::O_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let first = libc::c_uint::try_from(STOP_FD + 1).unwrap_or(4);
        libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0);
    }
    // The fd was closed by close_range: dropping the File would close it
    // again (or another fd that took its number).
    let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
    // SAFETY: fd 3 is the stop pipe, open for the rest of this process.
    Ok(unsafe { BorrowedFd::borrow_raw(STOP_FD) })
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
