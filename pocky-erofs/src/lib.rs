//! EROFS images for pocky's layer store.
//!
//! [`Builder`] writes one image in a single pass over a layer's entries:
//! each regular file's data goes to the image as it streams in, and the
//! tree (names, owners, modes, times, xattrs, whiteouts) is kept in memory
//! and laid out after the last entry. [`Image`] reads such an image back,
//! bounds-checked. The on-disk format, the subset of EROFS that pocky
//! writes, is described in [`format`].
//!
//! The crate knows nothing of tar or OCI: pocky-fs applies its entry
//! rules (names, links, whiteouts, sizes) and calls the builder.

pub mod format;
mod layout;
mod reader;
mod tree;
mod writer;

pub use reader::{DirEntry, Image, Node, Source, Xattrs};
pub use tree::{Meta, WalkFailure};
pub use writer::{Builder, NAME_MAX, Summary};

/// Errors of writing or reading an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// The entry stream failed (not the image).
    #[error("reading the entry's data: {0}")]
    Read(std::io::Error),
    #[error("a path cannot be followed ({0:?})")]
    Walk(WalkFailure),
    #[error("a hardlink's target cannot be followed ({0:?})")]
    LinkTarget(WalkFailure),
    #[error("a hardlink's target is a directory")]
    LinkToDirectory,
    #[error("invalid name {0:?}")]
    BadName(String),
    #[error("extended attribute {0:?} cannot be stored in an EROFS layer")]
    UnsupportedXattr(String),
    #[error("extended attribute {0:?} is too large for an EROFS layer")]
    XattrTooLarge(String),
    #[error("the layer is too large for an EROFS image")]
    TooLarge,
    #[error("damaged EROFS image: {0}")]
    Corrupt(&'static str),
}
