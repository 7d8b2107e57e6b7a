//! Reading and writing control files, each error tagged with its path.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{CgroupError, Result};

/// Writes `value` to a control file in one `write(2)`, as the kernel wants.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| {
        // cgroupfs answers the create of a file it does not have with
        // EACCES, which would read as a permission problem.
        if matches!(
            source.kind(),
            ErrorKind::PermissionDenied | ErrorKind::NotFound
        ) && !path.exists()
        {
            return CgroupError::NoSuchSetting {
                path: path.to_path_buf(),
            };
        }
        // EOPNOTSUPP: the file is there, the setting is not (io.weight for
        // one device needs io.cost enabled on it).
        if source.raw_os_error() == Some(libc::EOPNOTSUPP) {
            return CgroupError::NoSuchSetting {
                path: path.to_path_buf(),
            };
        }
        CgroupError::Write {
            path: path.to_path_buf(),
            value: value.to_owned(),
            source,
        }
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Like [`read`], but a missing file is `None`: many files exist only when a
/// controller or kernel feature is there, and their absence is an answer.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_err(path: &Path, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        content: content.to_owned(),
    }
}

/// Parses a single-number file; `max` (v2's "no limit") is `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, content: &str) -> Result<u64> {
    let t = content.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| parse_err(path, content))
}

/// Reads a single-number file that may be absent.
pub(crate) fn read_u64_optional(path: &Path) -> Result<Option<u64>> {
    read_optional(path)?
        .map(|s| parse_u64(path, &s))
        .transpose()
}

/// Looks `key` up in a flat keyed file (`key value` per line), as
/// `memory.events`, `memory.oom_control` and `cpu.stat` are.
pub(crate) fn keyed_u64(path: &Path, content: &str, key: &str) -> Result<Option<u64>> {
    for line in content.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let v = it.next().ok_or_else(|| parse_err(path, line))?;
            return v.parse().map(Some).map_err(|_| parse_err(path, line));
        }
    }
    Ok(None)
}

/// Parses `cgroup.procs`: one pid a line.
pub(crate) fn parse_pids(path: &Path, content: &str) -> Result<Vec<i32>> {
    content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().map_err(|_| parse_err(path, l)))
        .collect()
}

pub(crate) fn mkdir_p(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| CgroupError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// How often and how long `rmdir` is retried on `EBUSY`: the tasks of a
/// killed container leave the cgroup asynchronously, a few milliseconds
/// after SIGKILL, so a first `rmdir` right after `kill_all` often races them.
const RMDIR_ATTEMPTS: u32 = 50;
const RMDIR_PAUSE: Duration = Duration::from_millis(10);
const EBUSY: i32 = nix::errno::Errno::EBUSY as i32;

/// Removes a cgroup directory; an absent one is already removed.
pub(crate) fn rmdir_retrying(path: &Path) -> Result<()> {
    rmdir_all(&[path.to_path_buf()])
}

/// Removes every directory, keeps going past failures and reports the first:
/// a half-removed cgroup is better than one left whole because its first
/// controller refused. The EBUSY retries are one budget for all the
/// directories, so a cgroup that still holds a task fails in one pause,
/// not one per controller.
pub(crate) fn rmdir_all(dirs: &[PathBuf]) -> Result<()> {
    let mut budget = RMDIR_ATTEMPTS;
    let mut first = None;
    for d in dirs {
        let result = loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => break Ok(()),
                Err(e) if e.raw_os_error() == Some(EBUSY) && budget > 0 => {
                    budget -= 1;
                    std::thread::sleep(RMDIR_PAUSE);
                }
                Err(source) => {
                    break Err(CgroupError::Remove {
                        path: d.clone(),
                        source,
                    });
                }
            }
        };
        if let Err(e) = result {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// How long a freeze or thaw may take to settle: tasks stop at their next
/// return to user space, normally within microseconds, but one in
/// uninterruptible sleep (I/O, a FUSE call) holds the group back.
const FREEZE_ATTEMPTS: u32 = 200;
const FREEZE_PAUSE: Duration = Duration::from_millis(5);

/// Calls `step` (which writes the wanted state and reads the state back)
/// until it reports `wanted`, or gives up with the last state seen.
pub(crate) fn poll_until(
    path: &Path,
    wanted: &'static str,
    mut step: impl FnMut() -> Result<String>,
) -> Result<()> {
    let mut last = String::new();
    for _ in 0..FREEZE_ATTEMPTS {
        last = step()?;
        if last == wanted {
            return Ok(());
        }
        std::thread::sleep(FREEZE_PAUSE);
    }
    Err(CgroupError::Freeze {
        path: path.to_path_buf(),
        wanted,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_max() {
        let p = Path::new("x");
        assert_eq!(parse_u64(p, "42\n").unwrap(), 42);
        assert_eq!(parse_u64(p, "max\n").unwrap(), u64::MAX);
        assert!(parse_u64(p, "lots").is_err());
    }

    #[test]
    fn keyed_lookup() {
        let p = Path::new("memory.events");
        let c = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n";
        assert_eq!(keyed_u64(p, c, "oom_kill").unwrap(), Some(1));
        assert_eq!(keyed_u64(p, c, "oom_group_kill").unwrap(), None);
        assert!(keyed_u64(p, "oom_kill\n", "oom_kill").is_err());
    }

    #[test]
    fn procs() {
        let p = Path::new("cgroup.procs");
        assert_eq!(parse_pids(p, "1\n22\n\n333\n").unwrap(), vec![1, 22, 333]);
        assert!(parse_pids(p, "1\nx\n").is_err());
    }

    #[test]
    fn removing_absent_dirs_is_fine() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("gone");
        rmdir_retrying(&d).unwrap();
        std::fs::create_dir(&d).unwrap();
        rmdir_all(&[d.clone(), t.path().join("never")]).unwrap();
        assert!(!d.exists());
    }
}
