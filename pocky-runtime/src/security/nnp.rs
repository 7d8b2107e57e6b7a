//! prctl switches of the child: not dumpable while it runs pocky's code,
//! `no_new_privs`, and `PR_SET_KEEPCAPS` around the user switch.

use nix::sys::prctl;
use pocky_ns::ChildError;

fn fail(what: &'static str) -> impl Fn(nix::errno::Errno) -> ChildError {
    move |e| ChildError::setup("security", e, format!("{what}: {e}"))
}

/// Makes the process not dumpable: until it execs (which resets the flag
/// for an ordinary binary), processes of the container can neither ptrace
/// it nor open its `/proc/PID/exe`, `/proc/PID/fd` or `/proc/PID/mem`,
/// which would lead to the pocky binary and the host's descriptors.
pub fn set_not_dumpable() -> Result<(), ChildError> {
    prctl::set_dumpable(false).map_err(fail("prctl(PR_SET_DUMPABLE, 0)"))
}

/// `--security-opt no-new-privileges`: no exec can raise privileges
/// (setuid bits and file capabilities are ignored).
pub fn set_no_new_privs() -> Result<(), ChildError> {
    prctl::set_no_new_privs().map_err(fail("prctl(PR_SET_NO_NEW_PRIVS, 1)"))
}

/// Whether setuid away from root keeps the permitted set.
pub fn set_keepcaps(on: bool) -> Result<(), ChildError> {
    prctl::set_keepcaps(on).map_err(fail("prctl(PR_SET_KEEPCAPS)"))
}
