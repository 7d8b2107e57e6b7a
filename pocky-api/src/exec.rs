//! `exec` create, start, resize and inspect. An exec is created by one
//! request and started by another (often on another connection, so in
//! another process): its record is a file in the container's directory,
//! written atomically, and goes with the container. The process that
//! serves the start waits for the exec's process and records its exit.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use pocky_engine::exec::{ExecError, ExecProcess};
use pocky_engine::runtime::Stdio;
use pocky_engine::state;
use pocky_engine::store::{ContainerStore, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::create_body::{strings, strslice};
use crate::http::Stream;
use crate::{ApiError, ApiResult, Ctx, Reply, mux};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct ExecRecord {
    id: String,
    container: String,
    cmd: Vec<String>,
    env: Vec<String>,
    user: Option<String>,
    workdir: Option<String>,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    running: bool,
    pid: i32,
    exit_code: Option<i32>,
    /// `DetachKeys`, checked at create; Docker's default when None.
    #[serde(default)]
    detach_keys: Option<String>,
    /// `Privileged`: every capability, no seccomp filter.
    #[serde(default)]
    privileged: bool,
}

fn exec_dir(store: &Store, container: &str) -> ApiResult<PathBuf> {
    Ok(store.container_dir(container)?.join("execs"))
}

fn save(store: &Store, rec: &ExecRecord) -> ApiResult<()> {
    let dir = exec_dir(store, &rec.container)?;
    std::fs::create_dir_all(&dir)?;
    let data = serde_json::to_vec(rec).map_err(|e| ApiError::internal(e.to_string()))?;
    pocky_engine::store::write_atomic(&dir.join(format!("{}.json", rec.id)), &data)
        .map_err(ApiError::from)
}

fn load(store: &Store, id: &str) -> ApiResult<ExecRecord> {
    let missing = || ApiError::not_found(format!("No such exec instance: {id}"));
    // An id names a file: nothing but the hex of our own ids gets near a path.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    for c in store.containers()? {
        let path = exec_dir(store, &c.id)?.join(format!("{id}.json"));
        if let Ok(data) = std::fs::read(&path) {
            return serde_json::from_slice(&data)
                .map_err(|e| ApiError::internal(format!("exec record {id}: {e}")));
        }
    }
    Err(missing())
}

fn bool_of(v: &Value, key: &str) -> bool {
    v[key].as_bool().unwrap_or(false)
}

fn running_container(store: &Store, id: &str) -> ApiResult<pocky_engine::store::ContainerRecord> {
    let rec = state::find(store, id)?;
    if !state::process_alive(&rec) {
        return Err(ApiError::conflict(format!("Container {id} is not running")));
    }
    if state::paused(&rec) {
        return Err(ApiError::conflict(format!(
            "Container {id} is paused, unpause the container before exec"
        )));
    }
    Ok(rec)
}

pub fn create(ctx: &mut Ctx, id: &str) -> ApiResult {
    let body = ctx.json_body()?;
    let Some(config) = body.as_object() else {
        return Err(ApiError::bad("the exec config must be a JSON object"));
    };
    let container = running_container(ctx.store, id)?;
    let cmd = strslice(config, "Cmd")?.unwrap_or_default();
    if cmd.is_empty() {
        return Err(ApiError::bad("No exec command specified"));
    }
    let text = |k: &str| {
        body[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let detach_keys = text("DetachKeys");
    crate::attach::detach_escape(detach_keys.as_deref(), true)?;
    let rec = ExecRecord {
        id: pocky_engine::create::random_id().map_err(ApiError::from)?,
        detach_keys,
        container: container.id.clone(),
        cmd,
        env: strings(config, "Env")?.unwrap_or_default(),
        user: text("User"),
        workdir: text("WorkingDir"),
        tty: bool_of(&body, "Tty"),
        stdin: bool_of(&body, "AttachStdin"),
        stdout: bool_of(&body, "AttachStdout"),
        stderr: bool_of(&body, "AttachStderr"),
        privileged: bool_of(&body, "Privileged"),
        ..ExecRecord::default()
    };
    // Checked now, so a bad working directory fails the create.
    let spec = state::bundle_spec(ctx.store, &container.id)?;
    pocky_engine::exec::process_for(&spec, &process_of(&rec))?;
    save(ctx.store, &rec)?;
    Ok(Reply::Json(201, json!({"Id": rec.id})))
}

fn process_of(rec: &ExecRecord) -> ExecProcess {
    ExecProcess {
        args: rec.cmd.clone(),
        env: rec.env.clone(),
        user: rec.user.clone(),
        workdir: rec.workdir.clone(),
        tty: rec.tty,
        privileged: rec.privileged,
        ..ExecProcess::default()
    }
}

fn null() -> ApiResult<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

fn pipe() -> ApiResult<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ApiError::internal(format!("a pipe: {e}")))
}

