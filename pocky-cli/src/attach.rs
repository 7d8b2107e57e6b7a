//! `pocky attach CONTAINER`: a running container's output from now on,
//! with the signals pocky gets passed on to it, until it exits; then its
//! exit code. With no daemon holding it, a detached container's stdin is
//! closed from its start, so there is no input to attach to.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use pocky_engine::logreader::{self, LogOptions};
use pocky_engine::store::Store;

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Accepted for Docker compatibility: pocky attaches no stdin.
    #[arg(long)]
    pub no_stdin: bool,
    /// Pass the signals pocky receives on to the container.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Accepted for Docker compatibility: with no stdin there are no keys.
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
}

pub fn attach(root: &Path, args: &AttachArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let rec = pocky_engine::state::find(&store, &args.container)?;
    if !pocky_engine::state::process_alive(&rec) {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if args.sig_proxy {
        proxy_signals(&store, &rec.id)?;
    }
    let opts = LogOptions {
        follow: true,
        from_end: true,
        ..LogOptions::default()
    };
    logreader::logs(&store, &rec.id, &opts, &mut |e| {
        crate::logs::write_entry(e, false).is_ok()
    })?;
    let code = pocky_engine::lifecycle::wait(&store, &rec.id).unwrap_or(0);
    Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255)))
}

/// Blocks the forwarded signals in every thread and has one thread pass
/// each to the container, as the engine's `kill`.
fn proxy_signals(store: &Store, id: &str) -> Result<()> {
    let mut set = SigSet::empty();
    for sig in pocky_engine::runtime::FORWARDED {
        set.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)?;
    let (store, id) = (store.clone(), id.to_owned());
    std::thread::spawn(move || {
        while let Ok(Some(info)) = fd.read_signal() {
            let sig = info.ssi_signo.to_string();
            if let Err(e) = pocky_engine::lifecycle::kill(&store, &id, &sig) {
                crate::log::debug!("passing signal {sig} on: {e}");
            }
        }
    });
    Ok(())
}
