//! Crash points for the fault-injection tests: with `POCKY_FAULT=NAME` in
//! its environment, a pocky process SIGKILLs itself when it reaches the
//! point NAME, the way a crash or an OOM kill would stop it there. The
//! tests then check that the next command finds the state whole and can
//! clean up. Reading one environment variable is all it costs otherwise.

/// SIGKILLs this process if `POCKY_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var_os("POCKY_FAULT").is_some_and(|v| v == name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
