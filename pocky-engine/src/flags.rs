//! Parsing of `run` flag values, with Docker's rules.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// A memory limit: a [`size`] of at least 6 MB, Docker's minimum.
pub fn memory(s: &str) -> Result<i64> {
    let bytes = size(s)?;
    if bytes < 6 * 1024 * 1024 {
        bail!(crate::invalid!(
            "minimum memory limit allowed is 6MB (got {s:?})"
        ));
    }
    Ok(bytes)
}

/// `64m`, `1g`, `512k`, `1048576`, `64mb`: binary multiples as Docker uses.
pub fn size(s: &str) -> Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let value: f64 = num.parse().with_context(|| {
        format!("invalid size {s:?}: expected a number with an optional unit (b, k, m, g, t)")
    })?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => bail!(crate::invalid!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    Ok((value * mult) as i64)
}

/// `--cpus 1.5` as nano CPUs, within what this machine has.
pub fn nano_cpus(cpus: f64) -> Result<u64> {
    let max = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if cpus.is_nan() || cpus <= 0.0 || cpus > max {
        bail!(crate::invalid!(
            "range of CPUs is from 0.01 to {max:.2}, as there are only {max} CPUs available"
        ));
    }
    Ok((cpus * 1e9) as u64)
}

/// `--env-file` entries, then `-e` ones; `KEY` alone copies the host's value
/// and is dropped when the host has none, as Docker does.
pub fn environment(env: &[String], files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut add = |kv: &str| -> Result<()> {
        if kv.is_empty() || kv.starts_with('=') {
            bail!(crate::invalid!("invalid environment variable {kv:?}"));
        }
        if kv.contains('=') {
            out.push(kv.to_owned());
        } else if let Ok(v) = std::env::var(kv) {
            out.push(format!("{kv}={v}"));
        }
        Ok(())
    };
    for line in file_lines(files, "env")? {
        add(&line)?;
    }
    for kv in env {
        add(kv)?;
    }
    Ok(out)
}

/// The lines of `--env-file`/`--label-file` files, without blanks and
/// `#` comments.
fn file_lines(files: &[PathBuf], what: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading {what} file {}", f.display()))?;
        out.extend(
            text.lines()
                .map(str::trim_start)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    Ok(out)
}

/// `--label-file` lines, then `--label`s: KEY=VALUE, or KEY for an empty
/// value; later ones win.
pub fn labels(labels: &[String], files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for kv in file_lines(files, "label")?.iter().chain(labels) {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if k.is_empty() {
            bail!(crate::invalid!("invalid label {kv:?}: the key is empty"));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// A cgroup parent is a relative path without `..`.
pub fn check_cgroup_parent(parent: &str) -> Result<()> {
    let p = parent.trim_matches('/');
    if p.is_empty() || p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        bail!(crate::invalid!("invalid cgroup parent {parent:?}"));
    }
    Ok(())
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!(crate::invalid!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(memory("64m").unwrap(), 64 << 20);
        assert_eq!(memory("1g").unwrap(), 1 << 30);
        assert_eq!(memory("64MB").unwrap(), 64 << 20);
        assert_eq!(memory("8388608").unwrap(), 8 << 20);
        assert!(memory("1m").is_err());
        assert!(memory("lots").is_err());
        assert!(memory("5x").is_err());
    }

    #[test]
    fn names_and_env() {
        assert!(check_name("web-1.a_b").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a b").is_err());
        let env = environment(&["A=1".into(), "POCKY_SURELY_UNSET_VAR".into()], &[]).unwrap();
        assert_eq!(env, vec!["A=1"]);
        assert!(environment(&["=x".into()], &[]).is_err());
    }
}

/// One `--network` value: a name, or Docker's long form
/// `name=NET[,alias=A][,ip=ADDR][,ip6=ADDR]` (a network name never holds `=`).
pub fn network_endpoint(v: &str) -> Result<crate::request::Endpoint> {
    let mut e = crate::request::Endpoint::default();
    if !v.contains('=') {
        e.network = v.to_owned();
        return Ok(e);
    }
    for part in v.split(',') {
        let (key, value) = part
            .split_once('=')
            .with_context(|| format!("--network {v:?}: expected KEY=VALUE, not {part:?}"))?;
        match key {
            "name" => e.network = value.to_owned(),
            "alias" => e.aliases.push(value.to_owned()),
            "ip" => {
                e.ip = Some(
                    value
                        .parse()
                        .with_context(|| format!("--network {v:?}: bad IPv4 address"))?,
                )
            }
            "ip6" => {
                e.ip6 = Some(
                    value
                        .parse()
                        .with_context(|| format!("--network {v:?}: bad IPv6 address"))?,
                )
            }
            _ => bail!(crate::invalid!(
                "--network {v:?}: pocky does not support {key:?} (name, alias, ip and ip6 are supported)"
            )),
        }
    }
    if e.network.is_empty() {
        bail!(crate::invalid!("--network {v:?}: name= is required"));
    }
    Ok(e)
}

#[cfg(test)]
mod network_flag_tests {
    use super::*;

    #[test]
    fn network_values_short_and_long() {
        assert_eq!(network_endpoint("app").unwrap().network, "app");
        let e = network_endpoint("name=app,alias=a,alias=b,ip=10.9.0.5").unwrap();
        assert_eq!(e.network, "app");
        assert_eq!(e.aliases, ["a", "b"]);
        assert_eq!(e.ip, Some("10.9.0.5".parse().unwrap()));
        assert!(network_endpoint("alias=a").is_err());
        assert!(network_endpoint("name=app,driver-opt=x").is_err());
        assert!(network_endpoint("name=app,ip=::1").is_err());
    }
}
