//! `pocky logs`: the engine's log reader, printed as Docker prints it
//! (stdout lines to stdout, stderr lines to stderr).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use pocky_engine::logreader::{self, LogEntry, LogOptions};
use pocky_engine::store::Store;

use crate::cli::LogsArgs;

/// Writes one entry where it belongs; a closed pipe (`pocky logs c |
/// head`) is an error here that ends the replay quietly.
pub fn write_entry(e: &LogEntry, timestamps: bool) -> io::Result<()> {
    write_entry_with(e, timestamps, false)
}

/// With `details`, Docker's `key=value,...` of the line's attributes and a
/// space come first (just the space when it has none).
fn write_entry_with(e: &LogEntry, timestamps: bool, details: bool) -> io::Result<()> {
    let mut buf = Vec::with_capacity(e.log.len() + 40);
    if timestamps {
        buf.extend_from_slice(e.time.as_bytes());
        buf.push(b' ');
    }
    if details {
        buf.extend_from_slice(pocky_engine::log_config::details_prefix(&e.attrs).as_bytes());
        buf.push(b' ');
    }
    buf.extend_from_slice(e.log.as_bytes());
    if e.stream == "stderr" {
        let mut err = io::stderr().lock();
        err.write_all(&buf)?;
        err.flush()
    } else {
        let mut out = io::stdout().lock();
        out.write_all(&buf)?;
        out.flush()
    }
}

pub fn logs(root: &Path, args: &LogsArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let now = SystemTime::now();
    let time = |s: &Option<String>| {
        s.as_deref()
            .map(|s| pocky_engine::events::parse_time(s, now))
            .transpose()
    };
    let opts = LogOptions {
        follow: args.follow,
        tail,
        since: time(&args.since)?,
        until: time(&args.until)?,
        from_end: false,
        stop: None,
        caught_up: None,
    };
    logreader::logs(&store, &args.container, &opts, &mut |e| {
        write_entry_with(e, args.timestamps, args.details).is_ok()
    })?;
    Ok(ExitCode::SUCCESS)
}
