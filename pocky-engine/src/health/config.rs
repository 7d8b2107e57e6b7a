//! Where a container's healthcheck comes from: the image config's
//! `Healthcheck`, overridden field by field by the `--health-*` flags (as
//! Docker's daemon merges them), and what it means once Docker's defaults
//! fill the zeros.

use std::time::Duration;

use anyhow::{Result, bail};
use pocky_store::HealthConfig;

use crate::request::RunRequest;

/// Docker's defaults for the fields left 0.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_PERIOD: Duration = Duration::ZERO;
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// Docker refuses a non-zero duration shorter than this.
const MINIMUM: i64 = 1_000_000;

/// The `--health-*` flags as a partial config: None when none was given.
pub fn from_flags(args: &RunRequest) -> Result<Option<HealthConfig>> {
    let duration = |flag: &str, value: &Option<String>| -> Result<i64> {
        let Some(v) = value else { return Ok(0) };
        let ns = parse_go_duration(v).map_err(|e| {
            anyhow::Error::new(crate::invalid!("invalid argument {v:?} for --{flag}: {e}"))
        })?;
        if ns < 0 {
            bail!(crate::invalid!("--{flag} cannot be negative"));
        }
        if ns != 0 && ns < MINIMUM {
            bail!(crate::invalid!("--{flag} cannot be less than 1ms"));
        }
        Ok(ns)
    };
    let cmd = args.health_cmd.clone().unwrap_or_default();
    let cfg = HealthConfig {
        test: if cmd.is_empty() {
            vec![]
        } else {
            vec!["CMD-SHELL".to_owned(), cmd]
        },
        interval: duration("health-interval", &args.health_interval)?,
        timeout: duration("health-timeout", &args.health_timeout)?,
        start_period: duration("health-start-period", &args.health_start_period)?,
        start_interval: duration("health-start-interval", &args.health_start_interval)?,
        retries: args.health_retries.unwrap_or(0),
    };
    if cfg.retries < 0 {
        bail!(crate::invalid!("--health-retries cannot be negative"));
    }
    let any = cfg != HealthConfig::default();
    if args.no_healthcheck {
        if any {
            bail!(crate::invalid!(
                "--no-healthcheck conflicts with --health-* options"
            ));
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".to_owned()],
            ..HealthConfig::default()
        }));
    }
    Ok(any.then_some(cfg))
}

/// The image config's `config.Healthcheck`, if it has one. The typed
/// oci-spec config has no such field (it is Docker's, not OCI's), so it
/// is read from the same bytes on its own.
pub fn from_image_config(config_json: &[u8]) -> Result<Option<HealthConfig>> {
    #[derive(serde::Deserialize)]
    struct Image {
        #[serde(default)]
        config: Option<Config>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Healthcheck", default)]
        healthcheck: Option<HealthConfig>,
    }
    let image: Image = serde_json::from_slice(config_json)?;
    Ok(image.config.and_then(|c| c.healthcheck))
}

/// Docker's merge: the flags' config, with each field it leaves empty
/// taken from the image's.
pub fn merge(user: Option<HealthConfig>, image: Option<HealthConfig>) -> Option<HealthConfig> {
    let Some(mut u) = user else { return image };
    let Some(i) = image else { return Some(u) };
    if u.test.is_empty() {
        u.test = i.test;
    }
    let fill = |mine: &mut i64, theirs: i64| {
        if *mine == 0 {
            *mine = theirs;
        }
    };
    fill(&mut u.interval, i.interval);
    fill(&mut u.timeout, i.timeout);
    fill(&mut u.start_period, i.start_period);
    fill(&mut u.start_interval, i.start_interval);
    fill(&mut u.retries, i.retries);
    Some(u)
}

/// What a probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `CMD`: the arguments exec'd as they are.
    Exec(Vec<String>),
    /// `CMD-SHELL`: the container's `/bin/sh -c`.
    Shell(String),
}

impl Probe {
    pub fn argv(&self) -> Vec<String> {
        match self {
            Probe::Exec(a) => a.clone(),
            Probe::Shell(c) => vec!["/bin/sh".into(), "-c".into(), c.clone()],
        }
    }
}

/// A healthcheck with Docker's defaults in place of the zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

impl Settings {
    /// None for no check: no config, `NONE`, an empty test, or a test
    /// that names nothing to run (`["CMD"]`, an unknown kind).
    pub fn of(cfg: Option<&HealthConfig>) -> Option<Settings> {
        let cfg = cfg?;
        let probe = match cfg.test.split_first()? {
            (kind, args) if kind == "CMD" && !args.is_empty() => Probe::Exec(args.to_vec()),
            (kind, [cmd]) if kind == "CMD-SHELL" => Probe::Shell(cmd.clone()),
            // Docker joins a CMD-SHELL of several words with blanks.
            (kind, words) if kind == "CMD-SHELL" && !words.is_empty() => {
                Probe::Shell(words.join(" "))
            }
            _ => return None,
        };
        let or = |ns: i64, default: Duration| match u64::try_from(ns) {
            Ok(n) if n > 0 => Duration::from_nanos(n),
            _ => default,
        };
        Some(Settings {
            probe,
            interval: or(cfg.interval, DEFAULT_INTERVAL),
            timeout: or(cfg.timeout, DEFAULT_TIMEOUT),
            start_period: or(cfg.start_period, DEFAULT_START_PERIOD),
            start_interval: or(cfg.start_interval, DEFAULT_START_INTERVAL),
            retries: u32::try_from(cfg.retries)
                .ok()
                .filter(|r| *r > 0)
                .unwrap_or(DEFAULT_RETRIES),
        })
    }
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal
/// numbers (fractions allowed) each with a unit of ns, us (µs), ms, s, m,
/// h; `0` alone needs none. Nanoseconds; overflow past i64 is an error.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(bad());
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(bad)?;
        // The fraction's digits, each a tenth of the one before.
        let mut unit_frac = scale;
        for d in frac.bytes() {
            unit_frac /= 10;
            part += u128::from(d - b'0') * unit_frac;
        }
        total = total.checked_add(part).ok_or_else(bad)?;
        if total > i64::MAX as u128 {
            return Err(bad());
        }
        rest = next;
    }
    let total = i64::try_from(total).map_err(|_| bad())?;
    Ok(if neg { -total } else { total })
}

/// Go's `Duration.String` for the durations a healthcheck has:
/// `1s`, `500ms`, `1m30s`, `1h0m0s`.
pub fn go_duration_string(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (v, unit) = if ns < 1_000 {
            (ns as f64, "ns")
        } else if ns < 1_000_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            (ns as f64 / 1e6, "ms")
        };
        return format!("{v}{unit}");
    }
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut s_text = s.to_string();
    if frac > 0 {
        let digits = format!("{frac:09}");
        s_text = format!("{s}.{}", digits.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{s_text}s"),
        (0, m) => format!("{m}m{s_text}s"),
        (h, m) => format!("{h}h{m}m{s_text}s"),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
