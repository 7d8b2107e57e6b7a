//! Crash-safe file replacement: a reader sees the old content or the new,
//! never a torn mix, and a SIGKILL at any point leaves at worst a stray temp
//! file that [`remove_stale_temps`] deletes later.
//!
//! Records are fsynced before the rename, so a power loss cannot leave a
//! record that is renamed into place but empty. The directory is not
//! fsynced: after a power loss a rename may be lost, which leaves the
//! previous, whole version. Files derived from records and written once
//! (a container's bundle) use [`write_derived`], without fsync: each fsync
//! costs about a millisecond, and a power loss can only cost a container
//! that had not started yet.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StoreError};
use crate::unique_name;

const TEMP_MARK: &str = ".tmp-";

/// Writes `data` to `path` through a temp file in the same directory,
/// fsynced and renamed over the target.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, true)
}

/// Like [`write_atomic`] but without the fsync: atomic against crashes of
/// the process, not against a power loss. For files derived from records.
pub fn write_derived(path: &Path, data: &[u8]) -> Result<()> {
    write_via_temp(path, data, false)
}

fn write_via_temp(path: &Path, data: &[u8], sync: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}{TEMP_MARK}{}", unique_name()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StoreError::io("creating", &tmp))?;
        f.write_all(data).map_err(StoreError::io("writing", &tmp))?;
        if sync {
            f.sync_all().map_err(StoreError::io("syncing", &tmp))?;
        }
        fs::rename(&tmp, path).map_err(StoreError::io("renaming into", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("syncing directory", dir))
}

/// Deletes temp files that a killed writer left in `dir`. Callers hold the
/// lock that guards writes to `dir`, so no live writer owns them.
pub fn remove_stale_temps(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("listing", dir)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARK) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".rec.json.tmp-123"), b"half").unwrap();
        fs::write(dir.path().join("rec.json"), b"whole").unwrap();
        remove_stale_temps(dir.path()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["rec.json"]);
    }
}
