//! Large blobs (compressed layers) written as a stream: hashed while they
//! are written to a staging file, checked and renamed into `blobs/sha256/`.
//! A blob that is visible is whole and verified against a crash of the
//! process. Like unpacked layers (and unlike records) it is not fsynced:
//! that cost a pull on this machine's ext4 most of a second, and a blob a
//! power loss tears is caught wherever a blob is used (the registry checks
//! a pushed digest, `save` checks every blob it writes, an unpack from a
//! blob checks the diff id).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::{Result, StoreError};
use crate::staging::Staging;
use crate::store::Store;

/// A blob being written. Dropped without [`BlobWriter::commit`], it leaves
/// nothing behind (its staging directory goes with it).
#[derive(Debug)]
pub struct BlobWriter {
    staging: Staging,
    path: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Moves the blob into place. With `expected`, a blob that hashes to
    /// anything else is discarded and reported. Returns digest and size.
    pub fn commit(self, store: &Store, expected: Option<&str>) -> Result<(String, u64)> {
        let BlobWriter {
            staging,
            path,
            file,
            hasher,
            size,
        } = self;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if let Some(want) = expected
            && want != digest
        {
            return Err(StoreError::DigestMismatch {
                expected: want.to_owned(),
                actual: digest,
            });
        }
        file.into_inner()
            .map_err(|e| StoreError::io("writing", &path)(e.into_error()))?;
        let dest = store.blob_file(&digest)?;
        fs::rename(&path, &dest).map_err(StoreError::io("moving into place", &dest))?;
        drop(staging);
        Ok((digest, size))
    }
}

impl Store {
    /// A writer for a blob whose digest is known only at the end.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let staging = Staging::new(&self.layout().tmp())?;
        let path = staging.path().join("blob");
        let file = File::create(&path).map_err(StoreError::io("creating", &path))?;
        Ok(BlobWriter {
            staging,
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Moves a file whose digest the caller has verified into the blobs.
    /// `file` must be on the store's filesystem: in a [`Store::scratch`].
    pub fn adopt_blob(&self, file: &Path, digest: &str) -> Result<()> {
        let dest = self.blob_file(digest)?;
        if dest.exists() {
            return Ok(());
        }
        fs::rename(file, &dest).map_err(StoreError::io("moving into place", &dest))
    }

    pub fn has_blob(&self, digest: &str) -> Result<bool> {
        Ok(self.blob_file(digest)?.exists())
    }

    /// The file holding a blob, for streaming it out (push, save).
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let path = self.blob_file(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NoSuchBlob(digest.to_owned()),
            _ => StoreError::io("opening", &path)(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_verifies_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"hello").unwrap();
        let want = crate::sha256_of(b"hello");
        let (digest, size) = w.commit(&store, Some(&want)).unwrap();
        assert_eq!((digest.as_str(), size), (want.as_str(), 5));
        assert!(store.has_blob(&want).unwrap());
        assert_eq!(store.get_blob(&want).unwrap(), b"hello");

        let mut w = store.blob_writer().unwrap();
        w.write_all(b"other").unwrap();
        let err = w.commit(&store, Some(&want)).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!store.has_blob(&crate::sha256_of(b"other")).unwrap());
        let left: Vec<_> = fs::read_dir(store.layout().tmp()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
