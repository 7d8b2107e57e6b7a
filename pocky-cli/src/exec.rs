//! `pocky exec`: a further process in a running container.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use pocky_runtime::launch::Stdio;
use pocky_store::Store;

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
    let mut process = spec
        .process()
        .clone()
        .context("the container's spec has no process")?;
    process.set_args(Some(cmd.to_vec()));
    process.set_terminal(Some(args.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in pocky_engine::flags::environment(&args.env, &[])? {
        let key = kv
            .split_once('=')
            .map_or(kv.as_str(), |(k, _)| k)
            .to_owned();
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv);
    }
    process.set_env(Some(env));
    if let Some(u) = &args.user {
        process.user_mut().set_username(Some(u.clone()));
    }
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            bail!("the working directory {w:?} is invalid: it needs to be an absolute path");
        }
        process.set_cwd(PathBuf::from(w));
    }
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
    let mut child = match pocky_runtime::exec::exec_in(
        rec.state.pid,
        &spec,
        &process,
        stdio,
        pocky_runtime::exec::ExecOptions::default(),
    ) {
        Ok(c) => c,
        Err(pocky_runtime::RuntimeError::Ns(pocky_ns::NsError::Child {
            exit_code,
            message,
            ..
        })) => {
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
