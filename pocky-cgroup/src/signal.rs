//! Signalling a cgroup's tasks one by one (v1, and v2 before Linux 5.14).

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{CgroupError, Result};

/// Sends SIGKILL to every pid; tasks that exited meanwhile are fine. Keeps
/// going past failures and reports the first.
pub(crate) fn kill_each(pids: &[i32], cgroup: &str) -> Result<()> {
    let mut first = None;
    // pid 0 and negative pids would signal whole process groups (ours
    // included); cgroup.procs shows 0 for tasks outside our pid namespace.
    for &pid in pids.iter().filter(|&&p| p > 0) {
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => {
                first.get_or_insert(CgroupError::Signal {
                    pid,
                    cgroup: cgroup.to_owned(),
                    source,
                });
            }
        }
    }
    first.map_or(Ok(()), Err)
}
