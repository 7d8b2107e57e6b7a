//! `pocky system service`: the Docker Engine API on a unix socket (and,
//! if asked, on TCP), served by pocky-api until SIGTERM or `--timeout`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

/// Where root's service listens, as dockerd's `/var/run/docker.sock`.
pub const DEFAULT_SOCKET: &str = "/run/pocky/docker.sock";

#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The unix socket to serve on (default /run/pocky/docker.sock, or
    /// $XDG_RUNTIME_DIR/pocky/docker.sock for a user other than root,
    /// /tmp/pocky-UID/docker.sock without XDG_RUNTIME_DIR).
    /// Whoever may connect to it can run privileged containers: it is mode
    /// 0660, group `pocky` if that exists.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Also serve on TCP, e.g. 127.0.0.1:2375 (no TLS, no authentication).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Exit after this many seconds without a new connection (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

/// Root's socket, or the user's in their runtime directory (rootless,
/// the process is root of its user namespace: the session says whose).
fn default_socket() -> PathBuf {
    match pocky_engine::rootless::session() {
        Some(s) => s.dirs.runtime.join("docker.sock"),
        None => PathBuf::from(DEFAULT_SOCKET),
    }
}

pub fn service(root: &Path, args: &ServiceArgs) -> Result<ExitCode> {
    pocky_api::serve(&pocky_api::Options {
        root: root.to_owned(),
        socket: args.socket.clone().unwrap_or_else(default_socket),
        listen: args.listen,
        timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
    })?;
    Ok(ExitCode::SUCCESS)
}
