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

/// Unpacked layers, shared by every image whose stack has the same chain id.
pub trait LayerStore {
    fn has_layer(&self, chain_id: &str) -> crate::Result<bool>;
    /// The directory overlayfs will use as a lower layer.
    fn layer_diff_dir(&self, chain_id: &str) -> crate::Result<std::path::PathBuf>;
    fn layer_record(&self, chain_id: &str) -> crate::Result<LayerRecord>;
    /// A fresh staging area; unpack into [`staging_diff_dir`].
    fn stage_layer(&self) -> crate::Result<Staging>;
    /// Records and moves the staged layer into place. Returns false when an
    /// identical layer got there first (the staged copy is discarded).
    fn commit_layer(&self, staging: Staging, record: &LayerRecord) -> crate::Result<bool>;
}

/// Where a staged layer's files go.
pub fn staging_diff_dir(staging: &Staging) -> std::path::PathBuf {
    staging.path().join("diff")
}
