//! Times and states in Docker's words, for the CLI's listings and the
//! API's `Status` fields: `Up 3 seconds`, `Exited (0) 2 minutes ago`.

use std::time::{Duration, SystemTime};

use pocky_store::{ContainerRecord, HealthStatus, Status};

use crate::inspect::time;
use crate::state;

/// `2 weeks ago`, following Docker's wording.
pub fn ago(then: SystemTime, now: SystemTime) -> String {
    let d = now.duration_since(then).unwrap_or(Duration::ZERO);
    format!("{} ago", duration(d))
}

pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h, day) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{day} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", day / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", day / 30),
        _ => format!("{} years", day / 365),
    }
}

/// Parses the RFC 3339 timestamps found in image configs.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('+').next()?)
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn status_text(r: &ContainerRecord, now: SystemTime) -> String {
    match r.state.status {
        Some(Status::Running) => {
            let since = time(r.state.started_at.unwrap_or(r.created));
            // As Docker: a paused container shows no health.
            let note = match &r.state.health {
                _ if state::paused(r) => " (Paused)".to_owned(),
                Some(h) if h.status == HealthStatus::Starting => " (health: starting)".to_owned(),
                Some(h) => format!(" ({})", h.status.as_str()),
                None => String::new(),
            };
            format!(
                "Up {}{note}",
                duration(now.duration_since(since).unwrap_or_default())
            )
        }
        Some(Status::Exited) if r.state.restarting => format!(
            "Restarting ({}) {}",
            r.state.exit_code.unwrap_or(0),
            ago(time(r.state.finished_at.unwrap_or(r.created)), now)
        ),
        Some(Status::Exited) => format!(
            "Exited ({}) {}",
            r.state.exit_code.unwrap_or(0),
            ago(time(r.state.finished_at.unwrap_or(r.created)), now)
        ),
        Some(Status::Created) | None => "Created".to_owned(),
        Some(Status::Dead) => "Dead".to_owned(),
    }
}
