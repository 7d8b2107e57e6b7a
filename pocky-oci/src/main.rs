//! `pocky-runtime`: a runc-compatible OCI runtime. The command line and
//! output live here; the work is pocky-runtime's (the same code that runs
//! `pocky run`'s containers).

mod cli;
mod defaults;
mod info;
mod lifecycle;
mod log;
mod process_cmd;
mod resources_cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = u8::from(e.use_stderr());
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut log = log::Logger::open(cli.log.as_deref(), cli.log_format, cli.debug);
    log.debug(&format!("{:?}", std::env::args().collect::<Vec<_>>()));
    match run(cli, &mut log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&pocky_runtime::one_line_error(e.as_ref()));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli, log: &mut log::Logger) -> anyhow::Result<ExitCode> {
    if cli.version {
        println!("pocky-runtime version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", pocky_runtime::state::OCI_VERSION);
        return Ok(ExitCode::SUCCESS);
    }
    if cli.rootless.as_deref() == Some("true") {
        anyhow::bail!("--rootless=true is not supported: pocky-runtime runs as root");
    }
    let Some(command) = cli.command else {
        anyhow::bail!("no command given: see pocky-runtime --help");
    };
    let root = cli.root;
    let refuse_systemd = |what: &str| {
        if cli.systemd_cgroup {
            anyhow::bail!(
                "{what}: --systemd-cgroup is not supported: pocky-runtime manages cgroups \
                 through the cgroup filesystem (use cgroupfs as the cgroup manager)"
            );
        }
        Ok(())
    };
    match command {
        Command::Create(args) => {
            refuse_systemd("create")?;
            lifecycle::create(&root, &args)?;
            // The init waits on its FIFO; the start thread is abandoned.
            std::process::exit(0);
        }
        Command::Run { create, detach } => {
            refuse_systemd("run")?;
            return lifecycle::run(&root, &create, detach, log);
        }
        Command::Start { id } => lifecycle::start(&root, &id, log)?,
        Command::State { id } => info::state(&root, &id)?,
        Command::Kill { all, id, signal } => lifecycle::kill(&root, &id, signal.as_deref(), all)?,
        Command::Delete { force, id } => lifecycle::delete(&root, &id, force, log)?,
        Command::List { quiet, format } => info::list(&root, quiet, &format)?,
        Command::Exec(args) => return process_cmd::exec(&root, args),
        Command::Update(args) => resources_cmd::update(&root, &args)?,
        Command::Events {
            stats,
            interval,
            id,
        } => resources_cmd::events(&root, &id, stats, interval)?,
        Command::Ps { format, id } => info::ps(&root, &id, &format)?,
        Command::Pause { id } => lifecycle::pause(&root, &id)?,
        Command::Resume { id } => lifecycle::resume(&root, &id)?,
        Command::Spec { bundle } => info::spec(&bundle)?,
        Command::Features => info::features()?,
    }
    Ok(ExitCode::SUCCESS)
}