/// The ends this process keeps of the exec's stdio.
#[derive(Default)]
struct Ends {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

pub fn start(ctx: &mut Ctx, id: &str) -> ApiResult {
    let body = ctx.json_body()?;
    let detach = bool_of(&body, "Detach");
    let mut rec = load(ctx.store, id)?;
    if rec.running || rec.exit_code.is_some() {
        return Err(ApiError::conflict(format!(
            "exec {id} has already been started"
        )));
    }
    let container = running_container(ctx.store, &rec.container)?;
    let spec = state::bundle_spec(ctx.store, &container.id)?;
    let want = process_of(&rec);
    let process = pocky_engine::exec::process_for(&spec, &want)?;
    let spec = pocky_engine::exec::spec_for(&spec, &want);
    let mut ends = Ends::default();
    let stdio = if detach {
        Stdio {
            stdin: Some(null()?),
            stdout: Some(null()?),
            stderr: Some(null()?),
            terminal: false,
        }
    } else if rec.tty {
        Stdio {
            terminal: true,
            ..Stdio::default()
        }
    } else {
        let (stdin, keep_in) = match rec.stdin {
            true => pipe().map(|(r, w)| (r, Some(w)))?,
            false => (null()?, None),
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        ends = Ends {
            stdin: keep_in,
            stdout: Some(out_r),
            stderr: Some(err_r),
        };
        Stdio {
            stdin: Some(stdin),
            stdout: Some(out_w),
            stderr: Some(err_w),
            terminal: false,
        }
    };
    // Switched before the process starts, as dockerd does: output that
    // came with the switching response would be lost to clients that read
    // the head through a buffer (docker-py).
    if !detach {
        crate::attach::hijack(ctx, ctx.stream_type(rec.tty))?;
    }
    let spawned = pocky_engine::exec::spawn(
        container.state.pid,
        &spec,
        &process,
        stdio,
        pocky_engine::runtime::ExecOptions::default(),
    );
    let mut child = match spawned {
        Ok(c) => c,
        Err(ExecError::Child { exit_code, message }) => {
            rec.exit_code = Some(exit_code);
            save(ctx.store, &rec)?;
            if detach {
                return Err(ApiError::new(
                    if exit_code == 126 || exit_code == 127 {
                        400
                    } else {
                        500
                    },
                    message,
                ));
            }
            // As dockerd: the stream carries the failure, the exit code
            // is in the exec's record.
            let _ = mux::write_output(
                ctx.writer,
                rec.tty,
                mux::STDERR,
                format!("{message}\n").as_bytes(),
            );
            ctx.writer.shutdown_write();
            return Ok(Reply::Written { keep: false });
        }
        Err(ExecError::Runtime(e)) if detach => return Err(ApiError::internal(e.to_string())),
        Err(ExecError::Runtime(e)) => {
            let _ = mux::write_output(
                ctx.writer,
                rec.tty,
                mux::STDERR,
                format!("{e}\n").as_bytes(),
            );
            rec.exit_code = Some(126);
            save(ctx.store, &rec)?;
            ctx.writer.shutdown_write();
            return Ok(Reply::Written { keep: false });
        }
    };
    rec.running = true;
    rec.pid = child.pid.as_raw();
    save(ctx.store, &rec)?;
    let pty = child.take_pty_master();
    if detach {
        crate::http::write_full(
            ctx.writer,
            200,
            "",
            &[],
            crate::http::Framing {
                head_only: false,
                close: true,
            },
        )?;
        ctx.writer.shutdown_write();
    } else {
        if let (Some(m), Some(size)) = (&pty, body["ConsoleSize"].as_array()) {
            let dim = |i: usize| size.get(i).and_then(Value::as_u64).unwrap_or(0) as u16;
            // A size the terminal refuses leaves it at the default.
            let _ = pocky_engine::runtime::set_winsize(m.as_fd(), dim(0), dim(1));
        }
        let escape = crate::attach::detach_escape(rec.detach_keys.as_deref(), pty.is_some())?;
        // The relay closes its ends of the terminal when it returns: on a
        // detach this one is handed to a holder, or the process would get
        // a hangup.
        let keep = pty.as_ref().and_then(|m| m.try_clone().ok());
        if relay(ctx.reader, ctx.writer, pty, ends, escape) {
            // Detached: the client goes, the process runs on and its
            // exit is still recorded below.
            if let Some(master) = keep {
                pocky_engine::runtime::hold_detached(master)?;
            }
            ctx.writer.shutdown_write();
        }
    }
    let code = child.wait().map(|s| s.code).unwrap_or(-1);
    rec.running = false;
    rec.exit_code = Some(code);
    save(ctx.store, &rec)?;
    // The record first, the end of the stream after: the client asks for
    // the exit code as soon as the stream ends.
    ctx.writer.shutdown_write();
    Ok(Reply::Written { keep: false })
}

/// Copies the client's bytes to the process and its output to the
/// client until the output ends, or the client types the detach keys
/// (then the process runs on, unwatched, as in dockerd).
fn relay(
    reader: &mut std::io::BufReader<Stream>,
    writer: &mut Stream,
    pty: Option<OwnedFd>,
    ends: Ends,
    mut escape: pocky_engine::attach_server::Escape,
) -> bool {
    let Ok(peer) = writer.try_clone() else {
        return false;
    };
    // Written to on a detach, to wake the output copy.
    let Ok((stop_r, stop_w)) = pipe() else {
        return false;
    };
    let stop_w = std::fs::File::from(stop_w);
    let input: Option<std::fs::File> = match &pty {
        Some(m) => m.try_clone().ok().map(Into::into),
        None => ends.stdin.map(Into::into),
    };
    std::thread::scope(|scope| {
        if let Some(mut input) = input {
            let mut stop_w = &stop_w;
            scope.spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let (data, detach) = escape.feed(&buf[..n]);
                    if input.write_all(&data).is_err() {
                        return;
                    }
                    if detach {
                        let _ = stop_w.write_all(b"d");
                        return;
                    }
                }
                // Dropping `input` closes the process's stdin.
            });
        }
        let detached = match pty {
            Some(m) => copy_out(writer, vec![(m, mux::STDOUT)], true, &stop_r),
            None => {
                let outs = [(ends.stdout, mux::STDOUT), (ends.stderr, mux::STDERR)]
                    .into_iter()
                    .filter_map(|(fd, s)| fd.map(|fd| (fd, s)))
                    .collect();
                copy_out(writer, outs, false, &stop_r)
            }
        };
        // Unblocks the input thread when the client keeps its end open.
        crate::http::shutdown_read(&peer);
        detached
    })
}

