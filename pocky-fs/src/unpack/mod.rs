//! Streaming, hostile-input-safe unpacking of OCI image layers.
//!
//! One pass over the blob: detect the compression from magic bytes,
//! decompress, hash the decompressed stream (the layer's diff_id), and
//! create each entry beneath `dest` with fd-relative syscalls. Nothing is
//! copied to a temporary file.
//!
//! # Safety against hostile layers
//!
//! - Every entry's parent directory is opened with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)` from a descriptor of `dest`, and the final
//!   component is created with `*at` calls relative to it, `O_NOFOLLOW` /
//!   `AT_SYMLINK_NOFOLLOW` throughout. A symlink an earlier entry planted is
//!   never followed; an entry that needs to pass through one is an error.
//! - Absolute names (`/etc/passwd`) and `./` prefixes are relative to
//!   `dest`, as Docker treats them. `..` components are an error anywhere.
//! - An entry replaces what an earlier entry put at its name (a directory is
//!   kept only for a new directory, else removed recursively, fd-relative).
//! - Hardlinks must point at an existing non-directory inside the layer.
//! - Device nodes are refused, except the 0:0 character device that is an
//!   overlayfs whiteout.
//! - Sizes are bounded by [`UnpackLimits`]; paths by PATH_MAX (4096).
//!
//! Known limit: the tar crate buffers PAX and GNU long-name headers in
//! memory, bounded only by `max_bytes`.
//!
//! On error, `dest` holds a partial layer that the caller must remove;
//! nothing outside it has been touched.

pub(crate) mod compression;
mod create;
mod dir_sink;
mod dirfd;
mod entry_path;
mod erofs_sink;
mod hashing;
mod metadata;
mod read_ahead;
mod sink;
mod whiteout;

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::FsError;
use compression::Decoder;
pub use compression::{Decoder as Decompressed, decompress};
use create::{Ctx, Flavour};
use dir_sink::DirSink;
use erofs_sink::ErofsSink;
use hashing::HashingReader;
use sink::Sink;

/// Bounds on what one layer may expand to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most decompressed (tar) bytes, trailing data included.
    pub max_bytes: u64,
    /// Most tar entries.
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 30,
            max_entries: 4_000_000,
        }
    }
}

/// What unpacking one layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `sha256:<hex>` of the whole decompressed stream, to compare with the
    /// image config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// Length of the decompressed stream.
    pub tar_bytes: u64,
    /// Tar entries seen (extension headers folded into their entry).
    pub entries: u64,
    /// Sum of regular-file sizes written.
    pub file_bytes: u64,
    /// Device nodes of the layer that were left out.
    pub skipped_devices: u64,
}

/// Unpacks the layer blob `reader` (gzip, zstd or plain tar) into the
/// existing, empty directory `dest`, converting OCI whiteouts to overlayfs
/// whiteouts so that `dest` can serve as an overlay lower directory.
///
/// Reads `reader` to EOF. The caller verifies `diff_id` and removes `dest`
/// on error.
pub fn unpack_layer<R: Read + Send>(
    reader: R,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<Unpacked, FsError> {
    let root = open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::OpenDest {
        path: dest.to_owned(),
        source: e.into(),
    })?;
    let ctx = Ctx::new(DirSink::new(root), Flavour::Layer);
    read_ahead::decompressed_ahead(reader, |plain| {
        unpack_decoded(plain, ctx, limits, DirSink::finish)
    })
}

/// Unpacks the layer blob `reader` into one EROFS image written from the
/// start of `image` (an empty file), with the same rules as
/// [`unpack_layer`]: the image mounted as an overlay lower layer shows
/// what the unpacked directory would. File data is written as it streams
/// in; directories and inodes at the end. `build_time` (seconds since the
/// epoch) dates the image and the directories a path implies.
///
/// Reads `reader` to EOF. The caller verifies `diff_id` and removes the
/// file on error.
pub fn unpack_layer_erofs<R: Read + Send>(
    reader: R,
    image: &mut std::fs::File,
    build_time: i64,
    limits: &UnpackLimits,
) -> Result<Unpacked, FsError> {
    let ctx = Ctx::new(ErofsSink::new(image, build_time)?, Flavour::Layer);
    read_ahead::decompressed_ahead(reader, |plain| {
        unpack_decoded(plain, ctx, limits, |sink| sink.finish().map(drop))
    })
}

