//! cgroup v1 and v2 behind one trait.
//!
//! ```no_run
//! use pocky_cgroup::{Cgroup, CgroupManager, Limits};
//! # fn main() -> Result<(), pocky_cgroup::CgroupError> {
//! let cg = Cgroup::detect("pocky/0123abcd")?;
//! cg.create()?;
//! cg.apply(&Limits { memory_bytes: Some(64 << 20), pids: Some(100), ..Limits::default() })?;
//! cg.add_task(4242)?;
//! // ... later, from any pocky process:
//! cg.kill_all()?;
//! cg.remove()?;
//! # Ok(()) }
//! ```
//!
//! Choices, and why:
//!
//! - **Detection, not configuration.** [`Hierarchy::detect`] looks at the
//!   filesystem type of `/sys/fs/cgroup` (`statfs`): cgroup2 means the
//!   unified hierarchy; tmpfs means v1 controllers, whose mount points come
//!   from `/proc/self/mountinfo` (combined mounts like `cpu,cpuacct`
//!   included). A hybrid host (v1 controllers plus a mostly empty cgroup2 at
//!   `unified/`) is driven as v1, where its controllers are.
//! - **Injected root and mount table.** [`Hierarchy::detect_at`] and
//!   [`V1Mounts::from_mountinfo`] take the root path and the mountinfo text
//!   as parameters, and every operation works on paths below them. Unit
//!   tests therefore describe any host with a temporary directory and
//!   assert on the exact files written, with no root and no `cfg!(test)`
//!   switch inside the library.
//! - **Enum dispatch.** [`Cgroup`] is `V1 | V2`, not a `Box<dyn
//!   CgroupManager>`: there are exactly two backends and there will be no
//!   third, the handle stays `Clone + Debug` and can be matched on when a
//!   caller must know (say, to report that v2 device rules need eBPF). The
//!   [`CgroupManager`] trait still exists so callers can take `&impl
//!   CgroupManager` and tests can hand them a double.
//! - **Limits as data.** Each backend turns [`Limits`] into an ordered list
//!   of writes before touching the tree, so the unit tests can check the
//!   order the kernel insists on (v1 `memory.memsw.limit_in_bytes` must
//!   never fall below `memory.limit_in_bytes`).
//! - **Paths relative to the mount point.** `pocky/<id>` and `/pocky/<id>`
//!   name the same cgroup; `..` is refused ([`CgroupPath`]). A caller that
//!   wants runc's reading of a relative path (below its own cgroup, per
//!   controller) moves the roots down first: [`Hierarchy::below`] with the
//!   process's [`ProcCgroups`].
//!
//! [`cgroups-rs`](https://crates.io/crates/cgroups-rs) was the obvious
//! ready-made crate, but it reads the live `/proc/self/mountinfo` itself
//! and leaves no seam for the fake-tree tests the design calls for.

mod cgroup;
pub mod delegation;
mod detect;
mod devices;
mod devices_bpf;
mod error;
mod fsio;
mod limits;
mod own;
mod path;
mod resources;
mod self_join;
mod signal;
mod stats;
pub mod v1;
pub mod v2;

pub use cgroup::Cgroup;
pub use detect::{DEFAULT_ROOT, Hierarchy, MOUNTINFO, V1Mounts};
pub use devices::{DeviceKind, DeviceRule};
pub use error::{CgroupError, Result};
pub use limits::{CPU_PERIOD_US, Limits, cpu_quota_us, nano_cpus_of, shares_to_weight};
pub use own::ProcCgroups;
pub use path::CgroupPath;
pub use resources::{BlkioDevice, Resources, ThrottleKind};
pub use self_join::{OpenedJoin, SelfJoin};
pub use stats::Stats;
pub use v1::V1Cgroup;
pub use v2::V2Cgroup;

/// One container's cgroup, whatever the hierarchy version.
pub trait CgroupManager {
    /// Makes the cgroup (and its parents) in every controller it needs;
    /// making an existing one again is fine.
    fn create(&self) -> Result<()>;
    /// Moves a process (all its threads) into the cgroup.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Writes the limits; `None` fields are left as they are.
    fn apply(&self, limits: &Limits) -> Result<()>;
    /// Applies device rules in order (v1 only; v2 needs eBPF and reports
    /// [`CgroupError::Unsupported`] for a non-empty list).
    fn apply_devices(&self, rules: &[DeviceRule]) -> Result<()>;
    /// Reads current usage.
    fn stats(&self) -> Result<Stats>;
    /// The processes currently in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Stops every task (for `pause`); returns once all are stopped.
    fn freeze(&self) -> Result<()>;
    /// Lets frozen tasks run again (for `unpause`).
    fn thaw(&self) -> Result<()>;
    /// Sends SIGKILL to every task, racing no fork. Does not wait for them
    /// to exit; [`CgroupManager::remove`] retries while they do.
    fn kill_all(&self) -> Result<()>;
    /// Removes the cgroup, which must hold no task; an absent cgroup is
    /// already removed.
    fn remove(&self) -> Result<()>;
}
