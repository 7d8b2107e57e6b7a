//! `pocky attach CONTAINER`: a running container's output from now on,
//! with the signals pocky gets passed on to it, until it exits; then its
//! exit code. With no daemon holding it, a detached container's stdin is
//! closed from its start, so there is no input to attach to.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
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
        pocky_engine::lifecycle::proxy_signals(&store, &rec.id)?;
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