/// How [`unpack_archive`] treats an archive that is plain files, not a
/// layer (`pocky cp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveOptions {
    pub limits: UnpackLimits,
    /// Owner (uid, gid) of every entry instead of the archive's own.
    pub owner: Option<(u32, u32)>,
}

/// Unpacks a tar (gzip, zstd or plain) beneath the directory `dest`, with
/// the same resolution rules as [`unpack_layer`] but none of a layer's
/// meanings: `.wh.` names are ordinary files, every device node is left
/// out (a 0:0 one too: in a container's merged view it would hide a file),
/// and extended attributes are not applied (a hostile archive could carry
/// `security.capability` or overlayfs's own `trusted.overlay.*`).
///
/// `dest` may be an `O_PATH` descriptor. On error, what was unpacked so
/// far stays; nothing outside `dest` has been touched.
pub fn unpack_archive<R: Read>(
    reader: R,
    dest: &impl AsFd,
    options: &ArchiveOptions,
) -> Result<Unpacked, FsError> {
    let root = dest
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| FsError::OpenDest {
            path: ".".into(),
            source,
        })?;
    let ctx = Ctx::new(
        DirSink::new(root),
        Flavour::Archive {
            owner: options.owner,
        },
    );
    unpack_stream(reader, ctx, &options.limits, DirSink::finish)
}

fn unpack_stream<R: Read, S: Sink>(
    reader: R,
    ctx: Ctx<S>,
    limits: &UnpackLimits,
    finish: impl FnOnce(S) -> Result<(), FsError>,
) -> Result<Unpacked, FsError> {
    let decoder = Decoder::detect(reader).map_err(|source| FsError::Read { source })?;
    unpack_decoded(decoder, ctx, limits, finish)
}

/// [`unpack_stream`] of an already decompressed stream.
fn unpack_decoded<R: Read, S: Sink>(
    decoded: R,
    ctx: Ctx<S>,
    limits: &UnpackLimits,
    finish: impl FnOnce(S) -> Result<(), FsError>,
) -> Result<Unpacked, FsError> {
    let mut tap = HashingReader::new(decoded, limits.max_bytes);
    let over = |tap: &HashingReader<_>, e| {
        if tap.exceeded() {
            FsError::TooLarge {
                limit: limits.max_bytes,
            }
        } else {
            e
        }
    };
    let counts = unpack_entries(&mut tap, ctx, limits, finish);
    let (entries, file_bytes, skipped_devices) = counts.map_err(|e| over(&tap, e))?;
    // Whatever follows the end-of-archive blocks is part of the diff_id too,
    // and the blob reader must reach EOF for its own digest check.
    let drained = io::copy(&mut tap, &mut io::sink());
    drained.map_err(|source| over(&tap, FsError::Read { source }))?;
    let tar_bytes = tap.total();
    Ok(Unpacked {
        diff_id: tap.digest(),
        tar_bytes,
        entries,
        file_bytes,
        skipped_devices,
    })
}

fn unpack_entries<R: Read, S: Sink>(
    tap: &mut R,
    mut ctx: Ctx<S>,
    limits: &UnpackLimits,
    finish: impl FnOnce(S) -> Result<(), FsError>,
) -> Result<(u64, u64, u64), FsError> {
    let read = |source| FsError::Read { source };
    let mut archive = tar::Archive::new(tap);
    let mut entries = 0u64;
    let mut file_bytes = 0u64;
    for entry in archive.entries().map_err(read)? {
        let mut entry = entry.map_err(read)?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(FsError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        file_bytes += ctx.unpack_entry(&mut entry)?;
    }
    let skipped = ctx.skipped_devices;
    finish(ctx.sink)?;
    Ok((entries, file_bytes, skipped))
}
