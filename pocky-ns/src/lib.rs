//! Process creation in new Linux namespaces.
//!
//! The container's first process is created with [`spawn`] in new pid, mount,
//! uts, ipc, net and cgroup namespaces (or joins existing ones, OCI "path"
//! namespaces). Parent and child talk over a typed channel ([`ToParent`],
//! [`ToChild`]) so the parent can set up cgroups and the network while the
//! child waits, and so an error in the child before `exec` reaches the parent
//! as a message carrying a Docker exit code. [`join_and_spawn`] serves
//! `pocky exec`: it joins the namespaces of a running process with `setns`.
//!
//! # The protocol
//!
//! ```text
//! parent                                  child
//! spawn(): clone ───────────────────────▶ join namespaces, unshare new ones
//!                                         reset signal mask and dispositions
//! wait_ready() ◀──────────────── Ready ── (blocks)
//!   cgroups, network (/proc/<pid>/ns/net)
//! start() ─────────────────────── Go ───▶ unshare(CLONE_NEWCGROUP) if asked
//!                                         child_fn: rootfs, pty, exec()
//!   ◀──── PtyMaster (fd, optional) ──────
//!   ◀──── Failed{..} or EOF at exec ─────
//! ```
//!
//! The channel is a `SOCK_SEQPACKET` socketpair whose ends are `O_CLOEXEC`, so
//! a successful `execve` closes the child's end and the parent reads EOF: no
//! "exec done" message is needed and none can be forged after exec.
//!
//! # Threads
//!
//! [`spawn`] and [`join_and_spawn`] fork, and must be called from a
//! single-threaded process: they check `/proc/self/status` and refuse
//! otherwise. The child allocates (JSON messages, `CString`s) between the
//! clone and the exec; that is sound only because no other thread can have
//! held an allocator or stdio lock at the time of the clone. Tests, which run
//! in the multithreaded harness, use [`subprocess::run_forked`].
//!
//! # Exit codes
//!
//! As Docker reports them: 127 when the command is not found, 126 when it
//! cannot be executed, [`SETUP_FAILED_EXIT_CODE`] (125) when the runtime's
//! own setup in the child failed (namespaces, rootfs, a panic), and a
//! killed process's status is 128 + the signal ([`wait_exit`]).
//!
//! # Terminals
//!
//! A pty for a container is best opened in the child after its `/dev/pts`
//! exists ([`pty::open`], [`ChildChannel::send_pty_master`],
//! [`pty::make_controlling`]): a slave opened on the host's devpts still
//! passes `isatty`, but its name does not resolve inside the container, so
//! `tty` and `ttyname` fail there.
//!
//! # What the child does not do
//!
//! It does not set `PR_SET_PDEATHSIG`: a detached container must outlive the
//! `pocky run -d` process that created it.

mod channel;
mod child;
mod error;
mod exec;
mod handle;
mod namespace;
pub mod pty;
mod signals;
mod spawn;
pub mod subprocess;
mod userns;
mod wait;

pub use channel::{ChildChannel, ParentChannel, ToChild, ToParent};
pub use error::NsError;
pub use exec::{ExecFailure, exec, exec_preserving};
pub use handle::Child;
pub use namespace::Namespace;
pub use nix::unistd::Pid;
pub use signals::{FORWARDED, SignalForwarder};
pub use spawn::{
    ChildError, NsConfig, SETUP_FAILED_EXIT_CODE, join_and_spawn, spawn, spawn_prepared,
};
pub use userns::{IdMap, IdMaps};
pub use wait::{ExitStatus, exit_status_of, wait_exit};
