//! Runs OCI runtime bundles: the one code path behind `pocky run` and the
//! runc-compatible runtime binary.
//!
//! [`spec`] turns an image's config and `run` flags into a spec; [`launch`]
//! executes a spec: a child in new namespaces (pocky-ns) that sets up its
//! root filesystem (pocky-fs) and user, and waits in between for the parent
//! to place it in its cgroup (pocky-cgroup) and, later, wire its network.

pub mod console;
pub mod control;
pub mod create;
pub mod exec;
pub mod hooks;
pub mod init;
pub mod launch;
pub mod process;
pub mod resources;
pub mod security;
mod settings;
pub mod state;
pub mod unsupported;
pub mod user;

/// An error and its causes on one line, each cause once: most errors here
/// repeat their source's text in their own message, so a plain walk of
/// the chain would print it twice.
pub fn one_line_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = cause.source();
    }
    out.replace('\n', " ")
}

/// Errors of preparing or running a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Cgroup(#[from] pocky_cgroup::CgroupError),
    #[error("{0}")]
    Ns(#[from] pocky_ns::NsError),
    #[error("{op} of pid {pid}: {source}")]
    Process {
        op: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    State(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("{what}: {reason}")]
    Security { what: String, reason: String },
    #[error("hook {path}: {reason}")]
    Hook {
        path: std::path::PathBuf,
        reason: String,
    },
}
