//! Process creation in new Linux namespaces.
//!
//! The container's first process is created in new pid, mount, uts, ipc, net
//! and cgroup namespaces. The parent and child talk over a typed channel so the
//! parent can set up cgroups and the network while the child waits, and so an
//! error in the child before `exec` reaches the parent as a message with a
//! Docker exit code. `exec` into a running container joins its namespaces with
//! `setns`. The implementation arrives with the run issue; this crate fixes the
//! surface the other crates will be written against.

use std::fmt;

/// The namespaces a new container process is created in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    Pid,
    Mount,
    Uts,
    Ipc,
    Net,
    Cgroup,
    User,
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Namespace::Pid => "pid",
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
        };
        f.write_str(name)
    }
}

/// Why a child failed before it could `exec` its command, as Docker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecFailure {
    /// The command exists but cannot be executed (exit code 126).
    CannotExecute,
    /// The command was not found (exit code 127).
    NotFound,
}

impl ExecFailure {
    /// The exit code Docker uses for this failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ExecFailure::CannotExecute => 126,
            ExecFailure::NotFound => 127,
        }
    }
}

/// Errors of namespace and process handling.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("joining {ns} namespace of pid {pid}: {source}")]
    Join {
        ns: Namespace,
        pid: i32,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_docker() {
        assert_eq!(ExecFailure::CannotExecute.exit_code(), 126);
        assert_eq!(ExecFailure::NotFound.exit_code(), 127);
        assert_eq!(Namespace::Mount.to_string(), "mnt");
    }
}
