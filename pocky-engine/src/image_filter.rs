//! `images --filter`: `dangling`, `reference` (a glob over the familiar
//! `repository[:tag]`, `*` not crossing `/`, as Docker's path.Match),
//! `before` and `since` (created before/after an image), `label`.

use std::collections::BTreeMap;

use glob::{MatchOptions, Pattern};
use pocky_store::{ImageRecord, Store};

use crate::filter_args::{self, boolean, label_matches};
use crate::{Result, invalid};

const KEYS: [&str; 5] = ["dangling", "reference", "before", "since", "label"];

#[derive(Debug, Default)]
pub struct ImageFilter {
    dangling: Option<bool>,
    references: Vec<Pattern>,
    labels: Vec<String>,
    /// Created strictly before / after these times (RFC 3339, which
    /// compares as text when both are UTC, as image configs write them).
    before: Option<String>,
    since: Option<String>,
}

impl ImageFilter {
    pub fn parse(store: &Store, args: &[String]) -> Result<ImageFilter> {
        let map = filter_args::parse_pairs(args, &KEYS)?;
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        let dangling = match get("dangling").as_slice() {
            [] => None,
            [v] => Some(boolean("dangling", v)?),
            _ => return Err(invalid!("invalid filter: dangling is given more than once")),
        };
        let references = get("reference")
            .iter()
            .map(|p| Pattern::new(p).map_err(|e| invalid!("invalid reference filter {p:?}: {e}")))
            .collect::<Result<_>>()?;
        let created_of = |key: &str| -> Result<Option<String>> {
            match get(key).as_slice() {
                [] => Ok(None),
                [name] => {
                    let (image, _) = crate::lookup::find(store, name)?;
                    Ok(Some(image.created.unwrap_or_default()))
                }
                _ => Err(invalid!("invalid filter: {key} is given more than once")),
            }
        };
        Ok(ImageFilter {
            dangling,
            references,
            labels: get("label"),
            before: created_of("before")?,
            since: created_of("since")?,
        })
    }

    /// Whether the image passes the filters that concern the image as a
    /// whole (all but `reference`).
    pub fn keeps_image(&self, store: &Store, image: &ImageRecord) -> bool {
        let created = image.created.clone().unwrap_or_default();
        if self
            .dangling
            .is_some_and(|d| d != image.repo_tags.is_empty())
        {
            return false;
        }
        if self.before.as_ref().is_some_and(|b| created >= *b) {
            return false;
        }
        if self.since.as_ref().is_some_and(|s| created <= *s) {
            return false;
        }
        if !self.labels.is_empty() {
            let labels = image_labels(store, image);
            if !self.labels.iter().all(|l| label_matches(&labels, l)) {
                return false;
            }
        }
        true
    }

    pub fn has_references(&self) -> bool {
        !self.references.is_empty()
    }

    /// Whether one listing row (`repository`, `tag` in familiar form)
    /// passes `reference`; an untagged row passes only without it.
    pub fn keeps_row(&self, repository: &str, tag: Option<&str>) -> bool {
        if self.references.is_empty() {
            return true;
        }
        let Some(tag) = tag else { return false };
        let opts = MatchOptions {
            require_literal_separator: true,
            ..MatchOptions::default()
        };
        let full = format!("{repository}:{tag}");
        self.references
            .iter()
            .any(|p| p.matches_with(repository, opts) || p.matches_with(&full, opts))
    }
}

/// `image prune --filter`: `label=KEY[=VALUE]`, `label!=...` and
/// `until=TIME` (images created before it).
#[derive(Debug, Default)]
pub struct PruneFilter {
    labels: Vec<String>,
    not_labels: Vec<String>,
    until: Option<std::time::SystemTime>,
}

impl PruneFilter {
    pub fn parse(_store: &Store, args: &[String]) -> Result<PruneFilter> {
        let map = filter_args::parse_pairs(args, &["label", "label!", "until"])?;
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        let until = match get("until").as_slice() {
            [] => None,
            [t] => Some(crate::events::parse_time(t, std::time::SystemTime::now())?),
            _ => return Err(invalid!("invalid filter: until is given more than once")),
        };
        Ok(PruneFilter {
            labels: get("label"),
            not_labels: get("label!"),
            until,
        })
    }

    pub fn keeps_image(&self, store: &Store, image: &ImageRecord) -> bool {
        let created = image.created.as_deref().and_then(crate::human::parse_time);
        if !self.keeps_time(created) {
            return false;
        }
        if self.labels.is_empty() && self.not_labels.is_empty() {
            return true;
        }
        self.keeps_labels(&image_labels(store, image))
    }

    /// The same rules for anything made at `created` (Unix seconds) with
    /// `labels`: containers, networks, volumes.
    pub fn keeps(&self, created: f64, labels: &BTreeMap<String, String>) -> bool {
        let at =
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs_f64(created.max(0.0)));
        self.keeps_time(at) && self.keeps_labels(labels)
    }

    /// Whether an `until` filter was given (volumes have no such filter).
    pub fn has_until(&self) -> bool {
        self.until.is_some()
    }

    fn keeps_time(&self, created: Option<std::time::SystemTime>) -> bool {
        match self.until {
            Some(until) => created.is_some_and(|c| c < until),
            None => true,
        }
    }

    fn keeps_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|l| label_matches(labels, l))
            && !self.not_labels.iter().any(|l| label_matches(labels, l))
    }
}

/// The `config.Labels` of an image's config blob; none when unreadable.
fn image_labels(store: &Store, image: &ImageRecord) -> BTreeMap<String, String> {
    store
        .get_blob(&image.id)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::from_value(v.pointer("/config/Labels")?.clone()).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_glob_as_docker() {
        let f = |p: &str| ImageFilter {
            references: vec![Pattern::new(p).unwrap()],
            ..ImageFilter::default()
        };
        assert!(f("busybox").keeps_row("busybox", Some("latest")));
        assert!(f("busy*").keeps_row("busybox", Some("1.36")));
        assert!(f("busybox:1.*").keeps_row("busybox", Some("1.36")));
        assert!(!f("busybox:1.*").keeps_row("busybox", Some("latest")));
        assert!(!f("*").keeps_row("127.0.0.1:5000/busybox", Some("latest")));
        assert!(f("*/busybox").keeps_row("127.0.0.1:5000/busybox", Some("latest")));
        assert!(!f("busybox").keeps_row("busybox", None));
        assert!(ImageFilter::default().keeps_row("busybox", None));
    }
}
