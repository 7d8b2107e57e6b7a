//! Rootless pocky: what lets an ordinary user run it.
//!
//! A rootless command starts with [`enter`]: it finds the user's
//! directories ([`dirs`]), finds or starts the user's namespace holder
//! ([`holder`]: a user namespace mapped from the user's subordinate ids
//! by the setuid helpers, see [`idmap`], with a network namespace made in
//! it), and joins that user namespace. From there on the command is root
//! in the namespace and pocky's ordinary code runs: layers unpack with
//! their owners, overlays mount, containers start, all within the ids the
//! user was given. What still differs (no cgroups without delegation,
//! networks inside the holder's network namespace) asks [`session`].

pub mod dirs;
mod error;
pub mod holder;
pub mod idmap;
mod netif;
pub mod netns;
pub mod relay;
pub mod subid;
pub mod uplink;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use dirs::Dirs;
pub use error::{Result, RootlessError};
pub use holder::Holder;

/// The rootless session of this process, once [`enter`] joined one.
#[derive(Debug)]
pub struct Session {
    /// The user's own ids, outside the namespace (0 inside it).
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub dirs: Dirs,
    pub holder: Holder,
    /// How many uids and gids the namespace maps (the user's own plus
    /// the ranges).
    pub mapped_uids: u32,
    pub mapped_gids: u32,
}

static SESSION: OnceLock<Session> = OnceLock::new();

/// The rootless session this process joined; `None` for root.
pub fn session() -> Option<&'static Session> {
    SESSION.get()
}

impl Session {
    /// The holder's network namespace, which holds the user's networks.
    pub fn netns_path(&self) -> PathBuf {
        self.holder.ns_path("net")
    }

    /// Whether the user's network namespace has its way out
    /// (slirp4netns), or else why not.
    pub fn uplink(&self) -> std::result::Result<(), String> {
        uplink::state(&self.dirs.runtime)
    }

    /// The lock of the firewall chains of the user's network namespace.
    pub fn firewall_lock(&self) -> PathBuf {
        self.dirs.runtime.join("firewall.lock")
    }
}

/// Sets up the process for its user. For root: the state root is `root`
/// (or `/var/lib/pocky`) and must not be a user's. For anyone else: the
/// state root is `root` (or `$XDG_DATA_HOME/pocky`) and must be the
/// user's own, the runtime directory is made private, and the process
/// joins the user's namespace, starting its holder first if none runs.
/// Returns the state root. Call it first thing, while single-threaded.
pub fn enter(root: Option<&Path>) -> Result<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    if uid == 0 {
        let state = root.map_or_else(|| PathBuf::from(dirs::ROOT_STATE), Path::to_path_buf);
        dirs::check_state_owner(&state, 0)?;
        return Ok(state);
    }
    let gid = nix::unistd::getegid().as_raw();
    let entry = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten();
    let user = entry
        .as_ref()
        .map_or_else(|| uid.to_string(), |u| u.name.clone());
    let home = entry.map(|u| u.dir).filter(|d| d.is_absolute());
    let dirs = dirs::user_dirs(|k| std::env::var_os(k), uid, home)?;
    let state = match root {
        Some(r) => r.to_path_buf(),
        None => {
            dirs::create_state_dir(&dirs.state)?;
            dirs.state.clone()
        }
    };
    dirs::check_state_owner(&state, uid)?;
    dirs::private_dir(&dirs.runtime, uid)?;
    let holder = holder::find_or_start(
        &dirs.runtime,
        &|| idmap::setup_for(uid, gid, &user),
        &|pid, exit_fd| {
            uplink::start(pid, exit_fd, &dirs.runtime);
            Ok(())
        },
    )?;
    holder::join(&holder)?;
    let mapped = |file: &str| -> Result<u32> {
        let map = std::fs::read_to_string(file).map_err(RootlessError::io("reading", file))?;
        Ok(u32::try_from(subid::mapped_count(&map)).unwrap_or(u32::MAX))
    };
    let (mapped_uids, mapped_gids) = (mapped("/proc/self/uid_map")?, mapped("/proc/self/gid_map")?);
    let _ = SESSION.set(Session {
        uid,
        gid,
        user,
        dirs,
        holder,
        mapped_uids,
        mapped_gids,
    });
    Ok(state)
}
