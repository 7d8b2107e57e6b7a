//! The layer store's driver: which form new layers take (EROFS images
//! where this kernel mounts them, unpacked directories otherwise), chosen
//! once per store and recorded; and the one way from an image to the
//! layers overlayfs stacks. See docs/IMAGES.md ("The layer store").

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use pocky_fs::{Lower, UnpackLimits, Unpacked};
use pocky_store::{
    ImageRecord, LayerPath, LayerStore, Staging, StorageDriver, StorageRecord, Store,
};

/// What `system info` says about the layer store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageInfo {
    pub driver: StorageDriver,
    /// Why this driver (the probe's outcome, a flag, an older store).
    pub reason: String,
}

impl StorageInfo {
    /// The lines `pocky system info` prints for the layer store.
    pub fn render(&self) -> String {
        format!(
            "Storage Driver: {}\n Reason: {}\n",
            self.driver.as_str(),
            self.reason
        )
    }
}

/// The driver new layers are written with: the recorded one, or the
/// default decided now and recorded (EROFS when the kernel mounts EROFS
/// image files; the directory store for a store that already holds
/// unpacked layers, or where the probe fails).
pub fn driver(store: &Store) -> Result<StorageDriver> {
    Ok(record(store)?.driver)
}

fn record(store: &Store) -> Result<StorageRecord> {
    if let Some(r) = store.storage()? {
        return Ok(r);
    }
    let r = if store.has_directory_layers()? {
        StorageRecord {
            driver: StorageDriver::Overlay,
            reason: "the store already held unpacked layers".into(),
        }
    } else {
        match pocky_fs::probe_erofs(&store.layout().tmp()) {
            Ok(()) => StorageRecord {
                driver: StorageDriver::Erofs,
                reason: "this kernel mounts EROFS image files".into(),
            },
            Err(e) => StorageRecord {
                driver: StorageDriver::Overlay,
                reason: format!("EROFS image files cannot be mounted here: {e}"),
            },
        }
    };
    store.set_storage(&r)?;
    Ok(r)
}

/// `--storage-driver`: makes `driver` the store's driver for new layers
/// (layers already stored keep their form and keep working). EROFS is
/// refused where the kernel cannot mount EROFS image files.
pub fn select(store: &Store, driver: StorageDriver) -> crate::Result<()> {
    if store.storage()?.is_some_and(|r| r.driver == driver) {
        return Ok(());
    }
    if driver == StorageDriver::Erofs {
        pocky_fs::probe_erofs(&store.layout().tmp()).map_err(|e| {
            crate::invalid!(
                "storage driver erofs: this kernel cannot mount EROFS image files (Linux 6.12 or later, as root): {e}"
            )
        })?;
    }
    store.set_storage(&StorageRecord {
        driver,
        reason: "chosen with --storage-driver".into(),
    })?;
    Ok(())
}

/// The layer store's driver, for `system info` (decided now if it was
/// not yet).
pub fn info(store: &Store) -> crate::Result<StorageInfo> {
    let r = record(store)?;
    Ok(StorageInfo {
        driver: r.driver,
        reason: r.reason,
    })
}

/// The lower layers of `image`, top-most first, in the form each has.
pub fn lowers(store: &Store, image: &ImageRecord) -> Result<Vec<Lower>> {
    image
        .chain_ids
        .iter()
        .rev()
        .map(|chain| {
            Ok(match store.layer(chain)? {
                LayerPath::Dir(p) => Lower::Dir(p),
                LayerPath::Erofs(p) => Lower::Erofs(p),
            })
        })
        .collect()
}

/// Unpacks a layer blob into a fresh staging area in the store's form.
/// The caller checks the diff id and commits the layer.
pub(crate) fn unpack(store: &Store, blob: impl Read + Send) -> Result<(Staging, Unpacked)> {
    let driver = driver(store)?;
    let staging = store.stage_layer(driver)?;
    let limits = UnpackLimits::default();
    let unpacked = match driver {
        StorageDriver::Overlay => {
            pocky_fs::unpack_layer(blob, &pocky_store::staging_diff_dir(&staging), &limits)?
        }
        StorageDriver::Erofs => {
            let path = pocky_store::staging_image(&staging);
            let mut file = std::fs::File::create_new(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            pocky_fs::unpack_layer_erofs(blob, &mut file, now, &limits)?
        }
    };
    Ok((staging, unpacked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pocky_store::{LayerRecord, sha256_of};

    #[test]
    fn a_store_of_unpacked_layers_stays_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let staging = store.stage_layer(StorageDriver::Overlay).unwrap();
        std::fs::write(pocky_store::staging_diff_dir(&staging).join("f"), b"x").unwrap();
        let rec = LayerRecord {
            chain_id: sha256_of(b"old"),
            diff_id: sha256_of(b"old"),
            size: 1,
        };
        store.commit_layer(staging, &rec).unwrap();
        assert_eq!(driver(&store).unwrap(), StorageDriver::Overlay);
        let info = info(&store).unwrap();
        assert!(
            info.render().starts_with("Storage Driver: overlay\n"),
            "{info:?}"
        );
        // Switching is allowed; the old layer keeps its form.
        select(&store, StorageDriver::Overlay).unwrap();
        assert!(matches!(
            store.layer(&rec.chain_id).unwrap(),
            LayerPath::Dir(_)
        ));
    }
}
