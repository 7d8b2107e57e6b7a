//! `pocky update [FLAGS] CONTAINER...`: new limits, restart policy.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;
use pocky_engine::update::UpdateRequest;

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Memory limit (`64m`, `1g`).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPUs the container may use (`1.5`).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Relative CPU weight.
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks (-1 or 0: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy: no, always, unless-stopped, on-failure[:N].
    #[arg(long)]
    pub restart: Option<String>,
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
    /// Block IO relative weight, 10 to 1000.
    #[arg(long, value_name = "W")]
    pub blkio_weight: Option<u16>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn update(root: &Path, args: &UpdateArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let req = UpdateRequest {
        memory: args.memory.clone(),
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        pids_limit: args.pids_limit,
        restart: args.restart.clone(),
        more: pocky_engine::RunRequest {
            cpuset_cpus: args.cpuset_cpus.clone(),
            cpuset_mems: args.cpuset_mems.clone(),
            cpu_period: args.cpu_period,
            cpu_quota: args.cpu_quota,
            cpu_rt_period: args.cpu_rt_period,
            cpu_rt_runtime: args.cpu_rt_runtime,
            memory_swap: args.memory_swap.clone(),
            memory_reservation: args.memory_reservation.clone(),
            blkio_weight: args.blkio_weight,
            ..Default::default()
        },
    };
    let mut failed = false;
    for name in &args.containers {
        match pocky_engine::update::update(&store, name, &req) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("pocky: {}", crate::one_line(&e));
                failed = true;
            }
        }
    }
    Ok(match failed {
        true => ExitCode::from(crate::EXIT_ENGINE),
        false => ExitCode::SUCCESS,
    })
}
