//! The `pocky` command: argument parsing, output, and the assembly of the
//! library crates. No kernel logic lives here.

mod attach;
mod build;
mod cli;
mod cli_doc;
mod cli_limits;
mod cli_run;
mod cli_run_more;
mod commit;
mod cp;
mod diff;
mod disk_usage;
mod events;
mod exec;
mod foreground;
mod format;
mod images;
mod lifecycle;
mod log;
mod logs;
mod network;
mod output_file;
mod progress;
mod prune;
mod ps;
mod pull;
mod push;
mod reset;
mod run;
mod save;
mod service;
mod stats;
mod system;
mod tag;
mod template;
mod top;
mod update;
mod volume;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand};

use pocky_engine::{EXIT_ENGINE, one_line};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("__cli-doc") {
        let mut cli = <Cli as clap::CommandFactory>::command();
        // Each command defines its flags only when it is the one run
        // (`defer`, which spares every start building all of them).
        cli.build();
        print!("{}", cli_doc::markdown(&cli));
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ENGINE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    log::set_level(cli.log_level);
    pocky_engine::log::set_debug(log::enabled(cli::LogLevel::Debug));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pocky: {}", one_line(&e));
            ExitCode::from(EXIT_ENGINE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // First, while single-threaded: a user other than root joins their
    // user namespace here (docs/ROOTLESS.md).
    let root = pocky_engine::rootless::enter(cli.root.as_deref())?;
    if let Some(driver) = &cli.storage_driver {
        let store = pocky_engine::store::Store::open(&root)?;
        let driver = pocky_engine::store::StorageDriver::parse(driver)
            .ok_or_else(|| anyhow::anyhow!("unknown storage driver {driver}"))?;
        pocky_engine::storage::select(&store, driver)?;
    }
    dispatch(&root, cli.command)
}

fn dispatch(root: &std::path::Path, command: Command) -> anyhow::Result<ExitCode> {
    let root = root.to_path_buf();
    match command {
        Command::Container(c) => dispatch(
            &root,
            match c {
                ContainerCommand::Ls(a) => Command::Ps(a),
                ContainerCommand::Run(a) => Command::Run(a),
                ContainerCommand::Create(a) => Command::Create(a),
                ContainerCommand::Start(a) => Command::Start(a),
                ContainerCommand::Stop(a) => Command::Stop(a),
                ContainerCommand::Restart(a) => Command::Restart(a),
                ContainerCommand::Kill(a) => Command::Kill(a),
                ContainerCommand::Rm(a) => Command::Rm(a),
                ContainerCommand::Pause(a) => Command::Pause(a),
                ContainerCommand::Unpause(a) => Command::Unpause(a),
                ContainerCommand::Rename(a) => Command::Rename(a),
                ContainerCommand::Inspect(a) => Command::Inspect(a),
                ContainerCommand::Logs(a) => Command::Logs(a),
                ContainerCommand::Exec(a) => Command::Exec(a),
                ContainerCommand::Wait(a) => Command::Wait(a),
                ContainerCommand::Port(a) => Command::Port(a),
                ContainerCommand::Stats(a) => Command::Stats(a),
                ContainerCommand::Top(a) => Command::Top(a),
                ContainerCommand::Diff(a) => Command::Diff(a),
                ContainerCommand::Update(a) => Command::Update(a),
                ContainerCommand::Attach(a) => Command::Attach(a),
                ContainerCommand::Cp(a) => Command::Cp(a),
                ContainerCommand::Commit(a) => Command::Commit(a),
                ContainerCommand::Export(a) => Command::Export(a),
                ContainerCommand::Prune(a) => return prune::prune_containers(&root, &a),
            },
        ),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(&root, &a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&root, &a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&root, &a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&root, &a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::tag(&root, &a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => tag::history(&root, &a),
        Command::Image(ImageCommand::Prune(a)) => tag::prune(&root, &a),
        Command::Commit(a) => commit::commit(&root, &a),
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(&root, &a),
        Command::Builder(c) => build::builder(&root, &c),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::save(&root, &a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => save::load(&root, &a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::push(&root, &a),
        Command::Login(a) => push::login(&a),
        Command::Logout(a) => push::logout(&a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => commit::import(&root, &a),
        Command::Export(a) => commit::export(&root, &a),
        Command::Inspect(a) => ps::inspect(&root, &a),
        Command::Run(a) => run::run(&root, *a),
        Command::Create(a) => run::create(&root, *a),
        Command::Start(a) => lifecycle::start(&root, &a),
        Command::Restart(a) => lifecycle::restart(&root, &a),
        Command::Rename(a) => {
            let store = pocky_engine::store::Store::open(&root)?;
            pocky_engine::lifecycle::rename(&store, &a.container, &a.new_name)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Pause(a) => lifecycle::pause(&root, &a),
        Command::Unpause(a) => lifecycle::unpause(&root, &a),
        Command::Exec(a) => exec::exec(&root, &a),
        Command::Ps(a) => ps::ps(&root, &a),
        Command::Logs(a) => logs::logs(&root, &a),
        Command::Stop(a) => lifecycle::stop(&root, &a),
        Command::Kill(a) => lifecycle::kill(&root, &a),
        Command::Rm(a) => lifecycle::rm(&root, &a),
        Command::Wait(a) => lifecycle::wait(&root, &a),
        Command::System(SystemCommand::Prune(a)) => prune::prune(&root, &a),
        Command::System(SystemCommand::Reset(a)) => reset::reset(&root, &a),
        Command::System(SystemCommand::Boot) => lifecycle::boot(&root),
        Command::System(SystemCommand::Service(a)) => service::service(&root, &a),
        Command::Volume(c) => volume::run(&root, &c),
        Command::Network(c) => network::run(&root, &c),
        Command::Port(a) => network::port(&root, &a),
        Command::Stats(a) => stats::stats(&root, &a),
        Command::Top(a) => top::top(&root, &a),
        Command::Diff(a) => diff::diff(&root, &a),
        Command::Update(a) => update::update(&root, &a),
        Command::Attach(a) => attach::attach(&root, &a),
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => events::events(&root, &a),
        Command::Cp(a) => cp::cp(&root, &a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(&root, &a),
        Command::System(SystemCommand::Df(a)) => disk_usage::df(&root, &a),
        Command::Version(a) => system::version(&a),
    }
}
