//! Events: the one place the engine says what happened (`emit`), and the
//! reading side for `pocky events` and the API's `/events` (`read`,
//! `follow`). Lines are Docker's event messages (`Type`, `Action`, `Actor`
//! with `ID` and `Attributes`, `time`, `timeNano`, and the older `status`,
//! `id`, `from`), so an API front end passes them through as they are.
//!
//! Emitting never fails an operation: a container that started is started
//! even when the log cannot be written; the failure goes to the debug log.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pocky_store::{ContainerRecord, Store};
use serde::{Deserialize, Serialize};

use crate::{Result, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: u64,
    #[serde(rename = "timeNano")]
    pub time_nano: u128,
    /// Docker's pre-1.22 fields, which some clients still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Event {
    pub fn new(typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let legacy = typ == "container" || typ == "image";
        Event {
            typ: typ.to_owned(),
            action: action.to_owned(),
            scope: "local".to_owned(),
            time: u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            time_nano: nanos,
            status: legacy.then(|| action.to_owned()),
            id: legacy.then(|| id.to_owned()),
            from: (typ == "container")
                .then(|| attributes.get("image").cloned())
                .flatten(),
            actor: Actor {
                id: id.to_owned(),
                attributes,
            },
        }
    }
}

/// Records `event`; see the module's note on failures.
pub fn emit(store: &Store, event: &Event) {
    let line = match serde_json::to_vec(event) {
        Ok(l) => l,
        Err(e) => return crate::log::debug!("encoding an event: {e}"),
    };
    if let Err(e) = store.append_event(&line) {
        crate::log::debug!("recording event {} {}: {e}", event.typ, event.action);
    }
}

/// A container event with Docker's attributes: its name, image and labels,
/// plus `extra` (`exitCode` for `die`, `signal` for `kill`, ...).
pub fn container(store: &Store, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
    let mut attributes: BTreeMap<String, String> = rec.labels.clone();
    attributes.insert("name".into(), rec.name.clone());
    attributes.insert("image".into(), rec.image.clone());
    for (k, v) in extra {
        attributes.insert((*k).to_owned(), v.clone());
    }
    emit(store, &Event::new("container", action, &rec.id, attributes));
}

/// An event of an image, volume or network: `name` is its
/// `name` attribute.
pub fn object(store: &Store, typ: &str, action: &str, id: &str, name: &str) {
    let attributes = BTreeMap::from([("name".to_owned(), name.to_owned())]);
    emit(store, &Event::new(typ, action, id, attributes));
}

/// Docker's `--filter` for events: `type`, `event` (the action),
/// `container`, `image`, `volume`, `network` (ID or name), `label`. Values
/// of one key are alternatives; keys must all match.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    by_key: BTreeMap<String, Vec<String>>,
}

const FILTER_KEYS: [&str; 8] = [
    "type",
    "event",
    "container",
    "image",
    "volume",
    "network",
    "label",
    "scope",
];

impl EventFilter {
    pub fn parse(args: &[String]) -> Result<EventFilter> {
        Ok(EventFilter {
            by_key: crate::filter_args::parse_pairs(args, &FILTER_KEYS)?,
        })
    }

    pub fn matches(&self, e: &Event) -> bool {
        crate::filter_args::all_keys(&self.by_key, |k, w| match k {
            "type" => e.typ == w,
            "event" => e.action == w || e.action.split(':').next() == Some(w),
            "scope" => e.scope == w,
            "label" => crate::filter_args::label_matches(&e.actor.attributes, w),
            "image" if e.typ == "container" => {
                e.actor.attributes.get("image").is_some_and(|i| i == w)
                    || e.from.as_deref() == Some(w)
            }
            typ => {
                e.typ == typ
                    && (e.actor.id.starts_with(w)
                        || e.actor.attributes.get("name").is_some_and(|n| n == w))
            }
        })
    }
}

