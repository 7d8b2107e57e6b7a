//! Docker's `--filter key=value` rules, shared by every listing: values of
//! one key are alternatives (except `label`, whose values must all match,
//! as Docker's `MatchKVList`), different keys must all match, and an
//! unknown key is an error rather than an empty listing.

use std::collections::BTreeMap;

use crate::{Result, invalid};

/// The values given per key, checked against the keys a listing knows.
pub fn parse_pairs(args: &[String], keys: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            return Err(invalid!("bad format of filter {a:?} (expected name=value)"));
        };
        if !keys.contains(&k) {
            return Err(invalid!("invalid filter {k:?}"));
        }
        map.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    Ok(map)
}

/// `label=key` (present) or `label=key=value` (equal).
pub fn label_matches(labels: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(wanted),
    }
}

/// `true`/`false` (and Docker's `1`/`0`) of a boolean filter.
pub fn boolean(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid!("invalid filter '{key}={v}': use true or false")),
    }
}

/// Every key's alternatives: `test(key, value)` for one of them.
pub fn all_keys(
    map: &BTreeMap<String, Vec<String>>,
    mut test: impl FnMut(&str, &str) -> bool,
) -> bool {
    map.iter().all(|(k, vals)| match k.as_str() {
        "label" => vals.iter().all(|v| test(k, v)),
        _ => vals.iter().any(|v| test(k, v)),
    })
}
