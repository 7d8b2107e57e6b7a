use std::path::PathBuf;

/// Errors of the on-disk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("record {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    BadDigest(String),
    #[error("blob {expected} failed verification: content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {0} is not in the store")]
    NoSuchBlob(String),
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error("image reference {query:?} is ambiguous: it matches {count} images")]
    Ambiguous { query: String, count: usize },
    #[error("unable to remove image {image}: it is used by container {container}")]
    ImageInUse { image: String, container: String },
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("container {id} has an unreadable record ({reason})")]
    BrokenContainer { id: String, reason: String },
    #[error("image {id} has an unreadable record ({reason})")]
    BrokenImage { id: String, reason: String },
    #[error("the container name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },
    #[error("no such volume: {0}")]
    NoSuchVolume(String),
    #[error(
        "{0:?} includes invalid characters for a local volume name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    )]
    BadVolumeName(String),
    #[error("remove {name}: volume is in use - [{containers}]")]
    VolumeInUse { name: String, containers: String },
    #[error("locking {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
