//! `pocky volume create|ls|inspect|rm|prune`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use pocky_engine::store::Store;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(NamesArgs),
    /// Remove volumes; refused while a container uses them.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (all unused ones with --all).
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Set metadata on the volume (KEY=VALUE).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Volume driver: only `local`.
    #[arg(short, long, default_value = pocky_engine::store::LOCAL_DRIVER)]
    pub driver: String,
    /// Driver option: type=tmpfs [o=size=64m,mode=1777], or type=none
    /// o=bind device=/host/dir.
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// `table`, `json`, or a Go template (`{{.Name}}`, `table {{.Name}}\t{{.Labels}}`).
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// A Go template for each volume (`{{.Mountpoint}}`).
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Accepted for Docker compatibility: a volume in use is never removed.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove unused named volumes too, not only anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation (pocky never asks).
    #[arg(short, long)]
    pub force: bool,
    /// Only what matches: label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

pub fn run(root: &Path, cmd: &VolumeCommand) -> Result<ExitCode> {
    let store = Store::open(root)?;
    match cmd {
        VolumeCommand::Create(a) => create(&store, a),
        VolumeCommand::Ls(a) => list(&store, a),
        VolumeCommand::Inspect(a) => inspect(&store, a),
        VolumeCommand::Rm(a) => remove(&store, a),
        VolumeCommand::Prune(a) => prune(&store, a),
    }
}

fn create(store: &Store, args: &CreateArgs) -> Result<ExitCode> {
    let opts = pocky_engine::volume_opts::parse_words(&args.opt)?;
    let name = pocky_engine::volumes::create(
        store,
        args.name.as_deref(),
        &args.driver,
        &args.labels,
        &opts,
    )?;
    println!("{name}");
    Ok(ExitCode::SUCCESS)
}

fn list(store: &Store, args: &LsArgs) -> Result<ExitCode> {
    let volumes = pocky_engine::volumes::list(store, &args.filter)?;
    if args.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<serde_json::Value> = volumes
        .iter()
        .map(|v| {
            let labels: Vec<String> = v
                .labels
                .iter()
                .map(|(k, val)| format!("{k}={val}"))
                .collect();
            serde_json::json!({
                "Name": v.name, "Driver": v.driver, "Scope": "local",
                "Labels": labels.join(","), "Mountpoint": store.volume_data_dir(&v.name).ok(),
            })
        })
        .collect();
    let titles = [
        ("Driver", "DRIVER"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Labels", "LABELS"),
        ("Mountpoint", "MOUNTPOINT"),
    ];
    let table = "table {{.Driver}}\t{{.Name}}";
    print!(
        "{}",
        crate::template::rows(&args.format, table, &titles, &rows)?
    );
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, args: &NamesArgs) -> Result<ExitCode> {
    let mut out = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match store.volume(name) {
            Ok(v) => out.push(pocky_engine::volumes::document(store, &v)?),
            Err(e) => {
                eprintln!("pocky: {e}");
                failed = true;
            }
        }
    }
    crate::template::print_inspect(args.format.as_deref(), out)?;
    Ok(if failed {
        ExitCode::from(crate::EXIT_ENGINE)
    } else {
        ExitCode::SUCCESS
    })
}

fn remove(store: &Store, args: &RmArgs) -> Result<ExitCode> {
    let _ = args.force;
    let mut failed = false;
    for name in &args.names {
        match pocky_engine::volumes::remove(store, name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("pocky: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(crate::EXIT_ENGINE)
    } else {
        ExitCode::SUCCESS
    })
}

fn prune(store: &Store, args: &PruneArgs) -> Result<ExitCode> {
    let _ = args.force;
    let removed = pocky_engine::volumes::prune_filtered(store, args.all, &args.filter)?;
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        for n in &removed {
            println!("{n}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
