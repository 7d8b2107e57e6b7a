//! `exec`: a further process in a running container, from a process.json
//! (what containerd and conmon pass) or from a command line.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use oci_spec::runtime::{Process, User};
use pocky_runtime::launch::Stdio;
use pocky_runtime::state::{StateDir, Status};

use crate::cli::ExecArgs;
use crate::lifecycle::{load_spec, write_pid_file};

fn parse_user(s: &str) -> anyhow::Result<User> {
    let (uid, gid) = s.split_once(':').unwrap_or((s, "0"));
    let mut user = User::default();
    user.set_uid(
        uid.parse()
            .with_context(|| format!("--user {s}: uid must be a number"))?,
    );
    user.set_gid(
        gid.parse()
            .with_context(|| format!("--user {s}: gid must be a number"))?,
    );
    Ok(user)
}

fn build_process(spec_process: Option<Process>, req: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(path) = &req.process {
        return crate::resources_cmd::read_json::<Process>(path);
    }
    if req.command.is_empty() {
        bail!("exec needs --process FILE or a command after the container id");
    }
    let mut p = spec_process.unwrap_or_default();
    p.set_args(Some(req.command.clone()));
    p.set_terminal(Some(req.tty));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(req.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &req.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &req.user {
        p.set_user(parse_user(u)?);
    }
    Ok(p)
}

pub fn exec(root: &Path, req: ExecArgs) -> anyhow::Result<ExitCode> {
    let id = req.id.as_str();
    let dir = StateDir::new(root, id)?;
    let record = dir.load()?;
    let status = dir.status(&record);
    if !matches!(status, Status::Created | Status::Running) {
        bail!("cannot exec in container {id}: it is {status}");
    }
    // The spec as created (a config.json edited since does not count).
    let spec = match dir.load_spec()? {
        Some(spec) => spec,
        None => load_spec(&record.bundle, id)?,
    };
    let process = build_process(spec.process().clone(), &req)?;
    let terminal = process.terminal().unwrap_or(false);
    // create's rules for the socket, and its connection, made up front.
    let console = crate::lifecycle::console_socket(terminal, req.console_socket.as_deref())?;
    let forwarder = if req.detach {
        None
    } else {
        Some(pocky_ns::SignalForwarder::new()?)
    };
    let stdio = Stdio {
        terminal,
        ..Stdio::default()
    };
    let mut child = pocky_runtime::exec::exec_in(
        record.pid,
        &spec,
        &process,
        stdio,
        pocky_runtime::exec::ExecOptions {
            cgroup_base: record.cgroup_base.as_deref(),
            preserve_fds: req.preserve_fds,
            new_session: false,
        },
    )?;
    if let Some(sock) = &console {
        let master = child
            .take_pty_master()
            .context("the process did not send its terminal")?;
        pocky_runtime::console::send_fd(sock.as_fd(), master.as_fd(), "")
            .context("sending the terminal to the console socket")?;
    }
    if let Some(pf) = &req.pid_file {
        write_pid_file(pf, child.pid.as_raw())?;
    }
    if req.detach {
        return Ok(ExitCode::SUCCESS);
    }
    let st = match &forwarder {
        Some(f) => f.run(child.pid)?,
        None => child.wait()?,
    };
    Ok(ExitCode::from(u8::try_from(st.code).unwrap_or(255)))
}
