//! The lock and the atomic writes of the network state directory. pocky-net
//! keeps these few lines rather than depending on pocky-store: it only needs
//! a directory, and the store need not know about networks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NetError;

/// An exclusive flock on `<dir>/.lock`, held while network state changes.
pub struct StateLock {
    _lock: Flock<File>,
}

impl StateLock {
    pub fn acquire(dir: &Path) -> Result<Self, NetError> {
        fs::create_dir_all(dir).map_err(|e| NetError::io(dir, e))?;
        let path = dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetError::io(&path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| NetError::io(&path, e.into()))?;
        Ok(Self { _lock: lock })
    }
}

/// Reads a JSON file; `None` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, NetError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| NetError::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io(path, e)),
    }
}

/// Writes JSON to a temp file in the same directory, fsyncs, renames: a
/// crash leaves the old or the new file, never half of one.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), NetError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| NetError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = tmp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        NetError::io(path, e)
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// Replaces a file's content in place, keeping its inode: the file is
/// bind-mounted into containers, and a rename would leave them the old one.
pub fn rewrite_in_place(path: &Path, content: &[u8]) -> Result<(), NetError> {
    // Written over the old bytes, then cut to length: a resolver reading
    // meanwhile never finds the file empty, as it could between an
    // O_TRUNC open and the write.
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| NetError::io(path, e))?;
    std::os::unix::fs::FileExt::write_all_at(&f, content, 0).map_err(|e| NetError::io(path, e))?;
    f.set_len(content.len() as u64)
        .map_err(|e| NetError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn rewrite_keeps_the_inode_and_leaves_exactly_the_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "127.0.0.1 localhost\n10.0.0.2 a-long-old-name\n").unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, b"10.0.0.3 b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "10.0.0.3 b\n");
        rewrite_in_place(
            &path,
            b"10.0.0.3 b\n10.0.0.4 a-much-longer-name-than-before\n",
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "10.0.0.3 b\n10.0.0.4 a-much-longer-name-than-before\n"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    }
}
