//! The host lock around pocky's base firewall chains.

use crate::NetError;

/// Where processes of every state root serialise changes to pocky's base
/// chains: the chains are one set per network namespace, shared by all
/// roots, so a `system reset` of one root must not remove them while
/// another is filling them.
const BASE_LOCK: &str = "/run/pocky/firewall.lock";

/// Held while the base chains change or rules go into them.
pub(crate) struct BaseLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub(crate) fn base_lock() -> Result<BaseLock, NetError> {
    let path = std::path::Path::new(BASE_LOCK);
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
