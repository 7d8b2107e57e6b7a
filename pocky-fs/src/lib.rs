//! Safe layer unpacking, overlay rootfs and pivot_root for pocky.
//!
//! Today this crate holds [`unpack`]: streaming, hostile-input-safe
//! extraction of OCI image layers into directories that later serve as
//! overlayfs lower layers. Overlay rootfs assembly and `pivot_root` will live
//! beside it as their own modules.

mod error;
pub mod unpack;

pub use error::FsError;
pub use unpack::{UnpackLimits, Unpacked, unpack_layer};
