//! The one error type of this crate.

use std::io;

/// Everything that can go wrong while talking to a registry.
///
/// URLs carried here never include a query string (pre-signed CDN URLs put
/// their signatures there) and no variant carries a credential or token.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },

    #[error("invalid platform {platform:?}: {reason}")]
    InvalidPlatform { platform: String, reason: String },

    #[error("docker config {path}: {reason}")]
    DockerConfig {
        path: std::path::PathBuf,
        reason: String,
    },

    #[error("building the HTTP client: {reason}")]
    Setup { reason: String },

    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },

    #[error("{url}: gave up after {attempts} attempts, last error: {last}")]
    RetriesExhausted {
        url: String,
        attempts: u32,
        last: String,
    },

    #[error("{url}: registry answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },

    #[error("{registry}: authentication failed: {reason}")]
    Auth { registry: String, reason: String },

    #[error("credential helper {helper}: {reason}")]
    CredentialHelper { helper: String, reason: String },

    #[error("pushing blob {digest} to {repository}: {reason}")]
    Upload {
        repository: String,
        digest: String,
        reason: String,
    },

    #[error("{url}: {reason}")]
    Redirect { url: String, reason: String },

    #[error("manifest {reference}: {reason}")]
    InvalidManifest { reference: String, reason: String },

    #[error("manifest {reference} is larger than the {max}-byte limit")]
    ManifestTooLarge { reference: String, max: u64 },

    #[error(
        "manifest {reference}: body says media type {body:?} but the registry sent Content-Type {content_type:?}"
    )]
    MediaTypeMismatch {
        reference: String,
        content_type: String,
        body: String,
    },

    #[error(
        "manifest {reference} is a Docker schema1 manifest, which pocky does not support (deprecated format; push the image again with a current Docker or use an OCI image)"
    )]
    Schema1 { reference: String },

    #[error("{what} {expected}: content hashes to {actual}")]
    DigestMismatch {
        what: &'static str,
        expected: String,
        actual: String,
    },

    #[error("{what} {digest}: size is {actual} bytes, expected {expected}")]
    SizeMismatch {
        what: &'static str,
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("no image for platform {wanted} in {reference}; available platforms: {available}")]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },

    #[error(
        "layer {digest} of {reference} is a foreign (non-distributable) layer ({media_type}); pocky cannot download it"
    )]
    ForeignLayer {
        reference: String,
        digest: String,
        media_type: String,
    },

    #[error("{what} {digest} is {size} bytes, above the {max}-byte limit")]
    TooLarge {
        what: &'static str,
        digest: String,
        size: u64,
        max: u64,
    },

    #[error("image config {digest}: {reason}")]
    InvalidConfig { digest: String, reason: String },

    #[error("reading {what} from {url}: {source}")]
    Io {
        what: &'static str,
        url: String,
        #[source]
        source: io::Error,
    },
}

pub(crate) type Result<T, E = RegistryError> = std::result::Result<T, E>;
