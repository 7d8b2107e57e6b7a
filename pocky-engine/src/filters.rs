//! `ps --filter`, with Docker's rules: `key=value` pairs; values of one key
//! are alternatives, different keys must all match; an unknown key or a
//! bad value is an error, not an empty listing.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use pocky_store::{ContainerRecord, Store};

const KEYS: [&str; 9] = [
    "name", "id", "label", "status", "ancestor", "exited", "health", "network", "volume",
];
const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
const STATUSES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Parsed filters: key -> the values given for it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContainerFilter(BTreeMap<String, Vec<String>>);

impl ContainerFilter {
    pub fn parse(args: &[String]) -> Result<ContainerFilter> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                bail!(crate::invalid!(
                    "bad format of filter {a:?} (expected name=value)"
                ));
            };
            if !KEYS.contains(&k) {
                bail!(crate::invalid!("invalid filter {k:?}"));
            }
            if k == "status" && !STATUSES.contains(&v) {
                bail!(crate::invalid!(
                    "invalid filter 'status={v}': use one of {}",
                    STATUSES.join(", ")
                ));
            }
            if k == "health" && !HEALTH.contains(&v) {
                bail!(crate::invalid!("Unrecognised filter value for health: {v}"));
            }
            if k == "exited" && v.parse::<i32>().is_err() {
                bail!(crate::invalid!(
                    "invalid filter 'exited={v}': not an exit code"
                ));
            }
            map.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        Ok(ContainerFilter(map))
    }

    /// Whether `rec`, whose state is called `status` (`running`,
    /// `exited`...), passes every key. `network` and `volume` read the
    /// container's network settings and bundle in `store`.
    pub fn matches(&self, store: &Store, rec: &ContainerRecord, status: &str) -> bool {
        crate::filter_args::all_keys(&self.0, |k, v| match k {
            "name" => rec.name.contains(v.trim_start_matches('/')),
            "id" => rec.id.starts_with(v),
            "label" => crate::filter_args::label_matches(&rec.labels, v),
            "status" => status == v,
            "ancestor" => ancestor(rec, v),
            "health" => health(rec) == v,
            "network" => network(store, rec, v),
            "volume" => volume(store, rec, v),
            "exited" => {
                status == "exited"
                    && rec.state.exit_code.map(|c| c.to_string()).as_deref() == Some(v)
            }
            _ => false,
        })
    }
}

/// The container's network, by name or id prefix.
fn network(store: &Store, rec: &ContainerRecord, v: &str) -> bool {
    let Ok(Some(s)) = crate::netsetup::load(store, &rec.id) else {
        return false;
    };
    if s.network == v || s.extra.iter().any(|x| x.network == v) {
        return true;
    }
    // A stopped container has no attachment: its network's record has the id.
    let id = match &s.attachment {
        Some(a) => Some(a.network_id.clone()),
        None => crate::netsetup::networks(store)
            .get(&s.network)
            .ok()
            .map(|n| n.id),
    };
    !v.is_empty() && id.is_some_and(|id| id.starts_with(v))
}

/// A volume it uses, by name, or any mount's destination in it.
fn volume(store: &Store, rec: &ContainerRecord, v: &str) -> bool {
    if store
        .container_volumes(&rec.id)
        .is_ok_and(|names| names.iter().any(|n| n == v))
    {
        return true;
    }
    crate::state::bundle_spec(store, &rec.id).is_ok_and(|spec| {
        spec.mounts()
            .iter()
            .flatten()
            .any(|m| m.destination().as_os_str() == v)
    })
}

/// Docker's health of a container: `none` when it has no health state
/// (no healthcheck, or never started).
fn health(rec: &ContainerRecord) -> &'static str {
    rec.state
        .health
        .as_ref()
        .map_or("none", |h| h.status.as_str())
}

/// The image as the user named it (with or without the `:latest` a bare
/// name means), or a prefix of its id.
fn ancestor(rec: &ContainerRecord, v: &str) -> bool {
    let hex = rec
        .image_id
        .strip_prefix("sha256:")
        .unwrap_or(&rec.image_id);
    let named = |n: &str| n == v || n == format!("{v}:latest") || format!("{n}:latest") == v;
    named(&rec.image) || (!v.is_empty() && (hex.starts_with(v) || rec.image_id.starts_with(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        for bad in ["nope=1", "status=sleeping", "exited=x", "name", "health=ok"] {
            assert!(ContainerFilter::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
        ContainerFilter::parse(&["status=running".into(), "label=a=b".into()]).unwrap();
        ContainerFilter::parse(&["health=none".into(), "health=starting".into()]).unwrap();
    }
}
