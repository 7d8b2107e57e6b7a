//! The crate's one error type.

use std::io;

/// Everything that can go wrong reading or writing an archive.
///
/// Strings that come from the archive (paths, tags, digests) are passed
/// through `shown` first (quoted, escaped, cut short), so a hostile name cannot break the message over
/// several lines or fill a terminal.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("malformed tar stream: {0}")]
    Tar(String),
    #[error("archive entry {path} ends early: {got} of {expected} bytes (truncated archive?)")]
    Truncated {
        path: String,
        expected: u64,
        got: u64,
    },
    #[error("archive entry {path} refused: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("link {path} refused: {reason}")]
    Link { path: String, reason: String },
    #[error("archive entry {path} appears twice with different content")]
    Duplicate { path: String },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: more than the limit of {limit}")]
    TooMany { what: &'static str, limit: u64 },
    #[error("{what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} has the wrong size: descriptor says {expected}, content is {actual} bytes")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "layer {index} ({path}) does not match the config's diff_id: expected {expected}, got {actual}"
    )]
    DiffIdMismatch {
        index: usize,
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{path} is named by {wanted_by} but is not in the archive")]
    Missing { path: String, wanted_by: String },
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("invalid digest {digest}: expected sha256:<64 lowercase hex>")]
    InvalidDigest { digest: String },
    #[error("invalid image name {name}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("not an image archive: {0}")]
    UnknownFormat(&'static str),
    #[error("no image for platform {wanted} in index {index}; available: {available}")]
    NoPlatform {
        wanted: String,
        index: String,
        available: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("blob {digest} from the store: {source}")]
    BlobSource {
        digest: String,
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> ArchiveError {
        ArchiveError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> ArchiveError {
        ArchiveError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Quotes a string from the archive for an error message: control
/// characters escaped, cut to a length a terminal can show.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 160;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Like [`shown`] for raw bytes that may not be UTF-8.
pub(crate) fn shown_bytes(b: &[u8]) -> String {
    shown(&String::from_utf8_lossy(b))
}
