use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Variants about a layer entry carry the entry's name as written in the tar
/// (lossily decoded), so a user can find it in the offending image.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The destination directory could not be opened.
    #[error("cannot open unpack destination {path}: {source}")]
    OpenDest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The layer stream could not be read or decompressed, or the tar is
    /// malformed.
    #[error("reading layer stream: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    /// The decompressed layer is larger than the configured limit.
    #[error("layer expands beyond the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The layer holds more entries than the configured limit.
    #[error("layer has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    /// An entry name (or hardlink target) is longer than PATH_MAX.
    #[error("entry {entry} has a path of {len} bytes, longer than 4096")]
    PathTooLong { entry: String, len: usize },
    /// An entry name or hardlink target contains a `..` component.
    #[error("entry {entry} has a `..` component")]
    DotDot { entry: String },
    /// Resolving an entry's parent met a symlink.
    #[error("entry {entry} passes through symlink {symlink}")]
    ThroughSymlink { entry: String, symlink: String },
    /// Resolving an entry's parent met something that is not a directory.
    #[error("entry {entry} passes through {component}, which is not a directory")]
    NotADirectory { entry: String, component: String },
    /// An entry that is not a directory names the layer root itself.
    #[error("entry {entry} names the layer root but is not a directory")]
    RootNotDirectory { entry: String },
    /// A `.wh.` whiteout whose target name is empty or only dots.
    #[error("malformed whiteout {entry}")]
    MalformedWhiteout { entry: String },
    /// A tar entry type pocky does not unpack.
    #[error("entry {entry} has unsupported tar type {kind:?}")]
    UnsupportedType { entry: String, kind: char },
    /// A hardlink or symlink entry without a target.
    #[error("link entry {entry} has no target")]
    MissingLinkTarget { entry: String },
    /// A hardlink whose target is not an acceptable file inside the layer.
    #[error("hardlink {entry} -> {target}: {reason}")]
    BadHardlink {
        entry: String,
        target: String,
        reason: String,
    },
    /// An entry's header fields cannot be parsed.
    #[error("entry {entry} has a malformed header: {source}")]
    BadHeader {
        entry: String,
        #[source]
        source: io::Error,
    },
    /// A PAX header that cannot be applied (e.g. an xattr name with NUL).
    #[error("entry {entry} has a malformed PAX header: {reason}")]
    BadPax { entry: String, reason: String },
    /// A filesystem operation on an entry failed.
    #[error("entry {entry}: {source}")]
    Erofs {
        entry: String,
        source: pocky_erofs::Error,
    },

    #[error("{op} {entry}: {source}")]
    Io {
        op: &'static str,
        entry: String,
        #[source]
        source: io::Error,
    },
    /// Writing an archive failed (the reader went away, the disk is full).
    #[error("writing the archive at {entry}: {source}")]
    Write {
        entry: String,
        #[source]
        source: io::Error,
    },
    /// A tree entry that an archive cannot express faithfully.
    #[error("cannot archive {entry}: {reason}")]
    Unarchivable { entry: String, reason: String },
    /// Compressing a layer or writing it out failed.
    #[error("writing the compressed layer: {source}")]
    Compress {
        #[source]
        source: io::Error,
    },
    /// A system call while preparing or entering a container's rootfs
    /// failed; `op` names the step.
    #[error("rootfs: {op} {path}: {source}")]
    Rootfs {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A path could not be resolved (or created) inside a root directory.
    #[error("cannot resolve {path} inside the container root: {source}")]
    Resolve {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A mount from the spec (or the overlay) failed.
    #[error("mount {fstype} {from} on {destination}: {source}")]
    Mount {
        fstype: String,
        from: String,
        destination: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The image's rootfs has an entry pocky refuses to mount over, such as
    /// `/proc` being a symlink that would carry a mount out of the rootfs.
    #[error("refusing rootfs: {path} {reason}")]
    UnsafeRootfs { path: PathBuf, reason: &'static str },
    /// An overlay layer path that cannot be written into overlayfs options.
    #[error("overlay path {path} {reason}")]
    OverlayPath { path: PathBuf, reason: &'static str },
    /// The overlay options stay too long even with paths relative to the
    /// lowers' common parent.
    #[error(
        "overlay options are {len} bytes even with relative paths; the kernel takes at most {limit}"
    )]
    OverlayOptionsTooLong { len: usize, limit: usize },
}
