//! Reading a container's json-file log (what `logwriter` writes, in the
//! files `logfiles` names): replay across the rotated files in order,
//! `--tail`, `--since`/`--until`, and following through rotations until
//! the container's owner is gone. For `logs`, `attach` and the API's
//! `/logs` and `/attach`.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pocky_store::{ContainerRecord, Store};
use serde::Deserialize;

use crate::logfiles::{self, LogFile};
use crate::{Error, Result, state};

/// How often a follower looks for new output; the writer gives no other
/// signal.
const POLL: Duration = Duration::from_millis(100);

/// One line of output as the container wrote it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LogEntry {
    pub log: String,
    #[serde(default)]
    pub stream: String,
    /// What `--log-opt labels=/env=/tag=` added (`logs --details`).
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
    /// RFC 3339 with nanoseconds, UTC.
    #[serde(default)]
    pub time: String,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines of what is recorded (None: all).
    pub tail: Option<usize>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Skip what is recorded: only what comes from now on (`attach`).
    pub from_end: bool,
    /// Set by another thread to end a follow (`attach`'s detach keys).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Told once what is recorded has been read (or skipped): from then on
    /// nothing the container writes is missed (`attach` sends its input
    /// only then).
    pub caught_up: Option<std::sync::mpsc::Sender<()>>,
}

impl LogEntry {
    fn at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339(&self.time).ok()
    }
}

/// Refuses a container whose output is not kept (`--log-driver none`):
/// Docker's words for `logs`; `attach` says why it cannot follow either.
pub fn check_readable(rec: &ContainerRecord, attach: bool) -> Result<()> {
    if rec.host.log.keeps_output() {
        return Ok(());
    }
    Err(Error::NotImplemented(if attach {
        format!(
            "container {} has the none log driver: pocky's attach follows the json-file log",
            rec.name
        )
    } else {
        "configured logging driver does not support reading".to_owned()
    }))
}

/// A reader of the log that crosses rotations: each `read` gives what was
/// written since the one before, in order.
pub struct Follower {
    path: PathBuf,
    current: Option<LogFile>,
    queue: VecDeque<LogFile>,
    pending: Vec<u8>,
}

impl Follower {
    /// From the oldest line kept, or (`from_end`) from what comes next.
    /// `hold` creates the live file when there is none yet and keeps it
    /// open: a `--rm` container's log is gone with it soon after its
    /// exit, perhaps before the next look, but what an open file held
    /// stays readable (an attach made before the start).
    pub fn open(path: &Path, from_end: bool, hold: bool) -> Result<Follower> {
        let mut all: VecDeque<LogFile> = logfiles::open_all(path)
            .map_err(|e| {
                Error::Internal(anyhow::Error::new(e).context("opening the container log"))
            })?
            .into();
        if hold && all.is_empty() {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)?;
            let ino = std::os::unix::fs::MetadataExt::ino(&file.metadata()?);
            all.push_back(LogFile { file, ino });
        }
        if from_end {
            all.drain(..all.len().saturating_sub(1));
            if let Some(live) = all.front_mut() {
                live.file.seek(SeekFrom::End(0))?;
            }
        }
        let current = all.pop_front();
        Ok(Follower {
            path: path.to_owned(),
            current,
            queue: all,
            pending: Vec::new(),
        })
    }

    /// What was appended since the last call, across rotations.
    pub fn read(&mut self) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        let internal = |e: std::io::Error| {
            Error::Internal(anyhow::Error::new(e).context("reading the container log"))
        };
        loop {
            let Some(cur) = self.current.as_mut() else {
                // Nothing was logged when this reader opened.
                let mut all: VecDeque<LogFile> =
                    logfiles::open_all(&self.path).map_err(internal)?.into();
                let Some(first) = all.pop_front() else {
                    return Ok(out);
                };
                self.current = Some(first);
                self.queue = all;
                continue;
            };
            read_entries(&mut cur.file, &mut self.pending, &mut out)?;
            if self.queue.is_empty() {
                match logfiles::newer_than(&self.path, cur.ino).map_err(internal)? {
                    None => return Ok(out),
                    Some(newer) if newer.is_empty() => return Ok(out),
                    Some(newer) => {
                        // What was written before the rotation.
                        read_entries(&mut cur.file, &mut self.pending, &mut out)?;
                        self.queue = newer.into();
                    }
                }
            }
            // A file ends with a whole line: the writer rotates between lines.
            self.pending.clear();
            self.current = self.queue.pop_front();
        }
    }
}

