//! `pocky stop`, `kill`, `rm` and `wait`: the engine's calls, one
//! container after another, going on past failures as Docker does.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_store::Store;

use crate::cli::{KillArgs, RmArgs, StopArgs, WaitArgs};

pub fn stop(root: &Path, args: &StopArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::stop(&store, name, args.time)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn kill(root: &Path, args: &KillArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    // A bad signal fails once, not once per container.
    pocky_runtime::process::parse_signal(&args.signal)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::kill(&store, name, &args.signal)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn rm(root: &Path, args: &RmArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::remove(&store, name, args.force, args.volumes)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn wait(root: &Path, args: &WaitArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        let code = pocky_engine::lifecycle::wait(&store, name)?;
        println!("{code}");
        Ok(())
    }))
}

/// Runs `f` for every name, going on past failures as Docker does, and
/// reports each failure on its own line.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> ExitCode {
    let mut failed = false;
    for name in names {
        if let Err(e) = f(name) {
            eprintln!("pocky: {}", crate::one_line(&e));
            failed = true;
        }
    }
    if failed {
        ExitCode::from(crate::EXIT_ENGINE)
    } else {
        ExitCode::SUCCESS
    }
}
