//! `events.log`: what happened to containers, images, volumes and networks,
//! one JSON line per event, for `pocky events` and the API's `/events`.
//!
//! With no daemon, every pocky process appends for itself. A line goes out
//! in one `write(2)` on an `O_APPEND` descriptor, so concurrent appenders
//! never interleave inside a line. The log is bounded: past
//! [`EVENTS_MAX_BYTES`] the appender that notices (under `events.lock`)
//! renames it to `events.log.1`, dropping the generation before. Events are
//! a record of what happened, not state: no fsync, and a reader skips a
//! torn last line (a SIGKILL cannot tear a single write, a full disk can).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::error::{Result, StoreError};
use crate::lock::FileLock;
use crate::store::Store;

/// The size at which the log starts a new generation.
pub const EVENTS_MAX_BYTES: u64 = 4 << 20;
/// The longest line kept; longer ones are refused rather than split.
pub const EVENT_MAX_LINE: usize = 16 << 10;

impl Store {
    /// The current generation of the events log.
    pub fn events_path(&self) -> PathBuf {
        self.layout().root().join("events.log")
    }

    /// The generation before the current one, read first by `--since`.
    pub fn events_previous_path(&self) -> PathBuf {
        self.layout().root().join("events.log.1")
    }

    /// Appends one event line (JSON without its newline).
    pub fn append_event(&self, line: &[u8]) -> Result<()> {
        if line.len() > EVENT_MAX_LINE || line.contains(&b'\n') {
            return Err(StoreError::io("appending to", &self.events_path())(
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an event must be one line of at most 16 KiB",
                ),
            ));
        }
        let path = self.events_path();
        self.rotate_events_if_full()?;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(StoreError::io("opening", &path))?;
        file.write_all(&buf)
            .map_err(StoreError::io("appending to", &path))
    }

    fn rotate_events_if_full(&self) -> Result<()> {
        let path = self.events_path();
        let full = |p: &PathBuf| fs::metadata(p).is_ok_and(|m| m.len() >= EVENTS_MAX_BYTES);
        if !full(&path) {
            return Ok(());
        }
        let _lock = FileLock::exclusive(&self.layout().root().join("events.lock"))?;
        // Another appender may have rotated while this one waited.
        if full(&path) {
            let old = self.events_previous_path();
            fs::rename(&path, &old).map_err(StoreError::io("rotating", &path))?;
        }
        Ok(())
    }

    /// The events log's identity (device, inode) and size, so a follower
    /// sees new lines and notices a rotation.
    pub fn events_position(&self) -> Option<(u64, u64, u64)> {
        fs::metadata(self.events_path())
            .ok()
            .map(|m| (m.dev(), m.ino(), m.len()))
    }

    /// Opens a generation of the log for reading; None when it is absent.
    pub fn open_events(&self, previous: bool) -> Result<Option<File>> {
        let path = match previous {
            true => self.events_previous_path(),
            false => self.events_path(),
        };
        match File::open(&path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("opening", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn lines_append_and_the_log_rotates_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append_event(b"{\"a\":1}").unwrap();
        store.append_event(b"{\"a\":2}").unwrap();
        let mut text = String::new();
        store
            .open_events(false)
            .unwrap()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        assert!(store.append_event(b"two\nlines").is_err());
        assert!(store.append_event(&vec![b'x'; EVENT_MAX_LINE + 1]).is_err());

        let filler = vec![b'x'; EVENT_MAX_LINE];
        let mut n = 0;
        while store.events_previous_path().metadata().is_err() {
            store.append_event(&filler).unwrap();
            n += 1;
            assert!(n < 1000);
        }
        let current = store.events_path().metadata().unwrap().len();
        assert!(current < EVENTS_MAX_BYTES, "{current}");
    }
}
