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
    /// None when the bytes come from a reader that verifies them itself
    /// ([`Store::blob_writer_verified`]): one SHA-256 pass, not two.
    hasher: Option<Sha256>,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
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
        let digest = match (hasher, expected) {
            (Some(h), _) => format!("sha256:{}", hex::encode(h.finalize())),
            // Checked for its form when it names the file below.
            (None, Some(want)) => want.to_owned(),
            (None, None) => {
                return Err(StoreError::BadDigest(
                    "a blob verified by its reader needs that digest".into(),
                ));
            }
        };
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
            hasher: Some(Sha256::new()),
            size: 0,
        })
    }

    /// A writer for a blob whose bytes the caller's reader verifies
    /// against the digest given to [`BlobWriter::commit`] (a registry blob
    /// reader checks it at its end): it does not hash them again. Commit
    /// only after that reader reached its end without error.
    pub fn blob_writer_verified(&self) -> Result<BlobWriter> {
        let mut w = self.blob_writer()?;
        w.hasher = None;
        Ok(w)
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

    #[test]
    fn a_verified_writer_takes_the_readers_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let want = crate::sha256_of(b"hello");
        let mut w = store.blob_writer_verified().unwrap();
        w.write_all(b"hello").unwrap();
        assert_eq!(w.commit(&store, Some(&want)).unwrap(), (want.clone(), 5));
        assert_eq!(store.get_blob(&want).unwrap(), b"hello");
        // Without a digest there is nothing to name it by; a malformed one
        // names no file.
        let w = store.blob_writer_verified().unwrap();
        assert!(w.commit(&store, None).is_err());
        let w = store.blob_writer_verified().unwrap();
        assert!(w.commit(&store, Some("sha256:../../x")).is_err());
        let left: Vec<_> = fs::read_dir(store.layout().tmp()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
