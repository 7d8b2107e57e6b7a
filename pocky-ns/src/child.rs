//! The child side of [`spawn`](crate::spawn), between the clone and `exec`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::sched::CloneFlags;

use crate::channel::{ChildChannel, ToChild, ToParent};
use crate::spawn::{ChildError, JoinFd, SETUP_FAILED_EXIT_CODE};

/// Exit code when the parent aborted or went away before Go.
const ABORTED_EXIT_CODE: i32 = 1;

/// What the child does besides joining: wait for the maps of a user
/// namespace made at clone, unshare the rest, and the cgroup namespace
/// after Go.
pub(crate) struct Steps {
    pub(crate) await_maps: bool,
    pub(crate) unshare: CloneFlags,
    pub(crate) new_cgroup: bool,
}

/// Runs the child and exits; never returns into the caller's frames, not
/// even by unwinding.
pub(crate) fn run(
    mut ch: ChildChannel,
    joins: &[&JoinFd],
    steps: Steps,
    prepare: crate::spawn::Prepare<'_>,
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> ! {
    let code = match catch_unwind(AssertUnwindSafe(|| {
        body(&mut ch, joins, steps, prepare, child_fn)
    })) {
        Ok(code) => code,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            report(
                &mut ch,
                ChildError {
                    stage: "panic",
                    errno: 0,
                    message: text,
                    exit_code: SETUP_FAILED_EXIT_CODE,
                },
            )
        }
    };
    // SAFETY: _exit ends the process without running atexit handlers or
    // flushing stdio buffers copied from the parent, which must not be
    // written twice.
    unsafe { libc::_exit(code) }
}

fn report(ch: &mut ChildChannel, err: ChildError) -> i32 {
    // If the parent is gone there is nobody to tell; exit all the same.
    let _ = ch.send(&ToParent::Failed {
        stage: err.stage.to_owned(),
        errno: err.errno,
        message: err.message,
        exit_code: err.exit_code,
    });
    err.exit_code
}

fn body(
    ch: &mut ChildChannel,
    joins: &[&JoinFd],
    steps: Steps,
    prepare: crate::spawn::Prepare<'_>,
    child_fn: impl FnOnce(&mut ChildChannel) -> ChildError,
) -> i32 {
    let Steps {
        await_maps,
        unshare,
        new_cgroup,
    } = steps;
    reset_signals();
    if await_maps {
        // Nothing may touch a file before the maps exist: until then every
        // id of ours reads as the overflow id inside.
        match ch.recv() {
            Ok(Some(ToChild::Mapped)) => {}
            _ => return ABORTED_EXIT_CODE,
        }
        if let Err(err) = crate::userns::become_root() {
            return report(ch, err);
        }
    }
    for j in joins {
        if let Err(errno) = nix::sched::setns(&j.fd, j.ns.clone_flag()) {
            let msg = format!("joining {} namespace {}: {errno}", j.ns, j.path.display());
            return report(ch, ChildError::setup("setns", errno, msg));
        }
        if j.ns == crate::namespace::Namespace::User
            && let Err(err) = crate::userns::become_root()
        {
            return report(ch, err);
        }
    }
    if !unshare.is_empty()
        && let Err(errno) = nix::sched::unshare(unshare)
    {
        let msg = format!("unshare({unshare:?}): {errno}");
        return report(ch, ChildError::setup("unshare", errno, msg));
    }
    if let Some(prepare) = prepare
        && let Err(err) = prepare(ch)
    {
        return report(ch, err);
    }
    // The parent cannot open our /proc/PID/ns/net while we are not
    // dumpable, when it lacks CAP_SYS_PTRACE in the initial user namespace
    // (rootless pocky): it gets the namespace from us.
    let net_ns = std::fs::File::open("/proc/self/ns/net").ok();
    if ch
        .send_ready(net_ns.as_ref().map(std::os::fd::AsFd::as_fd))
        .is_err()
    {
        return ABORTED_EXIT_CODE;
    }
    drop(net_ns);
    match ch.recv() {
        Ok(Some(ToChild::Go)) => {}
        Ok(Some(ToChild::Abort | ToChild::Mapped) | None) | Err(_) => return ABORTED_EXIT_CODE,
    }
    if new_cgroup && let Err(errno) = nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP) {
        let msg = format!("unshare(CLONE_NEWCGROUP): {errno}");
        return report(ch, ChildError::setup("unshare", errno, msg));
    }
    let err = child_fn(ch);
    report(ch, err)
}

/// The kernel's `struct sigaction` (x86_64 and aarch64 both have
/// `sa_restorer`), for `rt_sigaction` without glibc's filter.
#[repr(C)]
struct KernelSigaction {
    handler: libc::c_ulong,
    flags: libc::c_ulong,
    restorer: libc::c_ulong,
    mask: u64,
}

/// Empties the signal mask and sets every disposition back to default: a
/// mask and ignored signals survive `execve`, and the runtime may block or
/// ignore signals (Rust ignores SIGPIPE) that the container's process must
/// see. The raw syscall is used because glibc refuses to touch its reserved
/// signals 32 and 33, which an ancestor may still have ignored.
fn reset_signals() {
    // SAFETY: sigemptyset initialises the set before sigprocmask reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL as libc::c_ulong,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `default` is a valid kernel sigaction that installs no
        // handler code; the old action is not requested; the sigset size
        // is the kernel's 8 bytes.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}
