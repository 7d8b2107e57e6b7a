//! `run -d`: a small monitor process, detached from the terminal and the
//! CLI, owns the container. It captures the output into the log, reaps the
//! process, records the exit and cleans up. No daemon: one monitor per
//! container, living exactly as long as it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Result, bail};
use nix::unistd::{ForkResult, fork, pipe2, setsid};
use pocky_runtime::launch::Stdio;
use pocky_store::{ContainerStore, Store};

use crate::create::Created;
use crate::owner;
use crate::state;

/// How a detached start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detached {
    Started,
    /// Another owner holds the container (it runs, or is starting).
    AlreadyRunning,
    /// The container could not start; `code` is Docker's exit code.
    Failed {
        code: u8,
        message: String,
    },
}

/// Forks the monitor and returns once the container started or failed.
pub fn start_detached(store: &Store, created: Created) -> crate::Result<Detached> {
    start_detached_inner(store, created).map_err(crate::Error::from)
}

fn start_detached_inner(store: &Store, mut created: Created) -> Result<Detached> {
    let (ready_r, ready_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: pocky is single-threaded here (pocky-ns checks again before
    // cloning); the child only runs Rust code of this process and exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ready_r);
            // A second fork so the monitor is not our child: it is
            // reparented to init (or the nearest subreaper) when we exit.
            let _ = setsid();
            // SAFETY: as above; still single-threaded.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let code = monitor(store, &mut created, ready_w);
                    // SAFETY: leaves without running the CLI's exit path.
                    unsafe { libc::_exit(code) };
                }
                _ => {
                    // SAFETY: the intermediate process has nothing to flush.
                    unsafe { libc::_exit(0) };
                }
            }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut answer = String::new();
            std::fs::File::from(ready_r).read_to_string(&mut answer)?;
            match answer.as_str() {
                "ok" => return Ok(Detached::Started),
                "running" => return Ok(Detached::AlreadyRunning),
                _ => {}
            }
            match answer.split_once(' ') {
                Some((code, message)) => Ok(Detached::Failed {
                    code: code.parse::<u8>().unwrap_or(125),
                    message: message.to_owned(),
                }),
                None => bail!("the container's monitor died before starting it"),
            }
        }
    }
}

fn monitor(store: &Store, created: &mut Created, ready: OwnedFd) -> i32 {
    detach_stdio();
    close_inherited(ready.as_raw_fd());
    let mut ready = std::fs::File::from(ready);
    // Whoever holds the lock owns the container: a second `start` of the
    // same container, racing this one, finds it held and leaves it be.
    let _lock = match state::monitor_lock_path(store, &created.record.id)
        .and_then(|p| Ok(pocky_store::FileLock::try_exclusive(&p)?))
    {
        Ok(Some(l)) => l,
        Ok(None) => {
            let _ = write!(ready, "running");
            return 0;
        }
        Err(e) => {
            let _ = write!(ready, "125 cannot lock the container: {e}");
            return 1;
        }
    };
    // Under the lock: a start that lost a race to one that has finished
    // already sees the process running.
    if store
        .find_container(&created.record.id)
        .is_ok_and(|r| state::process_alive(&r))
    {
        let _ = write!(ready, "running");
        return 0;
    }
    let policy_of = |r: &pocky_store::ContainerRecord| {
        r.restart_policy
            .as_deref()
            .and_then(|p| crate::restart::Policy::parse(p).ok())
            .unwrap_or(crate::restart::Policy::No)
    };
    let mut ready = Some(ready);
    let mut backoff = crate::restart::Backoff::default();
    loop {
        let started = std::time::Instant::now();
        let launched = make_pipes(created.record.tty, created.record.interactive)
            .map_err(|e| owner::StartError {
                code: 125,
                message: e.to_string(),
            })
            .and_then(|(stdio, readers, input)| {
                Ok((owner::start(store, created, stdio)?, readers, input))
            });
        let (mut launched, mut readers, mut input) = match launched {
            Ok(l) => l,
            Err(e) => {
                // A restart that cannot start ends the loop; its record
                // says why (owner::start wrote it).
                if let Some(mut ready) = ready.take() {
                    owner::discard_failed(store, created);
                    let _ = write!(ready, "{} {}", e.code, e.message);
                }
                return 1;
            }
        };
        if let Some(master) = launched.take_pty_master() {
            // With -i the attach server types into the terminal.
            if created.record.interactive {
                input = nix::unistd::dup(&master).ok();
            }
            readers.push((master, "stdout"));
        }
        // Listening before `run -d` returns, so an `attach` right after it
        // finds the socket. The server keeps none of our descriptors.
        // With a terminal, as in dockerd, a client that leaves (or
        // detaches) never closes the input: the next attach types on.
        let once = created.record.stdin_once && !created.record.tty;
        let attach = input.and_then(|fd| crate::attach_server::start(&created.dir, fd, once));
        crate::fault::point("monitor:started");
        if let Some(mut ready) = ready.take() {
            let _ = write!(ready, "ok");
        }
        // After the report (the prober must not hold the CLI's pipe) and
        // before any thread could exist: it forks.
        let prober = crate::health::start(store, created, launched.pid());
        let target = crate::logwriter::Target::of_created(store, created);
        crate::logwriter::copy_to_log(&target, readers);
        let status = match launched.wait() {
            Ok(s) => s,
            Err(_) => pocky_ns::ExitStatus {
                code: 255,
                signal: None,
            },
        };
        // No probe may run past the exit, nor record after it.
        drop(prober);
        drop(attach);
        owner::finish(store, created, &launched, status);
        let Ok(rec) = store.find_container(&created.record.id) else {
            return 0; // removed (--rm, or rm -f)
        };
        // `update` may have changed the policy and the limits meanwhile:
        // the record and the bundle say what holds now.
        let s = &rec.state;
        if !policy_of(&rec).restarts(status.code, s.restart_count, s.manually_stopped) {
            return 0;
        }
        if !wait_to_restart(store, &rec.id, backoff.after(started.elapsed())) {
            return 0;
        }
        crate::fault::point("monitor:restarting");
        if let Ok(spec) = state::bundle_spec(store, &rec.id) {
            created.spec = spec;
        }
    }
}

