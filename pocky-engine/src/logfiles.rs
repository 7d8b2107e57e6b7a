//! The files of a container's json-file log, as Docker's driver keeps
//! them: `container.log` is written, and with `--log-opt max-size` it is
//! rotated to `container.log.1`, the older ones shifted to `.2`, `.3` ...
//! up to `max-file - 1` (the oldest dropped). With `max-file=1` the full
//! file is replaced by an empty one.
//!
//! The writer ([`Sink`], in the container's owner) rotates under an
//! exclusive flock on `container.log.lock`; readers take it shared while
//! they list and open the files, so they never see a rotation half done.
//! A reader holding a file open keeps reading it after it is renamed or
//! replaced, which is how a follower crosses a rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pocky_store::FileLock;

use crate::log_config::Rotation;

/// The live log's name in the container's directory.
pub const LOG_NAME: &str = "container.log";

fn lock_path(log: &Path) -> PathBuf {
    log.with_extension("log.lock")
}

fn rotated(log: &Path, n: usize) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The rotated files present, by number (1 is the newest). Gaps (a
/// rotation cut short by a SIGKILL) are skipped.
fn rotated_numbers(log: &Path) -> io::Result<Vec<usize>> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|d| d.parse::<usize>().ok())
        else {
            continue;
        };
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

/// A shared hold on the set, or none when the lock cannot be made (a
/// container being removed): reading on without it risks at worst a
/// line twice.
fn shared_lock(log: &Path) -> Option<FileLock> {
    FileLock::shared(&lock_path(log)).ok()
}

/// One file of the set, open, with its inode to recognise it later.
pub struct LogFile {
    pub file: File,
    pub ino: u64,
}

/// Every file of the log, oldest first, the live one last (absent when
/// nothing was logged yet).
pub fn open_all(log: &Path) -> io::Result<Vec<LogFile>> {
    let _lock = shared_lock(log);
    open_unlocked(log)
}

fn open_unlocked(log: &Path) -> io::Result<Vec<LogFile>> {
    let mut paths: Vec<PathBuf> = rotated_numbers(log)?
        .into_iter()
        .rev()
        .map(|n| rotated(log, n))
        .collect();
    paths.push(log.to_owned());
    let mut out = Vec::new();
    for p in paths {
        match File::open(&p) {
            Ok(file) => {
                let ino = file.metadata()?.ino();
                out.push(LogFile { file, ino });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// After the live file `ino` was rotated away: the files written since,
/// oldest first. When `ino` was rotated out of the set altogether, all.
pub fn newer_than(log: &Path, ino: u64) -> io::Result<Option<Vec<LogFile>>> {
    let _lock = shared_lock(log);
    match std::fs::metadata(log) {
        Ok(m) if m.ino() == ino => return Ok(None),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut all = open_unlocked(log)?;
    if let Some(pos) = all.iter().position(|f| f.ino == ino) {
        all.drain(..=pos);
    }
    Ok(Some(all))
}

/// The writing end: appends lines, rotating when the next would pass
/// `max_size`.
pub struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    rotation: Rotation,
}

impl Sink {
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<Sink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Sink {
            path: path.to_owned(),
            out: BufWriter::new(file),
            size,
            rotation,
        })
    }

    /// One whole line (its newline added here), never split across files.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if let Some(max) = self.rotation.max_size
            && self.size > 0
            && self.size + len > max
        {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let _lock = FileLock::exclusive(&lock_path(&self.path)).map_err(io::Error::other)?;
        crate::fault::point("log:rotate");
        let fresh = if self.rotation.max_file < 2 {
            // Replaced whole, so a reader never sees it shrink in place.
            let tmp = self.path.with_extension("log.new");
            let f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&tmp)?;
            std::fs::rename(&tmp, &self.path)?;
            f
        } else {
            for n in (1..self.rotation.max_file - 1).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?
        };
        // Opened for writing, appended to as the live file always is.
        self.out = BufWriter::new(fresh);
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_set(log: &Path) -> Vec<String> {
        open_all(log)
            .unwrap()
            .into_iter()
            .map(|mut f| {
                let mut s = String::new();
                io::Read::read_to_string(&mut f.file, &mut s).unwrap();
                s
            })
            .collect()
    }

    #[test]
    fn rotation_keeps_max_file_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(LOG_NAME);
        let rotation = Rotation {
            max_size: Some(8),
            max_file: 3,
        };
        let mut sink = Sink::open(&log, rotation).unwrap();
        for line in ["a1", "a2", "b1", "b2", "c1", "c2", "d1"] {
            sink.write_line(line.as_bytes()).unwrap();
        }
        sink.flush().unwrap();
        // Three lines of 3 bytes pass 8: two per file, oldest dropped.
        assert_eq!(read_set(&log), ["b1\nb2\n", "c1\nc2\n", "d1\n"]);
        assert!(!rotated(&log, 3).exists());
        // A sink opened again (a restart) goes on where the file is.
        let mut sink = Sink::open(&log, rotation).unwrap();
        sink.write_line(b"d2").unwrap();
        sink.write_line(b"e1").unwrap();
        sink.flush().unwrap();
        assert_eq!(read_set(&log), ["c1\nc2\n", "d1\nd2\n", "e1\n"]);
    }

    #[test]
    fn one_file_is_replaced_and_a_follower_sees_it_go() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(LOG_NAME);
        let mut sink = Sink::open(
            &log,
            Rotation {
                max_size: Some(6),
                max_file: 1,
            },
        )
        .unwrap();
        sink.write_line(b"a1").unwrap();
        sink.flush().unwrap();
        let first = open_all(&log).unwrap().remove(0).ino;
        assert!(newer_than(&log, first).unwrap().is_none());
        sink.write_line(b"a2").unwrap();
        sink.write_line(b"b1").unwrap();
        sink.flush().unwrap();
        assert_eq!(read_set(&log), ["b1\n"]);
        let newer = newer_than(&log, first).unwrap().unwrap();
        assert_eq!(newer.len(), 1);
        assert_ne!(newer[0].ino, first);
    }

    #[test]
    fn gaps_and_strangers_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(LOG_NAME);
        std::fs::write(&log, "live\n").unwrap();
        std::fs::write(rotated(&log, 3), "old\n").unwrap();
        std::fs::write(rotated(&log, 1), "newer\n").unwrap();
        std::fs::write(log.with_extension("log.lock"), "").unwrap();
        std::fs::write(dir.path().join("container.log.x"), "no\n").unwrap();
        assert_eq!(read_set(&log), ["old\n", "newer\n", "live\n"]);
    }
}
