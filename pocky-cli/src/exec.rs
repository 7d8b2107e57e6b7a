//! `pocky exec`: a further process in a running container.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use pocky_engine::runtime::Stdio;
use pocky_engine::store::Store;

use crate::cli::ExecArgs;
use pocky_engine::state;

pub fn exec(root: &Path, args: &ExecArgs) -> Result<ExitCode> {
    let (name, cmd) = args
        .container_and_command
        .split_first()
        .context("a container is required")?;
    let store = Store::open(root)?;
    let rec = state::find(&store, name)?;
    if !state::process_alive(&rec) {
        bail!("container {name} is not running");
    }
    if state::paused(&rec) {
        bail!("container {name} is paused, unpause the container before exec");
    }
    let spec = state::bundle_spec(&store, &rec.id)?;
    let process = pocky_engine::exec::process_for(
        &spec,
        &pocky_engine::exec::ExecProcess {
            args: cmd.to_vec(),
            env: args.env.clone(),
            user: args.user.clone(),
            workdir: args.workdir.clone(),
            tty: args.tty,
        },
    )?;
    let stdio = if args.detach {
        // Nothing of the caller's may stay with a detached process: a
        // held stdout keeps a reader of pocky's output waiting for its
        // end. Docker drops a detached exec's output too.
        let null = || -> Result<Option<OwnedFd>> {
            Ok(Some(
                std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/null")?
                    .into(),
            ))
        };
        Stdio {
            stdin: null()?,
            stdout: null()?,
            stderr: null()?,
            terminal: false,
        }
    } else if args.tty {
        Stdio {
            terminal: true,
            ..Stdio::default()
        }
    } else if args.interactive && !args.detach {
        Stdio::default()
    } else {
        let null: OwnedFd = std::fs::File::open("/dev/null")?.into();
        Stdio {
            stdin: Some(null),
            ..Stdio::default()
        }
    };
    let forwarder = match args.detach {
        true => None,
        false => Some(crate::foreground::forwarder()?),
    };
    let mut child = match pocky_engine::exec::spawn(
        rec.state.pid,
        &spec,
        &process,
        stdio,
        pocky_engine::runtime::ExecOptions::default(),
    ) {
        Ok(c) => c,
        Err(pocky_engine::exec::ExecError::Child { exit_code, message }) => {
            eprintln!("pocky: {message}");
            return Ok(ExitCode::from(u8::try_from(exit_code).unwrap_or(125)));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(forwarder) = forwarder else {
        return Ok(ExitCode::SUCCESS);
    };
    let pty = child.take_pty_master();
    let status = crate::foreground::attend(&forwarder, child.pid, pty, args.interactive)?;
    Ok(ExitCode::from(
        u8::try_from(status.code & 0xff).unwrap_or(255),
    ))
}
