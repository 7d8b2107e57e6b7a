//! Safe layer unpacking, overlay rootfs and pivot_root for pocky.
//!
//! [`unpack`]: streaming, hostile-input-safe extraction of OCI image layers
//! into directories that later serve as overlayfs lower layers.
//!
//! [`pack`]: a tar of a tree, read with fd-relative calls that never follow
//! a symlink (`pocky cp`); [`unpack_archive`] is its hostile-input-safe
//! inverse.
//!
//! [`layer_pack`]: OCI layer tars of overlay upper directories
//! ([`pack_layer`]) and of whole trees ([`pack_tree`]), read with the same
//! walker as [`pack()`]; [`LayerWriter`] compresses and hashes them.
//!
//! [`changes`]: what a container's overlay upper directory changed over
//! the image's layers (`pocky diff`).
//!
//! [`rootfs`]: in the container's child, before exec, the overlay mount, the
//! spec's mounts resolved inside the rootfs, `/dev`, and `pivot_root`; plus
//! the default mount list and the `/etc` files pocky writes per container.

pub mod changes;
mod error;
pub mod layer_pack;
pub mod layer_writer;
pub mod pack;
pub mod rootfs;
pub mod unpack;
mod walk;

pub use changes::{Change, ChangeKind, changes};
pub use error::FsError;
pub use layer_pack::{PackedLayer, pack_layer, pack_layer_skipping, pack_tree, pack_tree_at};
pub use layer_writer::{Compression, GZIP_LEVEL, LayerDigests, LayerWriter, ZSTD_LEVEL};
pub use pack::{Packed, pack};
pub use rootfs::{
    CreateKind, Lower, Overlay, Prepared, create_in_root, default_masked_paths, default_mounts,
    default_readonly_paths, enter_rootfs, finish_rootfs, hosts_file, mount_erofs, mount_overlay,
    mount_overlay_ro, open_in_root, prepare_rootfs, prepare_rootfs_early, probe_erofs, resolv_conf,
    setup_rootfs,
};
pub use unpack::{
    ArchiveOptions, Decompressed, UnpackLimits, Unpacked, decompress, unpack_archive, unpack_layer,
    unpack_layer_erofs,
};
