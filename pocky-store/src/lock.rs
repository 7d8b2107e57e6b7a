//! Advisory locks on files. `flock` locks die with their holder, so a
//! SIGKILLed pocky never leaves a lock behind for the next command.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Result, StoreError};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` (created if absent) is held.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        Self::blocking(path, FlockArg::LockExclusive)
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> Result<FileLock> {
        Self::blocking(path, FlockArg::LockShared)
    }

    /// Takes the exclusive lock if nobody holds any lock on `path`.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        Self::take(path, FlockArg::LockExclusiveNonblock)
    }

    /// Locks an already open file, for callers that must create it atomically.
    pub fn from_file(file: File, path: &Path) -> Result<FileLock> {
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| StoreError::Lock {
                path: path.to_owned(),
                source: e.into(),
            })?;
        Ok(FileLock {
            _lock: lock,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn blocking(path: &Path, arg: FlockArg) -> Result<FileLock> {
        Self::take(path, arg)?.ok_or_else(|| StoreError::Lock {
            path: path.to_owned(),
            source: std::io::ErrorKind::WouldBlock.into(),
        })
    }

    fn take(path: &Path, arg: FlockArg) -> Result<Option<FileLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(StoreError::io("opening lock", path))?;
        match Flock::lock(file, arg) {
            Ok(lock) => Ok(Some(FileLock {
                _lock: lock,
                path: path.to_owned(),
            })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(StoreError::Lock {
                path: path.to_owned(),
                source: e.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }
}
