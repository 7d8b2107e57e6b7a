//! `storage.json`: which form new layers take, decided once per store
//! (by the engine, which can probe the kernel) and kept.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::layers::StorageDriver;
use crate::store::Store;

/// The store's storage record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRecord {
    pub driver: StorageDriver,
    /// Why the driver is what it is (the probe's outcome, the flag), for
    /// `system info`.
    #[serde(default)]
    pub reason: String,
}

impl Store {
    fn storage_path(&self) -> std::path::PathBuf {
        self.layout().root().join("storage.json")
    }

    /// The recorded storage choice; `None` before the first is made.
    pub fn storage(&self) -> Result<Option<StorageRecord>> {
        let path = self.storage_path();
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| StoreError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("reading", &path)(e)),
        }
    }

    /// Records the storage choice (under the state lock, atomically).
    pub fn set_storage(&self, record: &StorageRecord) -> Result<()> {
        let _lock = self.lock()?;
        let path = self.storage_path();
        let data = serde_json::to_vec_pretty(record).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        crate::write_atomic(&path, &data)
    }

    /// Whether the store holds any layer unpacked as a directory (a store
    /// an older pocky made).
    pub fn has_directory_layers(&self) -> Result<bool> {
        for id in self.layer_ids()? {
            if let Ok(crate::LayerPath::Dir(p)) = crate::LayerStore::layer(self, &id)
                && p.exists()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
