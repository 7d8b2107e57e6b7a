//! The host lock around pocky's base firewall chains.

use crate::NetError;

/// Where processes of every state root serialise changes to pocky's base
/// chains: the chains are one set per network namespace, shared by all
/// roots, so a `system reset` of one root must not remove them while
/// another is filling them.
const BASE_LOCK: &str = "/run/pocky/firewall.lock";

static LOCK_PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Puts the lock elsewhere, for a process whose firewall is not the
/// host's: rootless pocky's chains live in the user's own network
/// namespace, and its lock in the user's runtime directory. Set once,
/// before any firewall work.
pub fn set_base_lock_path(path: std::path::PathBuf) {
    let _ = LOCK_PATH.set(path);
}

/// Held while the base chains change or rules go into them.
pub(crate) struct BaseLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub(crate) fn base_lock() -> Result<BaseLock, NetError> {
    let path = LOCK_PATH
        .get()
        .map_or(std::path::Path::new(BASE_LOCK), |p| p.as_path());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io(dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetError::io(path, e))?;
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::io(path, e.into()))?;
    Ok(BaseLock { _lock: lock })
}