/// Waits out the back-off, marked `restarting`; false when a `stop` (or a
/// removal) came meanwhile. Polled, so a stop waits at most a tick.
fn wait_to_restart(store: &Store, id: &str, wait: std::time::Duration) -> bool {
    let tick = std::time::Duration::from_millis(100);
    let _ = store.update_container(id, &mut |r| r.state.restarting = true);
    let deadline = std::time::Instant::now() + wait;
    loop {
        match store.find_container(id) {
            Ok(r) if r.state.manually_stopped => break,
            Ok(_) => {}
            Err(_) => return false,
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            let go = store.update_container(id, &mut |r| {
                r.state.restarting = false;
                if !r.state.manually_stopped {
                    r.state.restart_count += 1;
                }
            });
            return go.is_ok_and(|r| !r.state.manually_stopped);
        }
        std::thread::sleep(tick.min(deadline - now));
    }
    let _ = store.update_container(id, &mut |r| r.state.restarting = false);
    false
}

pub type Readers = Vec<(OwnedFd, &'static str)>;

/// The container's stdin is /dev/null (there is no attach); stdout and
/// stderr are pipes, or one pty when it has a terminal.
/// The stdio of a foreground `run` without a terminal whose output is
/// logged: stdin as given (the caller's with `-i`, else /dev/null), stdout
/// and stderr on pipes for `logwriter::tee_to_log`.
pub fn logged_stdio(interactive: bool) -> Result<(Stdio, Readers)> {
    let (mut stdio, readers, _) = make_pipes(false, false)?;
    if interactive {
        stdio.stdin = None;
    }
    Ok((stdio, readers))
}

/// The detached container's stdio and what the monitor keeps: the output
/// to log and, with `-i`, the write end of its stdin for `attach`.
fn make_pipes(tty: bool, interactive: bool) -> Result<(Stdio, Readers, Option<OwnedFd>)> {
    let null: OwnedFd = std::fs::File::open("/dev/null")?.into();
    if tty {
        // The pty is made inside the container; its master arrives at start.
        return Ok((
            Stdio {
                terminal: true,
                ..Stdio::default()
            },
            vec![],
            None,
        ));
    }
    let (out_r, out_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (stdin, input) = if interactive {
        let (r, w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        (r, Some(w))
    } else {
        (null, None)
    };
    Ok((
        Stdio {
            stdin: Some(stdin),
            stdout: Some(out_w),
            stderr: Some(err_w),
            terminal: false,
        },
        vec![(out_r, "stdout"), (err_r, "stderr")],
        input,
    ))
}

/// The monitor must not hold the CLI's terminal or pipes open: whoever ran
/// `pocky run -d` (a shell, a test harness) waits for them to close.
/// Closes what the monitor inherited from its starter but `keep`: a
/// monitor lives as long as its container, and a descriptor it held by
/// accident (the API service's client connection, a pipe a script reads
/// to its end) would stay open that long.
fn close_inherited(keep: std::os::fd::RawFd) {
    let Ok(keep) = libc::c_uint::try_from(keep) else {
        return;
    };
    // SAFETY: close_range takes plain integers and touches only this
    // process's descriptor table; nothing in the monitor uses the closed
    // ones (the store and the created container hold paths, not fds).
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3, keep - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
    }
}

fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