/// Docker's `--since`/`--until`: a Unix time (`1700000000[.5]`), an RFC
/// 3339 time, or a duration before now (`10m`, `1h30m`).
pub fn parse_time(s: &str, now: SystemTime) -> Result<SystemTime> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')) {
        return Ok(t);
    }
    if let Ok(t) = humantime::parse_rfc3339(s) {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(now.checked_sub(d).unwrap_or(UNIX_EPOCH)),
        Err(_) => Err(invalid!(
            "invalid time {s:?}: expected a Unix time, an RFC 3339 time or a duration such as 10m"
        )),
    }
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The recorded events from `since` (both generations of the log), up to
/// `until`, that `filter` lets through, oldest first.
pub fn read(
    store: &Store,
    since: SystemTime,
    until: Option<SystemTime>,
    filter: &EventFilter,
) -> Result<Vec<Event>> {
    let (since, until) = (nanos(since), until.map(nanos));
    let mut out = Vec::new();
    for previous in [true, false] {
        if let Some(file) = store.open_events(previous)? {
            for line in BufReader::new(file).split(b'\n') {
                let line = line?;
                // A torn line from a full disk, or a foreign one: skipped.
                let Ok(e) = serde_json::from_slice::<Event>(&line) else {
                    continue;
                };
                if e.time_nano >= since
                    && until.is_none_or(|u| e.time_nano <= u)
                    && filter.matches(&e)
                {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

/// How often a follower looks for new lines. The log is a plain file
/// written by many processes; polling its size is simple and cheap.
const POLL: Duration = Duration::from_millis(100);

/// Calls `each` for every event appended from now on that `filter` lets
/// through, until `until` passes or `each` returns false.
pub fn follow(
    store: &Store,
    until: Option<SystemTime>,
    filter: &EventFilter,
    each: &mut dyn FnMut(&Event) -> bool,
) -> Result<()> {
    let mut follower = Follower::new(store)?;
    loop {
        if until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(());
        }
        std::thread::sleep(POLL);
        if !follower.read_new(store, until, filter, each)? {
            return Ok(());
        }
    }
}

/// A reader at the end of the log: what is appended after [`Follower::new`]
/// is seen by the next [`Follower::read_new`], so a caller can start
/// following before it lets anything happen (the API's `wait`).
pub struct Follower {
    held: Option<(std::fs::File, (u64, u64))>,
    pending: Vec<u8>,
}

impl Follower {
    pub fn new(store: &Store) -> Result<Follower> {
        Ok(Follower {
            held: open_current(store, true)?,
            pending: Vec::new(),
        })
    }

    /// Passes on what was appended since the last call; false once `each`
    /// said so or an event came after `until`.
    pub fn read_new(
        &mut self,
        store: &Store,
        until: Option<SystemTime>,
        filter: &EventFilter,
        each: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<bool> {
        let until_nanos = until.map(nanos);
        let Some((file, identity)) = self.held.as_mut() else {
            self.held = open_current(store, false)?;
            return Ok(true);
        };
        // Rotation renames the file this follower holds: it reads that to
        // its end (the lines appended before the rename), then the new one.
        let rotated = store.events_position().map(|p| (p.0, p.1)) != Some(*identity);
        file.read_to_end(&mut self.pending)?;
        let whole = self
            .pending
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        for line in self.pending[..whole].split(|b| *b == b'\n') {
            let Ok(e) = serde_json::from_slice::<Event>(line) else {
                continue;
            };
            if until_nanos.is_some_and(|u| e.time_nano > u) {
                return Ok(false);
            }
            if filter.matches(&e) && !each(&e) {
                return Ok(false);
            }
        }
        self.pending.drain(..whole);
        if rotated {
            self.pending.clear();
            self.held = open_current(store, false)?;
        }
        Ok(true)
    }
}

/// The current generation, at its end (`at_end`) or its start, with its
/// identity.
fn open_current(store: &Store, at_end: bool) -> Result<Option<(std::fs::File, (u64, u64))>> {
    let Some(mut file) = store.open_events(false)? else {
        return Ok(None);
    };
    let meta = file.metadata()?;
    if at_end {
        file.seek(SeekFrom::End(0))?;
    }
    Ok(Some((file, (meta.dev(), meta.ino()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(typ: &str, action: &str, id: &str, name: &str) -> Event {
        Event::new(
            typ,
            action,
            id,
            BTreeMap::from([
                ("name".to_owned(), name.to_owned()),
                ("image".to_owned(), "busybox".to_owned()),
            ]),
        )
    }

    #[test]
    fn filters_as_docker() {
        let e = ev("container", "die", "abc123", "web");
        let f = |a: &[&str]| {
            EventFilter::parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
        };
        assert!(f(&[]).matches(&e));
        assert!(f(&["type=container", "event=die"]).matches(&e));
        assert!(f(&["event=start", "event=die"]).matches(&e));
        assert!(!f(&["event=start"]).matches(&e));
        assert!(f(&["container=web"]).matches(&e));
        assert!(f(&["container=abc"]).matches(&e));
        assert!(!f(&["container=db"]).matches(&e));
        assert!(f(&["image=busybox"]).matches(&e));
        assert!(!f(&["volume=web"]).matches(&e));
        assert!(EventFilter::parse(&["nope=1".into()]).is_err());
        assert!(EventFilter::parse(&["type".into()]).is_err());
    }

    #[test]
    fn times_as_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_time("1000", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1000)
        );
        assert_eq!(
            parse_time("10m", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_000_000 - 600)
        );
        assert!(parse_time("2026-01-02T03:04:05Z", now).is_ok());
        assert!(parse_time("yesterday-ish", now).is_err());
    }

    #[test]
    fn the_log_reads_back_in_order_and_in_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        emit(&store, &ev("container", "create", "a1", "one"));
        emit(&store, &ev("container", "start", "a1", "one"));
        store.append_event(b"{torn").unwrap();
        emit(&store, &ev("image", "pull", "busybox:latest", "busybox"));
        let all = read(&store, UNIX_EPOCH, None, &EventFilter::default()).unwrap();
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "start", "pull"]);
        assert_eq!(all[0].from.as_deref(), Some("busybox"));
        let later = read(
            &store,
            SystemTime::now() + Duration::from_secs(5),
            None,
            &EventFilter::default(),
        );
        assert!(later.unwrap().is_empty());
    }
}
