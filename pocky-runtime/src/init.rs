//! `--init`: a PID 1 that reaps the orphans of the container and passes
//! signals on to the command, as tini and docker-init do. It is a forked
//! copy of the runtime's container process, made after every setup step
//! (root, user, capabilities, seccomp) and before the exec, so it needs
//! no binary of its own inside the image: the fork's child execs the
//! command, the parent stays and waits.
//!
//! A pocky extension of the spec: the annotation [`INIT_ANNOTATION`].
//! Another OCI runtime given the bundle runs the command without it.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use pocky_ns::ChildError;

/// `io.pocky.init` = `true`: the container's command runs under the init.
pub const INIT_ANNOTATION: &str = "io.pocky.init";

/// Whether `spec` asks for the init.
pub fn wanted(spec: &oci_spec::runtime::Spec) -> bool {
    spec.annotations()
        .as_ref()
        .and_then(|a| a.get(INIT_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Forks: returns in the child, which goes on to exec the command; the
/// parent becomes the init and never returns.
pub(crate) fn fork_into_init() -> Result<(), ChildError> {
    let fail = |what: &'static str| move |e| ChildError::setup("init", e, what.to_owned());
    // Blocked before the fork, so no signal meant for the command falls
    // between the fork and the init's first wait.
    let mut old = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )
    .map_err(fail("blocking signals"))?;
    // Orphans come to the init even when it is not PID 1 (`--pid host`).
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // SAFETY: the container's process is single-threaded here (a clone
    // of the runtime, before exec), so the child may run any code.
    match unsafe { fork() }.map_err(fail("fork"))? {
        ForkResult::Child => {
            // A process group of its own, in the terminal's foreground,
            // so ^C reaches the command once, not the init as well.
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
                let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            }
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None)
                .map_err(fail("restoring the signal mask"))?;
            Ok(())
        }
        ForkResult::Parent { child } => serve(child),
    }
}

/// The init's loop: every signal but SIGCHLD goes to the command; every
/// child that ends is reaped; the command's end is the init's, with its
/// status (128 + the signal when one killed it).
fn serve(command: Pid) -> ! {
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated
    // string that lives across the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"pocky-init".as_ptr(), 0, 0, 0) };
    // The runtime's descriptors (its channel to the parent, a start
    // gate) are the command's to close by its exec; the init keeps only
    // stdio.
    // SAFETY: close_range closes descriptors this process no longer uses;
    // nothing here refers to them again.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let all = SigSet::all();
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(command, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == command => exit(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process at once; nothing is left to run.
    unsafe { libc::_exit(code) }
}
