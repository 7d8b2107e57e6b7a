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
    #[command(flatten)]
    pub limits: crate::cli_limits::LimitFlags,
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
        more: {
            let mut more = pocky_engine::RunRequest::default();
            args.limits.clone().fill(&mut more);
            more
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
