//! Test support: run code in a forked, single-threaded subprocess.
//!
//! [`spawn`](crate::spawn) refuses multithreaded callers, and the Rust test
//! harness runs tests on threads. A test wraps its body in [`run_forked`]:
//! the fork leaves only the calling thread in the child, which then may
//! spawn. Meant for tests: the fork happens while other harness threads may
//! hold locks (stdout, environment), so the body should not print or touch
//! the environment; glibc makes its allocator safe across fork.

use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::unistd::ForkResult;

/// Runs `body` in a forked child and returns its result; a panic in the
/// child comes back as `Err` with the panic message.
pub fn run_forked(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    // SAFETY: the child only runs `body` and _exits; see the module docs for
    // why that is acceptable in a test process.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(read);
            let outcome = match catch_unwind(AssertUnwindSafe(body)) {
                Ok(Ok(())) => "ok".to_owned(),
                Ok(Err(e)) => format!("err:{e}"),
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    format!("err:panic: {text}")
                }
            };
            let mut w = std::fs::File::from(write);
            let _ = w.write_all(outcome.as_bytes());
            drop(w);
            // SAFETY: _exit skips atexit handlers and the harness's state
            // copied from the parent, which must not run twice.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write);
            let mut out = String::new();
            let read_result = std::fs::File::from(read).read_to_string(&mut out);
            let status = crate::wait_exit(child).map_err(|e| e.to_string())?;
            read_result.map_err(|e| format!("reading subprocess result: {e}"))?;
            match out.as_str() {
                "ok" => Ok(()),
                s => match s.strip_prefix("err:") {
                    Some(e) => Err(e.to_owned()),
                    None => Err(format!("subprocess ended ({status}) without a result")),
                },
            }
        }
    }
}
