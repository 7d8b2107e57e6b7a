use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::staging::Staging;

/// What the store knows of an unpacked layer. The record is written inside
/// the staging directory before it is renamed into place, so a layer
/// directory that exists is always complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    /// Bytes of file content.
    pub size: u64,
}

/// The form new layers take: an unpacked directory (`layers/<id>/diff/`,
/// stacked by overlayfs as is) or one EROFS image file
/// (`layers/<id>/layer.erofs`, mounted from the file on `layers/<id>/mnt/`
/// inside each container's own mount namespace at run time). A store
/// may hold both: a layer is read in the form it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDriver {
    Overlay,
    Erofs,
}

impl StorageDriver {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageDriver::Overlay => "overlay",
            StorageDriver::Erofs => "erofs",
        }
    }

    pub fn parse(s: &str) -> Option<StorageDriver> {
        match s {
            "overlay" | "overlay2" => Some(StorageDriver::Overlay),
            "erofs" => Some(StorageDriver::Erofs),
            _ => None,
        }
    }
}

/// A stored layer, in the form it has on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerPath {
    /// The directory overlayfs stacks.
    Dir(PathBuf),
    /// The EROFS image file to mount.
    Erofs(PathBuf),
}

impl LayerPath {
    pub fn path(&self) -> &Path {
        match self {
            LayerPath::Dir(p) | LayerPath::Erofs(p) => p,
        }
    }
}

/// Stored layers, shared by every image whose stack has the same chain id.
pub trait LayerStore {
    fn has_layer(&self, chain_id: &str) -> crate::Result<bool>;
    /// The one way to a stored layer's content, in whichever form it has.
    fn layer(&self, chain_id: &str) -> crate::Result<LayerPath>;
    fn layer_record(&self, chain_id: &str) -> crate::Result<LayerRecord>;
    /// A fresh staging area for a layer of the given form: write into
    /// [`staging_diff_dir`] (made here) or [`staging_image`].
    fn stage_layer(&self, driver: StorageDriver) -> crate::Result<Staging>;
    /// Records and moves the staged layer into place. Returns false when an
    /// identical layer got there first (the staged copy is discarded).
    fn commit_layer(&self, staging: Staging, record: &LayerRecord) -> crate::Result<bool>;
}

/// Where a staged layer's files go (overlay driver).
pub fn staging_diff_dir(staging: &Staging) -> PathBuf {
    staging.path().join("diff")
}

/// Where a staged layer's EROFS image goes (EROFS driver).
pub fn staging_image(staging: &Staging) -> PathBuf {
    staging.path().join(IMAGE_NAME)
}

pub(crate) const IMAGE_NAME: &str = "layer.erofs";
