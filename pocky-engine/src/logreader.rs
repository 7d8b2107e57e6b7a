//! Reading a container's json-file log (what `logwriter` writes): replay,
//! `--tail`, `--since`/`--until`, and following until the container's owner
//! is gone. For `logs`, `attach` and the API's `/logs`.

use std::fs::File;
use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use pocky_store::Store;
use serde::Deserialize;

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

/// Passes the container's output to `each` (false from it ends the
/// reading: a closed pipe, a gone client).
pub fn logs(
    store: &Store,
    name: &str,
    opts: &LogOptions,
    each: &mut dyn FnMut(&LogEntry) -> bool,
) -> Result<()> {
    let rec = state::find(store, name)?;
    let path = state::log_path(store, &rec.id)?;
    let mut file = open(&path)?;
    let mut pending = Vec::new();
    let mut first = Vec::new();
    if let Some(f) = file.as_mut() {
        read_entries(f, &mut pending, &mut first)?;
    }
    let in_range = |e: &LogEntry| match (opts.since, opts.until) {
        (None, None) => true,
        (since, until) => e
            .at()
            .is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)),
    };
    if let Some(tx) = &opts.caught_up {
        let _ = tx.send(());
    }
    if !opts.from_end {
        let first: Vec<LogEntry> = first.into_iter().filter(|e| in_range(e)).collect();
        let skip = opts.tail.map_or(0, |n| first.len().saturating_sub(n));
        for e in &first[skip..] {
            if !each(e) {
                return Ok(());
            }
        }
    }
    if !opts.follow {
        return Ok(());
    }
    loop {
        // Checked before reading, so the last read sees everything the
        // owner wrote before it let go of its lock.
        let alive = state::owner_alive(store, &rec.id).unwrap_or(false);
        if file.is_none() {
            file = open(&path)?;
        }
        let mut entries = Vec::new();
        if let Some(f) = file.as_mut() {
            read_entries(f, &mut pending, &mut entries)?;
        }
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

fn open(path: &std::path::Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        // A container that never started has no log yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Internal(
            anyhow::Error::new(e).context(format!("opening {}", path.display())),
        )),
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
