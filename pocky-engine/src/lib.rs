//! pocky's engine: every operation on containers, images, volumes and
//! networks, as plain calls on plain request types, for the two front ends
//! (the `pocky` CLI and, next, the Docker API service). It assembles the
//! isolation crates: the store, the registry client, the network stack,
//! and pocky-runtime, which takes the OCI spec the engine builds.
//!
//! The operations a front end calls return [`Error`], whose kind decides
//! the exit or status code; the internals use `anyhow` for context and
//! raise typed errors where the kind matters. The Docker flags become an
//! OCI spec here (`spec`, `security_flags`); pocky-runtime takes the spec.

pub mod attach_server;
pub mod boot;
pub mod broken;
pub mod build;
pub mod build_context;
pub mod commit;
pub mod config_change;
pub mod copy;
pub mod create;
pub mod diff;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod exec;
pub mod fault;
pub mod filter_args;
pub mod filters;
pub mod flags;
pub mod health;
pub mod helper;
pub mod human;
pub mod image_config;
pub mod image_filter;
pub mod image_store;
pub mod images;
pub mod import_export;
pub mod inspect;
pub mod lifecycle;
pub mod log;
pub mod log_config;
pub mod logfiles;
pub mod logreader;
pub mod logwriter;
pub mod lookup;
pub mod monitor;
pub mod mount_flags;
pub mod net_flags;
pub mod netsetup;
pub mod network_connect;
pub mod networks;
pub mod ns_share;
pub mod owner;
mod pool;
pub mod progress;
pub mod prune;
pub mod pull;
pub mod push;
pub mod request;
pub mod reset;
pub mod restart;
pub mod rootless;
pub mod run_flags;
pub mod runtime;
pub mod save_load;
pub mod security_flags;
pub mod spec;
pub mod state;
pub mod stats;
pub mod storage;
pub mod system_info;
pub mod tag;
pub mod top;
pub mod update;
pub mod volume_opts;
pub mod volume_seed;
pub mod volumes;
pub mod volumes_from;
pub mod volumes_setup;

pub use error::{Error, Kind, Result};

/// Where root's state lives unless `--root` says otherwise; its default
/// network keeps Docker-like `pocky0` as its bridge's name.
pub const DEFAULT_ROOT: &str = "/var/lib/pocky";
/// The store's records and handle, which front ends pass to and get from
/// the engine's calls.
pub use pocky_store as store;
pub use request::RunRequest;

/// Docker's exit code for a failure of the engine itself.
pub const EXIT_ENGINE: u8 = 125;

/// The error and its causes on one line, without repeating a cause that the
/// outer message already quotes.
pub fn one_line(e: &impl AsCause) -> String {
    pocky_runtime::one_line_error(e.as_cause())
}

/// An error whose chain of causes can be walked: the engine's and anyhow's.
pub trait AsCause {
    fn as_cause(&self) -> &(dyn std::error::Error + 'static);
}

impl AsCause for anyhow::Error {
    fn as_cause(&self) -> &(dyn std::error::Error + 'static) {
        self.as_ref()
    }
}

impl AsCause for Error {
    fn as_cause(&self) -> &(dyn std::error::Error + 'static) {
        self
    }
}
