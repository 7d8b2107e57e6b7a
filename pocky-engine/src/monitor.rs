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
pub fn start_detached(store: &Store, created: Created) -> Result<Detached> {
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
                    let code = monitor(store, &created, ready_w);
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

fn monitor(store: &Store, created: &Created, ready: OwnedFd) -> i32 {
    let mut ready = std::fs::File::from(ready);
    detach_stdio();
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
    let io = match make_pipes(created.record.tty) {
        Ok(io) => io,
        Err(e) => {
            let _ = write!(ready, "125 {e}");
            return 1;
        }
    };
    let (stdio, mut readers) = io;
    let mut launched = match owner::start(store, created, stdio) {
        Ok(l) => l,
        Err(e) => {
            owner::discard_failed(store, created);
            let _ = write!(ready, "{} {}", e.code, e.message);
            return 1;
        }
    };
    if let Some(master) = launched.child.take_pty_master() {
        readers.push((master, "stdout"));
    }
    let _ = write!(ready, "ok");
    drop(ready);
    if let Ok(path) = state::log_path(store, &created.record.id) {
        crate::logwriter::copy_to_log(&path, readers);
    }
    let status = match launched.child.wait() {
        Ok(s) => s,
        Err(_) => pocky_ns::ExitStatus {
            code: 255,
            signal: None,
        },
    };
    owner::finish(store, created, &launched, status);
    0
}

type Readers = Vec<(OwnedFd, &'static str)>;

/// The container's stdin is /dev/null (there is no attach); stdout and
/// stderr are pipes, or one pty when it has a terminal.
fn make_pipes(tty: bool) -> Result<(Stdio, Readers)> {
    let null: OwnedFd = std::fs::File::open("/dev/null")?.into();
    if tty {
        // The pty is made inside the container; its master arrives at start.
        return Ok((
            Stdio {
                terminal: true,
                ..Stdio::default()
            },
            vec![],
        ));
    }
    let (out_r, out_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((
        Stdio {
            stdin: Some(null),
            stdout: Some(out_w),
            stderr: Some(err_w),
            terminal: false,
        },
        vec![(out_r, "stdout"), (err_r, "stderr")],
    ))
}

/// The monitor must not hold the CLI's terminal or pipes open: whoever ran
/// `pocky run -d` (a shell, a test harness) waits for them to close.
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
