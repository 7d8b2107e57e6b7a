//! The crate's error type.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::namespace::Namespace;

/// Errors of namespace and process handling.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error(
        "fork from a multithreaded process ({threads} threads): pocky must spawn before starting threads"
    )]
    NotSingleThreaded { threads: usize },
    #[error("reading thread count from /proc/self/status: {0}")]
    ThreadCount(std::io::Error),
    #[error("invalid namespace configuration: {0}")]
    Config(String),
    #[error("opening {ns} namespace file {}: {source}", path.display())]
    OpenNs {
        ns: Namespace,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("joining {ns} namespace {}: {source}", path.display())]
    Join {
        ns: Namespace,
        path: PathBuf,
        source: Errno,
    },
    #[error("clone: {0}")]
    Clone(Errno),
    #[error("writing the user namespace's id map {}: {source}", path.display())]
    IdMap {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parent/child channel: {op}: {source}")]
    Channel { op: &'static str, source: Errno },
    #[error("parent/child channel: malformed message: {0}")]
    Protocol(String),
    #[error("container process failed at {stage}: {message}")]
    Child {
        stage: String,
        errno: i32,
        message: String,
        exit_code: i32,
    },
    #[error("container process {pid} exited before {during} without a message")]
    Vanished { pid: i32, during: &'static str },
    #[error("waiting for pid {pid}: {source}")]
    Wait { pid: i32, source: Errno },
    #[error("pty: {op}: {source}")]
    Pty { op: &'static str, source: Errno },
    #[error("signal handling: {op}: {source}")]
    Signal { op: &'static str, source: Errno },
}
