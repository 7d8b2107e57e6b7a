//! Test support shared by pocky's crates.
//!
//! Privileged tests call [`privileged`] (root only) or [`sandbox`] (root plus
//! the harness's namespaces and registry, see `ci/sandbox`). Outside CI a test
//! that cannot get what it needs is skipped with a message on stderr; under
//! `CI=true` it fails, so a misconfigured CI can never pass by skipping.

use std::path::PathBuf;

/// What the harness's sandbox provides to tests.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// `host:port` of the registry that holds the fixture images.
    pub registry: String,
    /// The repository's `ci/` directory.
    pub ci_dir: PathBuf,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn unavailable(test: &str, why: &str) -> Option<std::convert::Infallible> {
    if in_ci() {
        panic!("{test}: privileged test cannot run under CI=true: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

fn is_root() -> bool {
    // Reading /proc avoids a libc dependency for one geteuid call.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// True when `available`, which the test needs (a tool ci/install puts
/// there): skipped outside CI when not, a failure under CI.
pub fn needs(test: &str, available: bool, why: &str) -> bool {
    available || unavailable(test, why).is_some()
}

/// True when the test may use root powers (no network or mounts needed).
/// Skips (returns false) outside CI when not root; panics under CI.
pub fn privileged(test: &str) -> bool {
    if is_root() {
        return true;
    }
    unavailable(test, "needs root").is_some()
}

/// The harness's sandbox, when the test runs inside `ci/sandbox`.
/// Skips (returns `None`) outside CI when absent; panics under CI.
pub fn sandbox(test: &str) -> Option<Sandbox> {
    if !is_root() {
        unavailable(test, "needs root")?;
    }
    let Ok(registry) = std::env::var("POCKY_TEST_REGISTRY") else {
        unavailable(
            test,
            "needs the test sandbox: run it as `ci/sandbox cargo test`",
        )?;
        return None;
    };
    let ci_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci");
    Some(Sandbox { registry, ci_dir })
}
