//! `pocky start`, `restart`, `stop`, `kill`, `rm` and `wait`: the engine's calls, one
//! container after another, going on past failures as Docker does.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;

use pocky_engine::monitor::Detached;

use crate::cli::{ContainersArgs, KillArgs, RestartArgs, RmArgs, StartArgs, StopArgs, WaitArgs};

pub fn pause(root: &Path, args: &ContainersArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::pause(&store, name)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn unpause(root: &Path, args: &ContainersArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::unpause(&store, name)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn start(root: &Path, args: &StartArgs) -> Result<ExitCode> {
    if args.checkpoint.is_some() || args.checkpoint_dir.is_some() {
        anyhow::bail!(
            "--checkpoint is not supported by pocky: it has no checkpoint/restore (CRIU)"
        );
    }
    let store = Store::open(root)?;
    if !args.attach && !args.interactive {
        return Ok(each_detached(&args.containers, |name| {
            Ok(pocky_engine::lifecycle::start(&store, name)?)
        }));
    }
    let [name] = &args.containers[..] else {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    };
    let rec = pocky_engine::state::find(&store, name)?;
    // Attached from the start: what it writes before we follow is kept.
    let since = std::time::SystemTime::now();
    match pocky_engine::lifecycle::start(&store, name)? {
        Detached::Failed { code, message } => {
            eprintln!("pocky: {message}");
            return Ok(ExitCode::from(code));
        }
        Detached::Started | Detached::AlreadyRunning => {}
    }
    let attach = crate::attach::AttachArgs {
        no_stdin: !args.interactive,
        sig_proxy: true,
        detach_keys: args.detach_keys.clone(),
        container: rec.id.clone(),
    };
    crate::attach::follow(&store, &rec.id, &attach, Some(since))
}

pub fn restart(root: &Path, args: &RestartArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each_detached(&args.containers, |name| {
        Ok(pocky_engine::lifecycle::restart(
            &store,
            name,
            args.time,
            args.signal.as_deref(),
        )?)
    }))
}

/// Prints what a detached start did, as Docker does: `shown` (the id for
/// `run -d`, the name given for `start`) or the error; the exit code.
pub fn report_detached(shown: &str, outcome: Detached) -> ExitCode {
    match outcome {
        Detached::Started | Detached::AlreadyRunning => {
            println!("{shown}");
            ExitCode::SUCCESS
        }
        Detached::Failed { code, message } => {
            eprintln!("pocky: {message}");
            ExitCode::from(code)
        }
    }
}

/// [`each`] for starts: a failed start's own code is kept when it is the
/// only container, as Docker reports it.
fn each_detached(names: &[String], mut f: impl FnMut(&str) -> Result<Detached>) -> ExitCode {
    let mut worst = ExitCode::SUCCESS;
    let mut failed = false;
    for name in names {
        match f(name) {
            Ok(outcome) => {
                let failed_start = matches!(outcome, Detached::Failed { .. });
                let code = report_detached(name, outcome);
                if failed_start && !failed {
                    worst = code;
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("pocky: {}", crate::one_line(&e));
                if !failed {
                    worst = ExitCode::from(crate::EXIT_ENGINE);
                    failed = true;
                }
            }
        }
    }
    worst
}

pub fn stop(root: &Path, args: &StopArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::stop(&store, name, args.time, args.signal.as_deref())?;
        println!("{name}");
        Ok(())
    }))
}

pub fn kill(root: &Path, args: &KillArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    // A bad signal fails once, not once per container.
    pocky_engine::runtime::parse_signal(&args.signal)?;
    Ok(each(&args.containers, |name| {
        pocky_engine::lifecycle::kill(&store, name, &args.signal)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn rm(root: &Path, args: &RmArgs) -> Result<ExitCode> {
    if args.link {
        anyhow::bail!(
            "--link is not supported by pocky rm: a link is a name on the network here, which `pocky network disconnect` takes away"
        );
    }
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

/// `pocky system boot`: the restart policies' starts after a reboot.
pub fn boot(root: &Path) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let report = pocky_engine::boot::boot(&store)?;
    for name in &report.started {
        println!("{name}");
    }
    for (name, e) in &report.failed {
        eprintln!("pocky: starting {name}: {e}");
    }
    Ok(match report.failed.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(crate::EXIT_ENGINE),
    })
}
