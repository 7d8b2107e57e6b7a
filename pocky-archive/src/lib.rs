//! Image archives: `docker save` / `docker load` tars and OCI archives,
//! turned into verified blobs and back. This crate knows nothing of
//! pocky's store; the engine hands it blobs to write and takes the files it
//! reads out of a scratch directory.
//!
//! # Formats
//!
//! - **docker-archive**: `manifest.json` lists images as
//!   `{"Config": path, "RepoTags": [...], "Layers": [paths]}`. Old
//!   `docker save` and skopeo write `<id>.json` configs and
//!   `<id>/layer.tar` layers, with symlinks for shared layers; Docker 25+
//!   points at `blobs/sha256/<hex>`. Layers carry no media type: their
//!   compression is read from magic bytes, and each is checked against the
//!   config's `rootfs.diff_ids`.
//! - **oci-archive**: an OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/sha256/`) in a tar. An index entry that is itself an index is
//!   resolved by [`Platform`].
//!
//! [`write_archive`] writes what Docker 25+ writes: one tar that is both.
//! Its `manifest.json` points at the layer blobs as pulled, compressed.
//! containers/image (skopeo, podman) decompresses docker-archive layers by
//! magic bytes (`docker/internal/tarfile`'s `GetBlob` runs
//! `compression.AutoDecompress` and computes the uncompressed size for its
//! synthesised manifest), and Docker's loader does the same; the tests
//! have skopeo (1.9) copy our archives with gzip and with zstd layers. So
//! no uncompressed copy is written: an archive costs the compressed size
//! once, and saving needs no temporary file or second decompression pass.
//!
//! [`read_archive`] takes plain, gzip or zstd tar and picks the format:
//! `manifest.json` present means docker-archive, else `index.json` with
//! `oci-layout` means oci-archive.
//!
//! # Hostile input
//!
//! An archive is treated as hostile:
//! - it is read once, streaming; no path is ever created from an entry
//!   name. Regular files go into the caller's scratch directory under
//!   names of our own (`entry-NNNNNN`), hashed while written; the small
//!   JSON files stay in memory, each bounded before it is read;
//! - entry names with `..`, a leading `/`, NUL or invalid UTF-8 refuse the
//!   whole archive, as do entries of types no image archive holds
//!   (devices, FIFOs) and a name given twice with different content;
//! - symlinks and hardlinks are resolved lexically inside the archive's
//!   own namespace, never on the host; one that climbs above the top or
//!   loops refuses the archive, whether or not a manifest names it;
//! - every blob under `blobs/sha256/` must hash to its name, every
//!   descriptor's digest and size must match, every layer must decompress
//!   to its diff_id, and the counts of layers and diff_ids must agree;
//! - [`Limits`] bounds entry counts, layers, metadata sizes, the tar
//!   stream and the decompressed layers;
//! - tags are passed through as strings but refused with control
//!   characters, whitespace or over 255 bytes.
//!
//! On error nothing is returned. The scratch directory may then hold
//! partial files: **the caller removes it** (it owns it either way).

mod compression;
mod digest;
mod docker;
mod error;
mod limits;
mod links;
mod names;
mod oci;
mod read;
mod types;
mod verify;
mod write;

use std::io::Read;
use std::path::Path;

pub use error::ArchiveError;
pub use limits::Limits;
pub use types::{
    Archive, BlobSource, Descriptor, Format, LoadedImage, LoadedLayer, LoadedManifest, Platform,
    SaveImage,
};
pub use write::write_archive;

/// Reads an archive, choosing from a multi-platform index by the default
/// platform (linux/amd64). See [`read_archive_for`].
pub fn read_archive(
    input: impl Read,
    scratch: &Path,
    limits: &Limits,
) -> Result<Archive, ArchiveError> {
    read_archive_for(input, scratch, limits, &Platform::default())
}

/// Reads a docker-archive or oci-archive from `input`, copying its files
/// into `scratch` (an existing directory the caller owns and removes) and
/// verifying every one of them before anything is returned.
pub fn read_archive_for(
    input: impl Read,
    scratch: &Path,
    limits: &Limits,
    platform: &Platform,
) -> Result<Archive, ArchiveError> {
    let meta = std::fs::symlink_metadata(scratch)
        .map_err(|e| ArchiveError::io(format!("scratch directory {}", scratch.display()), e))?;
    if !meta.is_dir() {
        return Err(ArchiveError::invalid(
            format!("scratch directory {}", scratch.display()),
            "is not a directory",
        ));
    }
    let collected = read::collect(input, scratch, limits)?;
    let mut v = verify::Verifier::new(&collected.ns, limits);
    let small = |k: &str| collected.small.get(k).map(Vec::as_slice);
    // Both layouts in one archive (Docker 25's `save`, pocky's): the OCI
    // side keeps the manifest the image came with, so its digest survives
    // a save and load; manifest.json still names images the index leaves
    // unnamed.
    if let (Some(index), Some(layout)) = (small("index.json"), small("oci-layout")) {
        let mut images = oci::load(layout, index, platform, &mut v)?;
        if let Some(m) = small("manifest.json") {
            let names = docker::names_by_config(m, &v)?;
            for image in images.iter_mut().filter(|i| i.names.is_empty()) {
                if let Some(n) = names.get(&image.config_digest) {
                    image.names.clone_from(n);
                }
            }
        }
        return Ok(Archive {
            format: Format::OciArchive,
            images,
        });
    }
    match small("manifest.json") {
        Some(m) => {
            let images = docker::load(m, &mut v)?;
            Ok(Archive {
                format: Format::DockerArchive,
                images,
            })
        }
        _ => Err(ArchiveError::UnknownFormat(
            "neither manifest.json nor index.json with oci-layout at its top",
        )),
    }
}
