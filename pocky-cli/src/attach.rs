//! `pocky attach CONTAINER`: a running container's output from now on,
//! with the signals pocky gets passed on to it, until it exits; then its
//! exit code. A container run with `-d -i` also takes this process's stdin
//! (through its monitor's attach server); with `-t`, the detach keys
//! (`ctrl-p,ctrl-q`) leave it running.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use pocky_engine::logreader::{self, LogOptions};
use pocky_engine::store::Store;

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// Do not send this process's stdin to the container.
    #[arg(long)]
    pub no_stdin: bool,
    /// Pass the signals pocky receives on to the container.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Keys that detach from a `-t` container: `ctrl-p,ctrl-q` by default.
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
    follow(&store, &rec.id, args, None)
}

/// Relays the container's output (from `since`, else from now), this
/// process's stdin unless `--no-stdin`, and signals with `--sig-proxy`,
/// until it exits or the detach keys are typed; then its exit code.
pub fn follow(
    store: &Store,
    id: &str,
    args: &AttachArgs,
    since: Option<std::time::SystemTime>,
) -> Result<ExitCode> {
    let rec = pocky_engine::state::find(store, id)?;
    let keys = pocky_engine::attach_server::parse_detach_keys(
        args.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q"),
    )?;
    if args.sig_proxy {
        pocky_engine::lifecycle::proxy_signals(store, &rec.id)?;
    }
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (caught_up, start) = std::sync::mpsc::channel();
    if rec.interactive && !args.no_stdin {
        let dir = store.container_dir(&rec.id)?;
        if let Some(conn) = pocky_engine::attach_server::connect(&dir) {
            // Detach keys are a terminal's: without -t every byte is input.
            let keys = if rec.tty { keys } else { Vec::new() };
            pocky_engine::attach_server::send_stdin(conn, keys, detached.clone(), start);
        }
    }
    let opts = LogOptions {
        follow: true,
        from_end: since.is_none(),
        since,
        stop: Some(detached.clone()),
        caught_up: Some(caught_up),
        ..LogOptions::default()
    };
    logreader::logs(store, &rec.id, &opts, &mut |e| {
        crate::logs::write_entry(e, false).is_ok()
    })?;
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(ExitCode::SUCCESS);
    }
    let code = pocky_engine::lifecycle::wait(store, &rec.id).unwrap_or(0);
    Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255)))
}
