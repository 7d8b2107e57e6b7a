use std::path::PathBuf;

/// What can go wrong setting up or using a rootless session.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    /// A directory or file of the session could not be used.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A directory exists but belongs to someone else or is not private.
    #[error("refusing {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    /// Neither `$XDG_DATA_HOME` nor `$HOME` says where the user's state goes.
    #[error("no home directory for uid {uid}: set HOME or XDG_DATA_HOME, or pass --root")]
    NoHome { uid: u32 },
    /// The user has no subordinate ids to map.
    #[error(
        "rootless pocky needs a subordinate {kind} range for user {user} (uid {uid}) in {file}: \
         as root, run `usermod --add-sub{kind}s 100000-165535 {user}` (any free range)"
    )]
    NoRanges {
        kind: &'static str,
        user: String,
        uid: u32,
        file: &'static str,
    },
    /// A setuid helper is not installed.
    #[error("rootless pocky needs {helper} (Debian package {package}), which is not installed")]
    MissingHelper {
        helper: &'static str,
        package: &'static str,
    },
    /// A helper ran and failed.
    #[error("{helper} failed: {message}")]
    Helper {
        helper: &'static str,
        message: String,
    },
    /// The namespace holder could not be made or joined.
    #[error("the user namespace: {0}")]
    Holder(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::errno::Errno,
    },
}

impl RootlessError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    pub(crate) fn sys(op: &'static str) -> impl FnOnce(nix::errno::Errno) -> Self {
        move |source| Self::Sys { op, source }
    }
}

pub type Result<T, E = RootlessError> = std::result::Result<T, E>;
