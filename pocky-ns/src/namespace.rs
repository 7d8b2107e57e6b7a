//! The namespace kinds and their kernel names and flags.

use std::fmt;

use nix::sched::CloneFlags;

/// A kind of Linux namespace.
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

impl Namespace {
    /// The order in which namespaces are joined: the user namespace first,
    /// because it decides what the later `setns` calls are allowed to do; the
    /// mount namespace late, because entering it changes the root and working
    /// directory; cgroup after it, which depends on nothing path-based since
    /// every fd was opened before the first join.
    pub(crate) const JOIN_ORDER: [Namespace; 7] = [
        Namespace::User,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Mount,
        Namespace::Cgroup,
    ];

    /// The `CLONE_NEW*` flag of this namespace.
    pub fn clone_flag(self) -> CloneFlags {
        match self {
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            Namespace::User => CloneFlags::CLONE_NEWUSER,
        }
    }

    /// The file name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Pid => "pid",
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}
