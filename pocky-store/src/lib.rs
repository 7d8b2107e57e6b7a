//! The on-disk state of pocky under its root directory (`--root`).
//!
//! ```text
//! state.lock            exclusive lock for every change of records
//! gc.lock               shared by pulls in flight, exclusive for collection
//! blobs/sha256/<hex>    manifests, configs and compressed layers, verified
//!                       before they are written
//! layers/<hex>/         one layer per chain id: layer.json + diff/ (overlay
//!                       driver) or layer.erofs (EROFS driver)
//! storage.json          the driver new layers are written with
//! images/<hex>.json     image records, keyed by config digest
//! containers/<id>/      container.json, the OCI bundle, overlay dirs, log,
//!                       volumes.json (the volumes it uses)
//! volumes/<name>/       volume.json + _data/ (what containers mount)
//! build-cache/<hex>     the image id a build step made, by cache key
//! tmp/                  staging directories and trash
//! events.log[.1]        what happened, one JSON line each (bounded, rotated)
//! ```
//!
//! Records are replaced atomically (temp file, fsync, rename) under the
//! state lock. Larger artefacts are built in `tmp/` and renamed into place,
//! so a SIGKILL at any point leaves either nothing or a whole object, plus
//! scratch that the next [`Store::open`] removes. Compressed layer blobs are
//! kept beside the unpacked layers, so push and save hand out the very
//! bytes (and digests) an image came with (see docs/IMAGES.md).

mod atomic;
mod blobs;
mod build_cache;
mod container_store;
mod containers;
mod digest;
mod error;
mod events;
mod gc;
mod health;
pub use gc::Collected;
pub use health::{Health, HealthConfig, HealthResult, HealthStatus};
mod images;
mod layers;
mod layout;
mod lock;
mod spread;
mod staging;
mod storage;
mod store;
mod volumes;

pub use atomic::{write_atomic, write_derived};
pub use blobs::BlobWriter;
pub use containers::{
    BrokenContainer, ContainerRecord, ContainerState, ContainerStore, HostFlags, LogConfig, Status,
};
pub use digest::{chain_ids, sha256_hex, sha256_of};
pub use error::{Result, StoreError};
pub use events::{EVENT_MAX_LINE, EVENTS_MAX_BYTES};
pub use images::{BrokenImage, ImageQuery, ImageRecord, ImageStore};
pub use layers::{
    LayerPath, LayerRecord, LayerStore, StorageDriver, staging_diff_dir, staging_image,
};
pub use layout::Layout;
pub use lock::FileLock;
pub use staging::Staging;
pub use storage::StorageRecord;
pub use store::Store;
pub use volumes::{LOCAL_DRIVER, VolumeClaim, VolumeRecord, check_volume_name};

/// A name no other process or thread will pick: pid, time and a counter.
pub(crate) fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
