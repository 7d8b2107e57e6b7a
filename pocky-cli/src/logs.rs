//! `pocky logs`: replays `container.log` (Docker's json-file format) and,
//! with `-f`, follows it until the container's owner is gone.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use pocky_store::Store;

use crate::cli::LogsArgs;
use pocky_engine::state;

/// How often `-f` looks for new output; the writer gives no other signal.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Deserialize)]
struct Entry {
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
}

/// Where the replay goes; a closed pipe (`pocky logs c | head`) ends it
/// quietly instead of failing.
struct Out {
    timestamps: bool,
}

impl Out {
    fn write(&self, e: &Entry) -> io::Result<()> {
        let mut buf = Vec::with_capacity(e.log.len() + 40);
        if self.timestamps {
            buf.extend_from_slice(e.time.as_bytes());
            buf.push(b' ');
        }
        buf.extend_from_slice(e.log.as_bytes());
        if e.stream == "stderr" {
            let mut err = io::stderr().lock();
            err.write_all(&buf)?;
            err.flush()
        } else {
            let mut out = io::stdout().lock();
            out.write_all(&buf)?;
            out.flush()
        }
    }
}

pub fn logs(root: &Path, args: &LogsArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let rec = state::find(&store, &args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let path = state::log_path(&store, &rec.id)?;
    let mut file = match File::open(&path) {
        Ok(f) => Some(f),
        // A container that never started has no log yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let out = Out {
        timestamps: args.timestamps,
    };
    let mut pending = Vec::new();
    let mut first = Vec::new();
    if let Some(f) = file.as_mut() {
        read_entries(f, &mut pending, &mut first)?;
    }
    let skip = tail.map_or(0, |n| first.len().saturating_sub(n));
    if emit(&out, first.into_iter().skip(skip)).is_err() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        // Checked before reading, so the last read sees everything the
        // owner wrote before it let go of the lock.
        let alive = state::owner_alive(&store, &rec.id).unwrap_or(false);
        if file.is_none() {
            file = File::open(&path).ok();
        }
        let mut entries = Vec::new();
        if let Some(f) = file.as_mut() {
            read_entries(f, &mut pending, &mut entries)?;
        }
        if emit(&out, entries).is_err() || !alive {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(POLL);
    }
}

fn emit(out: &Out, entries: impl IntoIterator<Item = Entry>) -> io::Result<()> {
    entries.into_iter().try_for_each(|e| out.write(&e))
}

/// Reads what was appended since the last call. A line still being written
/// stays in `pending` until its newline arrives.
fn read_entries(file: &mut File, pending: &mut Vec<u8>, out: &mut Vec<Entry>) -> Result<()> {
    file.read_to_end(pending)
        .context("reading the container log")?;
    let Some(end) = pending.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    let rest = pending.split_off(end + 1);
    let complete = std::mem::replace(pending, rest);
    let mut lines: VecDeque<&[u8]> = complete.split(|&b| b == b'\n').collect();
    lines.pop_back(); // the empty piece after the final newline
    for line in lines {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Entry>(line) {
            Ok(e) => out.push(e),
            Err(e) => bail!("corrupt line in the container log: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
