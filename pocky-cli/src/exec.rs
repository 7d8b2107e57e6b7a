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
    // Checked first, as Docker does, even where no terminal will use them.
    let keys = pocky_engine::attach_server::parse_detach_keys(
        args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS),
    )?;
    let spec = state::bundle_spec(&store, &rec.id)?;
    let want = pocky_engine::exec::ExecProcess {
        args: cmd.to_vec(),
        env: args.env.clone(),
        env_file: args.env_file.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty: args.tty,
        privileged: args.privileged,
    };
    let process = pocky_engine::exec::process_for(&spec, &want)?;
    let spec = pocky_engine::exec::spec_for(&spec, &want);
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
    // Detach keys are a terminal's: without -t every byte is input.
    let keys = if args.tty && args.interactive {
        keys
    } else {
        Vec::new()
    };
    let status = attend(&forwarder, child.pid, pty, args.interactive, keys)?;
    Ok(ExitCode::from(
        u8::try_from(status.code & 0xff).unwrap_or(255),
    ))
}

/// Docker's default detach sequence.
const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// `foreground::attend` with the detach keys watched on the terminal:
/// typed, they leave the process running on its terminal (held by a small
/// process of its own, as there is no daemon to hold it) and pocky exits 0,
/// as `docker exec -it` returns.
fn attend(
    forwarder: &pocky_engine::runtime::SignalForwarder,
    pid: nix::unistd::Pid,
    pty: Option<OwnedFd>,
    interactive: bool,
    keys: Vec<u8>,
) -> Result<pocky_engine::runtime::ExitStatus> {
    use pocky_engine::runtime::{Relayed, hold_detached, relay_detachable};
    if keys.is_empty() {
        return crate::foreground::attend(forwarder, pid, pty, interactive);
    }
    let relay = pty.map(|master| {
        let _ = pocky_engine::runtime::copy_winsize(
            std::os::fd::AsFd::as_fd(&std::io::stdin()),
            std::os::fd::AsFd::as_fd(&master),
        );
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut escape = pocky_engine::attach_server::Escape::new(keys);
            let mut filter = |b: &[u8]| escape.feed(b);
            if let Relayed::Detached(master) =
                relay_detachable(master, interactive, Some(&mut filter))?
            {
                // The terminal is restored (the relay's raw mode ended);
                // the waiting main thread has nothing left to do.
                hold_detached(master)?;
                std::process::exit(0);
            }
            Ok(())
        })
    });
    let status = forwarder.run(pid)?;
    if let Some(r) = relay {
        match r.join() {
            Ok(res) => res?,
            Err(_) => bail!("the terminal relay panicked"),
        }
    }
    Ok(status)
}
