//! The build cache's index: `build-cache/<key hex>` holds the id of the
//! image a build step made, keyed by the hash of everything the step's
//! result depends on (the executor computes it). The images themselves
//! are ordinary records marked `build_step`; an entry whose image has gone
//! is a miss, so collection needs no coordination with the index.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use crate::atomic::write_derived;
use crate::digest::sha256_hex;
use crate::error::{Result, StoreError};
use crate::images::{ImageQuery, ImageStore};
use crate::store::Store;

impl Store {
    fn cache_dir(&self) -> PathBuf {
        self.layout().root().join("build-cache")
    }

    /// The image a step with this key made, if it is still in the store.
    pub fn cache_lookup(&self, key: &str) -> Result<Option<String>> {
        let path = self.cache_dir().join(sha256_hex(key)?);
        let id = match fs::read_to_string(&path) {
            Ok(s) => s.trim().to_owned(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("reading", &path)(e)),
        };
        if sha256_hex(&id).is_err() {
            return Ok(None);
        }
        match self.find_image(&ImageQuery::IdPrefix(id.clone())) {
            Ok(_) => Ok(Some(id)),
            Err(StoreError::NoSuchImage(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records the image a step made. Not fsynced: a lost entry is a miss,
    /// and the write is atomic, so a torn one is impossible.
    pub fn cache_record(&self, key: &str, image_id: &str) -> Result<()> {
        let dir = self.cache_dir();
        fs::create_dir_all(&dir).map_err(StoreError::io("creating", &dir))?;
        sha256_hex(image_id)?;
        write_derived(&dir.join(sha256_hex(key)?), image_id.as_bytes())
    }

    /// Forgets every entry; returns how many there were.
    pub fn cache_clear(&self) -> Result<usize> {
        let dir = self.cache_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io("reading", &dir)(e)),
        };
        let mut n = 0;
        for e in entries {
            let e = e.map_err(StoreError::io("reading", &dir))?;
            match fs::remove_file(e.path()) {
                Ok(()) => n += 1,
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => return Err(StoreError::io("removing", &e.path())(err)),
            }
        }
        Ok(n)
    }
}
