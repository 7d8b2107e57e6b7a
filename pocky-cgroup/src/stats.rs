//! Usage read back for `ps`, `stats` and `inspect`.

/// A snapshot of a container's usage. A field is `None` when the host
/// lacks the controller that would report it (a hybrid host's cgroup2
/// tree often has no controllers at all), so callers can print "-" rather
/// than fail the whole snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Memory in use, page cache included, in bytes.
    pub memory_bytes: Option<u64>,
    /// The memory limit in force; `None` when unlimited or unknown.
    pub memory_limit_bytes: Option<u64>,
    /// Tasks (threads included) in the cgroup.
    pub pids: Option<u64>,
    /// CPU time consumed, in nanoseconds.
    pub cpu_usage_nanos: Option<u64>,
    /// Whether the kernel's OOM killer struck inside the cgroup.
    pub oom_killed: bool,
}

/// Limits above this are the kernel's way of writing "unlimited" (v1 shows
/// `PAGE_COUNTER_MAX` pages in bytes, v2 `max`, which we read as u64::MAX).
pub(crate) const UNLIMITED_ABOVE: u64 = i64::MAX as u64 / 2;

pub(crate) fn limit_or_none(v: Option<u64>) -> Option<u64> {
    v.filter(|&v| v < UNLIMITED_ABOVE)
}
