//! The types callers hand in and get back.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;

/// A content descriptor of a blob the caller holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// One image to save, as the store holds it.
#[derive(Debug, Clone)]
pub struct SaveImage {
    /// Familiar names as Docker prints them (`busybox:latest`,
    /// `localhost:5000/a/b:1`); empty for an untagged image.
    pub names: Vec<String>,
    pub manifest_digest: String,
    pub manifest_bytes: Vec<u8>,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub config_bytes: Vec<u8>,
    /// The manifest's layers, in order: the blobs exactly as pulled.
    pub layers: Vec<Descriptor>,
}

/// Where [`write_archive`](crate::write_archive) gets layer blobs from.
pub trait BlobSource {
    /// Opens the blob with this digest (`sha256:<hex>`). What it yields is
    /// checked against the layer's descriptor while it is written.
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>>;
}

/// Which layout an archive was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `manifest.json` (written by `docker save`, `skopeo copy docker-archive:`).
    DockerArchive,
    /// An OCI image layout (`index.json`, `oci-layout`, `blobs/`) in a tar.
    OciArchive,
}

/// What an archive held, every byte of it verified.
#[derive(Debug, Clone)]
pub struct Archive {
    pub format: Format,
    pub images: Vec<LoadedImage>,
}

/// One image of an archive.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Names as the archive gives them: familiar `RepoTags` for a
    /// docker-archive, full references from the index annotations for an
    /// oci-archive. Checked for hostile strings but not normalised.
    pub names: Vec<String>,
    pub config_digest: String,
    pub config_bytes: Vec<u8>,
    /// The manifest as stored: only an oci-archive carries one (a
    /// docker-archive's image is defined by its config alone).
    pub manifest: Option<LoadedManifest>,
    pub layers: Vec<LoadedLayer>,
}

#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub digest: String,
    pub bytes: Vec<u8>,
    pub media_type: String,
}

/// A layer copied into the caller's scratch directory.
#[derive(Debug, Clone)]
pub struct LoadedLayer {
    /// The file in scratch. Several layers may share one file.
    pub path: PathBuf,
    /// sha256 of the file as stored (compressed, if it is).
    pub digest: String,
    pub size: u64,
    /// From the manifest (oci-archive), or from the content's magic bytes
    /// (docker-archive): an OCI layer type, `tar`, `tar+gzip` or `tar+zstd`.
    pub media_type: String,
    /// sha256 of the uncompressed tar, checked against the config.
    pub diff_id: String,
}

/// The platform to pick from a multi-platform index inside an oci-archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// `None` accepts any variant.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
