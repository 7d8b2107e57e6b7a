//! cgroup v1 and v2 behind one trait.
//!
//! The backend is chosen by detection (the filesystem type of the cgroup
//! root), never by configuration, and the root path is injected so unit tests
//! can point a manager at a fake tree in a temporary directory. The
//! implementation arrives with the run issue.

/// Resource limits a container asks for; `None` leaves the kernel default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Relative CPU weight in Docker's units (v1 `cpu.shares`).
    pub cpu_shares: Option<u64>,
    /// CPU quota in millionths of a CPU (`--cpus 1.5` is 1_500_000).
    pub cpu_quota_micros: Option<u64>,
    /// Memory limit in bytes; swap is limited to the same value.
    pub memory_bytes: Option<u64>,
    /// Maximum number of tasks.
    pub pids: Option<u64>,
}

/// Usage read back for `ps` and `inspect`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub memory_bytes: u64,
    pub pids: u64,
    pub oom_killed: bool,
}

/// Errors of cgroup handling.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("writing {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// One container's cgroup, whatever the hierarchy version.
pub trait CgroupManager {
    /// Moves a task into the cgroup.
    fn add_task(&self, pid: i32) -> Result<(), CgroupError>;
    /// Writes the limits.
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError>;
    /// Reads current usage.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// The tasks currently in the cgroup.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Removes the cgroup; it must be empty.
    fn remove(&self) -> Result<(), CgroupError>;
}
