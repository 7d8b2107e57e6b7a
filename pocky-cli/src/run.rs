//! `pocky run`: find or pull the image, create the container, then own it
//! in the foreground or hand it to a detached monitor.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};
use pocky_engine::RunRequest;
use pocky_engine::create::{self, Created};
use pocky_engine::owner;
use pocky_runtime::launch::Stdio;
use pocky_store::Store;

use crate::cli::RunArgs;

/// `pocky create`: `run` up to the start.
pub fn create(root: &Path, args: RunArgs) -> Result<ExitCode> {
    let args = args.into_request();
    let (image_name, cmd) = args
        .image_and_command
        .split_first()
        .context("an image is required")?;
    let store = Store::open(root)?;
    let image = pocky_engine::pull::find_or_pull(
        &store,
        image_name,
        args.platform.as_deref(),
        &pocky_engine::progress::Silent,
    )?;
    let created = create::create(&store, &args, image_name, &image, cmd)?;
    println!("{}", created.record.id);
    Ok(ExitCode::SUCCESS)
}

pub fn run(root: &Path, args: RunArgs) -> Result<ExitCode> {
    let args = args.into_request();
    let (image_name, cmd) = args
        .image_and_command
        .split_first()
        .context("an image is required")?;
    let store = Store::open(root)?;
    // Progress goes to stderr here, if at all: stdout belongs to the container.
    let image = pocky_engine::pull::find_or_pull(
        &store,
        image_name,
        args.platform.as_deref(),
        &pocky_engine::progress::Silent,
    )?;
    let created = create::create(&store, &args, image_name, &image, cmd)?;
    if args.detach {
        let id = created.record.id.clone();
        Ok(crate::lifecycle::report_detached(
            &id,
            pocky_engine::monitor::start_detached(&store, created)?,
        ))
    } else {
        foreground(&store, &created, &args)
    }
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe; the pid is our own child.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals a user sends to `pocky run` go to the container, as with Docker.
fn forward_signals(pid: i32) {
    CHILD.store(pid, Ordering::Relaxed);
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        // SAFETY: the handler only calls kill(2), which is async-signal-safe.
        let _ = unsafe { signal(sig, SigHandler::Handler(forward)) };
    }
}

fn dev_null() -> Result<OwnedFd> {
    Ok(std::fs::File::open("/dev/null")?.into())
}

fn foreground(store: &Store, created: &Created, args: &RunRequest) -> Result<ExitCode> {
    let _lock = owner::lock(store, &created.record.id)?;
    let stdio = if args.tty {
        Stdio {
            terminal: true,
            ..Stdio::default()
        }
    } else if args.interactive {
        Stdio::default()
    } else {
        Stdio {
            stdin: Some(dev_null()?),
            ..Stdio::default()
        }
    };
    let mut launched = match owner::start(store, created, stdio) {
        Ok(l) => l,
        Err(e) => {
            owner::discard_failed(store, created);
            eprintln!("pocky: {}", e.message);
            return Ok(ExitCode::from(u8::try_from(e.code).unwrap_or(125)));
        }
    };
    // Forked before the forwarding handlers are installed, so the prober
    // never has them (it resets its signals anyway).
    let prober = pocky_engine::health::start(store, created, launched.pid());
    forward_signals(launched.pid());
    if let Some(master) = launched.child.take_pty_master() {
        let _ = pocky_ns::pty::copy_winsize(std::io::stdin().as_fd(), master.as_fd());
        pocky_ns::pty::relay(master, args.interactive)?;
    }
    let status = launched.child.wait()?;
    drop(prober);
    owner::finish(store, created, &launched, status);
    Ok(ExitCode::from(
        u8::try_from(status.code & 0xff).unwrap_or(255),
    ))
}
