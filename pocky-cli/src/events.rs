//! `pocky events`: what happened, from the engine's events log; past
//! events with `--since`, then new ones as they come until `--until`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use pocky_engine::events::{self, Event, EventFilter};
use pocky_engine::store::Store;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Show events from this time: a Unix time, RFC 3339, or a duration
    /// before now (10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (same forms); without it, follow forever.
    #[arg(long)]
    pub until: Option<String>,
    /// type=, event=, container=, image=, volume=, network=, label=.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// `json` or a Go template over the event (`{{.Action}}`).
    #[arg(long)]
    pub format: Option<String>,
}

pub fn events(root: &Path, args: &EventsArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let now = SystemTime::now();
    let filter = EventFilter::parse(&args.filter)?;
    let since = args
        .since
        .as_deref()
        .map(|s| events::parse_time(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| events::parse_time(s, now))
        .transpose()?;
    let template = match args.format.as_deref() {
        None | Some("json") => None,
        Some(t) => Some(crate::template::parse(t)?),
    };
    let print = |e: &Event| -> Result<()> {
        let line = match (&template, args.format.as_deref()) {
            (Some(t), _) => crate::template::render_each(t, &[serde_json::to_value(e)?])?,
            (None, Some("json")) => format!("{}\n", serde_json::to_string(e)?),
            _ => format!("{}\n", plain(e)),
        };
        // A closed pipe ends the stream quietly, as `docker events | head`.
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, line.as_bytes())?;
        std::io::Write::flush(&mut out)?;
        Ok(())
    };
    // Docker: with only --until in the past, what was recorded up to it.
    let since = since.or(until.filter(|u| *u <= now).map(|_| UNIX_EPOCH));
    if let Some(since) = since {
        for e in events::read(&store, since, until.map(|u| u.min(now)), &filter)? {
            if print(&e).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    if until.is_some_and(|u| u <= now) {
        return Ok(ExitCode::SUCCESS);
    }
    events::follow(&store, until, &filter, &mut |e| print(e).is_ok())?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's line: time, type, action, id, then the attributes sorted.
fn plain(e: &Event) -> String {
    let at = UNIX_EPOCH + Duration::from_nanos(u64::try_from(e.time_nano).unwrap_or(u64::MAX));
    let attrs: Vec<String> = e
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut line = format!(
        "{} {} {} {}",
        humantime::format_rfc3339_nanos(at),
        e.typ,
        e.action,
        e.actor.id
    );
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}
