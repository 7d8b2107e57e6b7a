use serde::{Deserialize, Serialize};

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// What Docker calls a container it cannot account for: here one whose
    /// record cannot be read. Listings show it; it is never written.
    Dead,
}

/// The mutable part of a container record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Option<Status>,
    /// Host pid of the container's first process while it runs.
    pub pid: i32,
    /// Start time of `pid` in clock ticks after boot (field 22 of
    /// /proc/pid/stat): tells a live container from a reused pid.
    pub pid_start: u64,
    /// Unix seconds (with fractions) of start and end.
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    /// Why pocky could not start it, when it could not.
    pub error: Option<String>,
    /// Starts made by the restart policy since the last `start`.
    #[serde(default)]
    pub restart_count: u32,
    /// Between an exit and the policy's next start (Docker's `restarting`).
    #[serde(default)]
    pub restarting: bool,
    /// Set by `stop`, `kill` and `rm -f`: the restart policy leaves the
    /// container stopped until the next `start`.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Set by `restart` while it stops a `--rm` container: that exit does
    /// not remove it (Docker's restart keeps an auto-removed container).
    /// The next start clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_by_hand: bool,
    /// The probes' findings, while the container has a healthcheck and
    /// has been started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::Health>,
}

/// A container as `ps` and `inspect` show it. The OCI spec that runs it
/// lives beside the record as `config.json` (the bundle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub command: Vec<String>,
    pub created: f64,
    pub hostname: String,
    pub auto_remove: bool,
    pub tty: bool,
    pub interactive: bool,
    /// The container's stdin closes when its first attached client's
    /// input ends (Docker's `StdinOnce`).
    #[serde(default)]
    pub stdin_once: bool,
    pub detached: bool,
    /// The cgroup path relative to each hierarchy's root.
    pub cgroup: String,
    /// What `stop` sends first (`--stop-signal`, else the image's
    /// StopSignal), as given; None is SIGTERM. Older records have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `--stop-timeout`: seconds `stop` waits before SIGKILL when `-t` is
    /// not given; None is Docker's 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// `--restart` as given (`always`, `on-failure:3`); None is `no`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// The image's labels, overridden by `--label-file` and `--label`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The image's HEALTHCHECK merged with the `--health-*` flags; None
    /// when neither gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::HealthConfig>,
    /// The flags as given, for inspect's `HostConfig`.
    #[serde(default, skip_serializing_if = "HostFlags::is_default")]
    pub host: HostFlags,
    pub state: ContainerState,
}

/// `run` flags that the bundle's spec does not keep as the user gave them
/// (it keeps their effect: the capability set, the resolved mounts), which
/// inspect reports in Docker's `HostConfig` and `Config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostFlags {
    /// `--log-driver` and `--log-opt`, checked at create.
    #[serde(skip_serializing_if = "LogConfig::is_default")]
    pub log: LogConfig,
    /// `-v` as given.
    pub binds: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `--device` as given.
    pub devices: Vec<String>,
    /// `--tmpfs` as given.
    pub tmpfs: Vec<String>,
    pub security_opt: Vec<String>,
    /// `--entrypoint`, or the image's.
    pub entrypoint: Vec<String>,
    pub read_only: bool,
}

impl HostFlags {
    fn is_default(&self) -> bool {
        *self == HostFlags::default()
    }
}

/// How the container's output is kept: Docker's `HostConfig.LogConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file` or `none`.
    pub driver: String,
    /// The driver's options (`max-size`, `max-file`, `labels`, ...).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            driver: LogConfig::JSON_FILE.into(),
            options: Default::default(),
        }
    }
}

impl LogConfig {
    pub const JSON_FILE: &'static str = "json-file";
    pub const NONE: &'static str = "none";

    fn is_default(&self) -> bool {
        *self == LogConfig::default()
    }

    /// Whether the output is kept at all (`logs` can read it).
    pub fn keeps_output(&self) -> bool {
        self.driver != LogConfig::NONE
    }
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// A container directory whose record cannot be read (cut short by a full
/// disk or changed by hand). It must not take the store down: listings
/// skip it and report it, and it can be removed by its id.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokenContainer {
    /// The directory's name: the container's id.
    pub id: String,
    pub reason: String,
    /// When the record was last written (Unix seconds), for `CREATED`.
    pub modified: f64,
}

/// Container records, guarded by the store's lock.
pub trait ContainerStore {
    /// Adds a record and its directory; a taken name is an error.
    fn create_container(&self, record: &ContainerRecord) -> crate::Result<()>;
    /// The readable records; see [`ContainerStore::broken_containers`].
    fn containers(&self) -> crate::Result<Vec<ContainerRecord>>;
    fn broken_containers(&self) -> crate::Result<Vec<BrokenContainer>>;
    /// Deletes a broken container's directory if its record is still
    /// unreadable; false (nothing removed) when it has become readable.
    fn remove_broken_container(&self, id: &str) -> crate::Result<bool>;
    /// By full id, unique id prefix, or name. A broken container matched
    /// by id or prefix is [`crate::StoreError::BrokenContainer`].
    fn find_container(&self, query: &str) -> crate::Result<ContainerRecord>;
    /// Changes the record under the lock; `f` sees the current version.
    fn update_container(
        &self,
        id: &str,
        f: &mut dyn FnMut(&mut ContainerRecord),
    ) -> crate::Result<ContainerRecord>;
    /// Deletes the record and the container's directory.
    fn remove_container(&self, id: &str) -> crate::Result<()>;
    /// Gives the container `id` the name `name`, unless another has it;
    /// checked and written under the lock, so two renames cannot both win.
    fn rename_container(&self, id: &str, name: &str) -> crate::Result<ContainerRecord>;
}
