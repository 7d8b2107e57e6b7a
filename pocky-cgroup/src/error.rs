//! The crate's one error type. Every variant names the file or directory it
//! concerns, because "Device or resource busy" alone never says which of a
//! dozen controller directories refused.

use std::path::PathBuf;

/// Errors of cgroup handling.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// `statfs` on the cgroup root failed.
    #[error("inspecting cgroup root {path}: {source}")]
    Detect {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    /// The cgroup root is neither a cgroup2 mount nor a tmpfs of v1 mounts.
    #[error("{path} is not a cgroup hierarchy (filesystem magic {magic:#x})")]
    UnknownHierarchy { path: PathBuf, magic: i64 },
    /// A v1 host without a single controller mount under the root.
    #[error("no cgroup v1 controller is mounted under {path}")]
    NoControllers { path: PathBuf },
    /// A cgroup path that would leave the hierarchy (`..`) or is empty.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A limit the kernel would accept but that makes no sense for a
    /// container (for example a memory limit of zero bytes).
    #[error("invalid {limit} limit {value}: {reason}")]
    InvalidLimit {
        limit: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// A device rule that does not parse.
    #[error("invalid device rule {rule:?}: {reason}")]
    InvalidDeviceRule { rule: String, reason: &'static str },
    /// A limit or operation needs a controller the host does not offer.
    #[error("cgroup controller {controller} is not available ({path})")]
    MissingController {
        controller: &'static str,
        path: PathBuf,
    },
    /// An operation the hierarchy version cannot do (yet).
    #[error("{what} is not supported on cgroup {version}")]
    Unsupported {
        what: &'static str,
        version: &'static str,
    },
    /// Loading or attaching the v2 device program failed.
    #[error("{op}: {detail}")]
    Bpf { op: &'static str, detail: String },
    /// Creating a cgroup directory failed.
    #[error("creating {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading a control file failed.
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The control file does not exist: this kernel or controller has no
    /// such setting (blkio.weight without the BFQ scheduler, say).
    #[error(
        "{path}: this host's kernel does not offer that setting (the controller lacks it here)"
    )]
    NoSuchSetting { path: PathBuf },
    /// Writing a control file failed.
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    /// A control file held something other than what the kernel documents.
    #[error("parsing {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    /// Removing a cgroup directory failed (still busy after retries, or
    /// another error).
    #[error("removing {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Sending a signal to a task of the cgroup failed.
    #[error("signalling pid {pid} of cgroup {cgroup}: {source}")]
    Signal {
        pid: i32,
        cgroup: String,
        source: nix::errno::Errno,
    },
    /// The freezer did not reach the wanted state.
    #[error("{path} did not become {wanted} (last state {last:?})")]
    Freeze {
        path: PathBuf,
        wanted: &'static str,
        last: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
