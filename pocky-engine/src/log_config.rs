//! `--log-driver` and `--log-opt` (the API's `HostConfig.LogConfig`):
//! checked once at create, as Docker's json-file driver checks them, then
//! read by the container's log writer (`logwriter`) for rotation and the
//! attributes each line carries.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use pocky_store::{ContainerRecord, LogConfig};

use crate::invalid;

/// The options of the json-file driver that pocky honours. `compress` is
/// refused: `logs` would have to read gzip files back, and a rotated file
/// is small enough (max-size) to keep as it is.
const JSON_FILE_OPTS: [&str; 6] = ["max-size", "max-file", "labels", "env", "tag", "compress"];

/// Docker's options that pocky knows and refuses by name.
const REFUSED_OPTS: [(&str, &str); 2] = [
    ("labels-regex", "list the labels with labels="),
    ("env-regex", "list the variables with env="),
];

/// The placeholders of Docker's `tag` option.
const TAG_MARKUP: [&str; 7] = [
    "{{.ID}}",
    "{{.FullID}}",
    "{{.Name}}",
    "{{.ImageID}}",
    "{{.ImageFullID}}",
    "{{.ImageName}}",
    "{{.DaemonName}}",
];

/// The flags as a checked config: `driver` None is json-file; `opts` are
/// `KEY=VALUE`, one option each (a value may hold commas: `labels=a,b`).
pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
    let mut options = BTreeMap::new();
    for o in opts {
        let Some((k, v)) = o.split_once('=') else {
            bail!(invalid!("invalid log option {o:?}: expected KEY=VALUE"));
        };
        options.insert(k.to_owned(), v.to_owned());
    }
    from_parts(driver.unwrap_or(LogConfig::JSON_FILE), options)
}

/// A driver and its options (the API's `Type` and `Config`), checked.
pub fn from_parts(driver: &str, options: BTreeMap<String, String>) -> Result<LogConfig> {
    let driver = match driver {
        "" | "json-file" => LogConfig::JSON_FILE,
        "none" => LogConfig::NONE,
        other => bail!(invalid!(
            "log driver {other:?} is not supported: pocky supports the json-file and none log drivers"
        )),
    };
    let config = LogConfig {
        driver: driver.to_owned(),
        options,
    };
    if driver == LogConfig::NONE {
        if let Some(k) = config.options.keys().next() {
            bail!(invalid!("the none log driver takes no options (got {k:?})"));
        }
        return Ok(config);
    }
    for k in config.options.keys() {
        if let Some((_, instead)) = REFUSED_OPTS.iter().find(|(r, _)| r == k) {
            bail!(invalid!(
                "log option {k:?} is not supported by pocky: {instead}"
            ));
        }
        if !JSON_FILE_OPTS.contains(&k.as_str()) {
            bail!(invalid!("unknown log opt '{k}' for json-file log driver"));
        }
    }
    let rotation = rotation_of(&config)?;
    if let Some(c) = config.options.get("compress") {
        let on = go_bool(c).ok_or_else(|| invalid!("invalid compress {c:?}: true or false"))?;
        if on {
            bail!(invalid!(
                "log option \"compress\" is not supported by pocky: rotated logs stay uncompressed"
            ));
        }
    }
    if rotation.max_file > 1 && rotation.max_size.is_none() {
        bail!(invalid!("max-file cannot be set when max-size is not set"));
    }
    if let Some(tag) = config.options.get("tag") {
        let mut rest = tag.clone();
        for m in TAG_MARKUP {
            rest = rest.replace(m, "");
        }
        if rest.contains("{{") {
            bail!(invalid!(
                "log tag {tag:?}: pocky's tags take only {}",
                TAG_MARKUP.join(" ")
            ));
        }
    }
    Ok(config)
}

/// When the json log is rotated: after `max_size` bytes, keeping
/// `max_file` files in all (the live one and `max_file - 1` rotated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: Option<u64>,
    pub max_file: usize,
}

/// The rotation of a config that `parse` accepted (a default one for an
/// option that no longer reads: the container still runs and logs).
pub fn rotation(config: &LogConfig) -> Rotation {
    rotation_of(config).unwrap_or(Rotation {
        max_size: None,
        max_file: 1,
    })
}

fn rotation_of(config: &LogConfig) -> Result<Rotation> {
    let max_size = match config.options.get("max-size").map(String::as_str) {
        // Docker's "-1" is "no limit".
        None | Some("-1") => None,
        Some(s) => Some(human_size(s)?),
    };
    let max_file = match config.options.get("max-file") {
        None => 1,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => bail!(invalid!(
                "invalid max-file {n:?}: a whole number of at least 1"
            )),
        },
    };
    // Beyond this a typo rather than a wish: each file is renamed at
    // every rotation.
    if max_file > 1000 {
        bail!(invalid!("max-file {max_file} is more than pocky's 1000"));
    }
    Ok(Rotation { max_size, max_file })
}

/// Docker's `units.FromHumanSize`: decimal units (`10m` is 10,000,000).
fn human_size(s: &str) -> Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(end);
    let value: f64 = num.parse().map_err(|_| {
        invalid!("invalid max-size {s:?}: a number with an optional unit (k, m, g)")
    })?;
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => bail!(invalid!("invalid max-size {s:?}: unknown unit {unit:?}")),
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        bail!(invalid!("max-size must be a positive number (got {s:?})"));
    }
    Ok(bytes as u64)
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// What each log line carries besides its text (Docker's `attrs`):
/// the labels named by `labels=`, the variables named by `env=` (from the
/// container's environment, `KEY=VALUE`) and `tag=` expanded.
pub fn attributes(rec: &ContainerRecord, env: &[String]) -> BTreeMap<String, String> {
    let opts = &rec.host.log.options;
    let mut out = BTreeMap::new();
    let names = |key: &str| -> Vec<String> {
        opts.get(key)
            .map(|v| {
                v.split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for l in names("labels") {
        if let Some(v) = rec.labels.get(&l) {
            out.insert(l, v.clone());
        }
    }
    let vars: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    for name in names("env") {
        if let Some(v) = vars.get(name.as_str()) {
            out.insert(name, (*v).to_owned());
        }
    }
    if let Some(tag) = opts.get("tag").filter(|t| !t.is_empty()) {
        out.insert("tag".into(), expand_tag(tag, rec));
    }
    out
}

fn expand_tag(tag: &str, rec: &ContainerRecord) -> String {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let image_hex = rec.image_id.trim_start_matches("sha256:");
    tag.replace("{{.ID}}", &short(&rec.id))
        .replace("{{.FullID}}", &rec.id)
        .replace("{{.Name}}", &rec.name)
        .replace("{{.ImageID}}", &short(image_hex))
        .replace("{{.ImageFullID}}", &rec.image_id)
        .replace("{{.ImageName}}", &rec.image)
        .replace("{{.DaemonName}}", "pocky")
}

/// Docker's `logs --details` prefix: the attributes sorted by key, each
/// `key=value` query-escaped as Go's `url.QueryEscape`, joined by commas.
pub fn details_prefix(attrs: &BTreeMap<String, String>) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest
/// percent-encoded.
fn query_escape(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b' ');
    utf8_percent_encode(s, QUERY).to_string().replace(' ', "+")
}

#[cfg(test)]
#[path = "log_config_tests.rs"]
mod tests;