/// Output fds to the client (framed without a tty) until all have ended
/// or `stop` is readable (then true).
fn copy_out(writer: &mut Stream, mut fds: Vec<(OwnedFd, u8)>, tty: bool, stop: &OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut buf = vec![0u8; 32 * 1024];
    while !fds.is_empty() {
        let mut polled: Vec<PollFd> = fds
            .iter()
            .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        polled.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
        match poll(&mut polled, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
        let mut ready: Vec<bool> = polled
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(polled);
        if ready.pop() == Some(true) {
            return true;
        }
        let mut ended = Vec::new();
        for (i, (fd, stream)) in fds.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            // EIO: the pty's other side closed with the process.
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(_) => ended.push(i),
                Ok(n) => {
                    if mux::write_output(writer, tty, *stream, &buf[..n]).is_err() {
                        return false;
                    }
                }
            }
        }
        for i in ended.into_iter().rev() {
            fds.remove(i);
        }
    }
    false
}

pub fn resize(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = load(ctx.store, id)?;
    if !rec.running || !rec.tty {
        return Err(ApiError::conflict(format!(
            "exec {id} has no running terminal to resize"
        )));
    }
    crate::attach::set_size(ctx, rec.pid)?;
    Ok(Reply::Raw(200, "text/plain", Vec::new()))
}

pub fn inspect(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = load(ctx.store, id)?;
    let (entry, args) = rec
        .cmd
        .split_first()
        .map_or(("", &[][..]), |(a, b)| (a.as_str(), b));
    Ok(Reply::Json(
        200,
        json!({
            "ID": rec.id,
            "ContainerID": rec.container,
            "Running": rec.running,
            "ExitCode": rec.exit_code,
            "Pid": rec.pid,
            "OpenStdin": rec.stdin,
            "OpenStdout": rec.stdout,
            "OpenStderr": rec.stderr,
            "CanRemove": false,
            "DetachKeys": rec.detach_keys.clone().unwrap_or_default(),
            "ProcessConfig": {
                "tty": rec.tty,
                "entrypoint": entry,
                "arguments": args,
                "privileged": rec.privileged,
                "user": rec.user.clone().unwrap_or_default(),
            },
        }),
    ))
}
