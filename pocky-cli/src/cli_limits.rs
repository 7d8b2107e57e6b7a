//! The CPU, memory and block IO flags that `run`/`create` and `update`
//! share, with one definition and one mapping onto the engine's request.

use clap::Args;

#[derive(Debug, Args, Default, Clone)]
pub struct LimitFlags {
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    /// CPU CFS period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU real-time period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    /// CPU real-time runtime in microseconds.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// Memory plus swap limit ('-1' for unlimited swap).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Block IO relative weight, 10 to 1000 (0: unset).
    #[arg(long, value_name = "W")]
    pub blkio_weight: Option<u16>,
}

impl LimitFlags {
    /// Writes the flags into `req`.
    pub fn fill(self, req: &mut pocky_engine::RunRequest) {
        req.cpuset_cpus = self.cpuset_cpus;
        req.cpuset_mems = self.cpuset_mems;
        req.cpu_period = self.cpu_period;
        req.cpu_quota = self.cpu_quota;
        req.cpu_rt_period = self.cpu_rt_period;
        req.cpu_rt_runtime = self.cpu_rt_runtime;
        req.memory_swap = self.memory_swap;
        req.memory_reservation = self.memory_reservation;
        req.blkio_weight = self.blkio_weight;
    }
}