/// Passes the container's output to `each` (false from it ends the
/// reading: a closed pipe, a gone client).
pub fn logs(
    store: &Store,
    name: &str,
    opts: &LogOptions,
    each: &mut dyn FnMut(&LogEntry) -> bool,
) -> Result<()> {
    let rec = state::find(store, name)?;
    check_readable(&rec, opts.from_end)?;
    let path = state::log_path(store, &rec.id)?;
    let mut follower = Follower::open(&path, opts.from_end, false)?;
    let first = follower.read()?;
    let in_range = |e: &LogEntry| match (opts.since, opts.until) {
        (None, None) => true,
        (since, until) => e
            .at()
            .is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)),
    };
    if let Some(tx) = &opts.caught_up {
        let _ = tx.send(());
    }
    let first: Vec<LogEntry> = first.into_iter().filter(|e| in_range(e)).collect();
    let skip = opts.tail.map_or(0, |n| first.len().saturating_sub(n));
    for e in &first[skip..] {
        if !each(e) {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }
    loop {
        // Checked before reading, so the last read sees everything the
        // owner wrote before it let go of its lock.
        let alive = state::owner_alive(store, &rec.id).unwrap_or(false);
        let entries = follower.read()?;
        for e in entries.iter().filter(|e| in_range(e)) {
            if opts.until.is_some_and(|u| e.at().is_some_and(|t| t > u)) || !each(e) {
                return Ok(());
            }
        }
        let stopped = opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst));
        if !alive || stopped || opts.until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Reads what was appended since the last call. A line still being written
/// stays in `pending` until its newline arrives.
pub fn read_entries(file: &mut File, pending: &mut Vec<u8>, out: &mut Vec<LogEntry>) -> Result<()> {
    file.read_to_end(pending)?;
    let Some(end) = pending.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    let rest = pending.split_off(end + 1);
    let complete = std::mem::replace(pending, rest);
    for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<LogEntry>(line) {
            Ok(e) => out.push(e),
            Err(e) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "corrupt line in the container log: {e}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn line(n: usize) -> Vec<u8> {
        format!("{{\"log\":\"{n}\\n\",\"stream\":\"stdout\",\"time\":\"t\"}}").into_bytes()
    }

    fn texts(entries: Vec<LogEntry>) -> Vec<String> {
        entries
            .into_iter()
            .map(|e| e.log.trim().to_owned())
            .collect()
    }

    #[test]
    fn a_follower_crosses_rotations_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(crate::logfiles::LOG_NAME);
        let rotation = crate::log_config::Rotation {
            max_size: Some(100),
            max_file: 4,
        };
        let mut sink = crate::logfiles::Sink::open(&log, rotation).unwrap();
        let mut follower = Follower::open(&log, false, false).unwrap();
        assert!(follower.read().unwrap().is_empty());
        let mut seen = Vec::new();
        let mut n = 0;
        // Batches that rotate once, twice, or not at all between reads.
        for batch in [1, 3, 5, 2, 6, 1] {
            for _ in 0..batch {
                n += 1;
                sink.write_line(&line(n)).unwrap();
            }
            sink.flush().unwrap();
            seen.extend(texts(follower.read().unwrap()));
        }
        let want: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        assert_eq!(seen, want);
        assert!(log.with_extension("log.3").exists());
        // A reader from the start gets what is kept, oldest first; one
        // from the end only what comes next.
        let kept = texts(Follower::open(&log, false, false).unwrap().read().unwrap());
        assert_eq!(
            kept.last().map(String::as_str),
            Some(n.to_string().as_str())
        );
        assert!(
            kept.windows(2)
                .all(|w| w[0].parse::<usize>().unwrap() + 1 == w[1].parse::<usize>().unwrap())
        );
        let mut end = Follower::open(&log, true, false).unwrap();
        sink.write_line(&line(n + 1)).unwrap();
        sink.flush().unwrap();
        assert_eq!(texts(end.read().unwrap()), [(n + 1).to_string()]);
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(
            &p,
            b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"t\"}\n{\"log\":\"b",
        )
        .unwrap();
        let mut f = File::open(&p).unwrap();
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        read_entries(&mut f, &mut pending, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].log, "a\n");
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"\\n\",\"stream\":\"stderr\",\"time\":\"t\"}\n")
            .unwrap();
        out.clear();
        read_entries(&mut f, &mut pending, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].log.as_str(), out[0].stream.as_str()),
            ("b\n", "stderr")
        );
        assert!(pending.is_empty());
    }
}
