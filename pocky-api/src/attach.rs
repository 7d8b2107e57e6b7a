//! `logs`, `attach` and `resize`. A container's output is its json-file
//! log, written by its monitor; both endpoints read that log, so an
//! attach neither depends on nor slows down the container. Input goes to
//! the monitor's attach server (containers created with `OpenStdin`).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use pocky_engine::attach_server::Escape;
use pocky_engine::logreader::{self, LogEntry, LogOptions};
use pocky_engine::state;
use pocky_engine::store::ContainerStore;

use crate::http::{self, Stream};
use crate::{ApiError, ApiResult, Ctx, Reply, mux};

/// How often an attach looks at the log; the writer gives no other signal.
const POLL: Duration = Duration::from_millis(20);

/// Which streams the client asked for.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    /// The line's attributes before it (`details`).
    details: bool,
    tty: bool,
}

/// Writes one log line as the client wants it; false once it is gone.
fn send(w: &mut impl Write, wanted: Wanted, e: &LogEntry) -> bool {
    let stream = match e.stream.as_str() {
        "stderr" if wanted.stderr => mux::STDERR,
        "stderr" => return true,
        _ if wanted.stdout => mux::STDOUT,
        _ => return true,
    };
    let mut data = Vec::with_capacity(e.log.len() + 32);
    if wanted.timestamps {
        data.extend_from_slice(e.time.as_bytes());
        data.push(b' ');
    }
    if wanted.details {
        data.extend_from_slice(pocky_engine::log_config::details_prefix(&e.attrs).as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(e.log.as_bytes());
    mux::write_output(w, wanted.tty, stream, &data).is_ok()
}

/// A log's `since`/`until`: 0 is Docker's "not set" for both.
fn time_param(ctx: &Ctx, key: &str) -> ApiResult<Option<SystemTime>> {
    Ok(ctx.time(key)?.filter(|t| *t > SystemTime::UNIX_EPOCH))
}

pub fn logs(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = state::find(ctx.store, id)?;
    let wanted = Wanted {
        stdout: ctx.flag("stdout")?,
        stderr: ctx.flag("stderr")?,
        timestamps: ctx.flag("timestamps")?,
        details: ctx.flag("details")?,
        tty: rec.tty,
    };
    logreader::check_readable(&rec, false)?;
    if !wanted.stdout && !wanted.stderr {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match ctx.query("tail").unwrap_or("all") {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::bad(format!("invalid tail {n:?}")))?
                .max(0) as usize,
        ),
    };
    let opts = LogOptions {
        follow: ctx.flag("follow")?,
        tail,
        since: time_param(ctx, "since")?,
        until: time_param(ctx, "until")?,
        ..LogOptions::default()
    };
    let ty = ctx.stream_type(rec.tty);
    let mut out = http::Chunked::start(&mut *ctx.writer, 200, ty, Vec::new())?;
    let mut gone = false;
    logreader::logs(ctx.store, &rec.id, &opts, &mut |e| {
        gone = !send(&mut out, wanted, e);
        !gone
    })?;
    if gone {
        return Ok(Reply::Written { keep: false });
    }
    Ok(Reply::Written {
        keep: out.finish().is_ok(),
    })
}

/// `POST /containers/{id}/attach`: the connection is hijacked and carries
/// the output (framed without a tty) until the container stops, and the
/// client's bytes as its input. An attach made before the start (what
/// `docker run` does) waits for it.
pub fn attach(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = state::find(ctx.store, id)?;
    let wanted = Wanted {
        stdout: ctx.flag("stdout")?,
        stderr: ctx.flag("stderr")?,
        timestamps: false,
        details: false,
        tty: rec.tty,
    };
    let stream = ctx.flag("stream")?;
    let stdin = ctx.flag("stdin")? && rec.interactive;
    let escape = detach_escape(ctx.query("detachKeys"), rec.tty)?;
    logreader::check_readable(&rec, true)?;
    // Held from now: see `Follower::open`.
    let mut tail = logreader::Follower::open(
        &state::log_path(ctx.store, &rec.id)?,
        !ctx.flag("logs")?,
        true,
    )?;
    let ty = ctx.stream_type(rec.tty);
    hijack(ctx, ty)?;
    let dir = ctx.store.container_dir(&rec.id)?;
    let started_at = rec.state.started_at;
    let was_running = state::process_alive(&rec);
    let peer = ctx.writer.try_clone()?;
    let reader = &mut *ctx.reader;
    let writer = &mut *ctx.writer;
    let store = ctx.store;
    let detached = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if stdin {
            let detached = &detached;
            scope.spawn(move || {
                if relay_input(reader, &dir, escape) {
                    detached.store(true, Ordering::SeqCst);
                }
            });
        }
        loop {
            let ended = match store.find_container(&rec.id) {
                Ok(r) => {
                    let ran = was_running || r.state.started_at != started_at;
                    ran && !state::owner_alive(store, &rec.id).unwrap_or(false)
                }
                Err(_) => true,
            };
            let Ok(entries) = tail.read() else { break };
            if !entries.iter().all(|e| send(writer, wanted, e)) {
                break;
            }
            let detached = detached.load(Ordering::SeqCst);
            if ended || detached || !stream || http::peer_gone(&peer) {
                break;
            }
            std::thread::sleep(POLL);
        }
        // The end of the output: the client stops reading and closes,
        // which ends the input relay too.
        peer.shutdown_write();
        http::shutdown_read(&peer);
    });
    Ok(Reply::Written { keep: false })
}

/// Switches the connection to a raw stream, with `101 UPGRADED` when the
/// client asked to upgrade (the docker CLI, the SDKs) and a plain `200`
/// otherwise.
pub fn hijack(ctx: &mut Ctx, content_type: &str) -> ApiResult<()> {
    let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
    let status = if ctx.head.upgrade() {
        headers.push(("Connection".into(), "Upgrade".into()));
        headers.push(("Upgrade".into(), "tcp".into()));
        101
    } else {
        200
    };
    http::write_head(ctx.writer, status, &headers)?;
    ctx.writer.flush()?;
    Ok(())
}

/// The detach keys of an attach (the request's, else Docker's
/// `ctrl-p,ctrl-q`), watched for only with a terminal, as dockerd does:
/// without one, stdin is data and may hold any byte.
pub fn detach_escape(keys: Option<&str>, tty: bool) -> ApiResult<Escape> {
    let keys = keys
        .filter(|k| !k.is_empty())
        .unwrap_or(DEFAULT_DETACH_KEYS);
    let keys = pocky_engine::attach_server::parse_detach_keys(keys)?;
    Ok(Escape::new(if tty { keys } else { Vec::new() }))
}

/// Docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Copies the client's bytes to the container's attach server, which
/// appears once the container starts. The end of the input is passed on
/// too (by connecting and closing): a `StdinOnce` container reads it as
/// the end of its stdin. True when the client typed the detach keys: the
/// attach ends and the container goes on.
fn relay_input(
    reader: &mut std::io::BufReader<Stream>,
    dir: &std::path::Path,
    mut escape: Escape,
) -> bool {
    let mut buf = [0u8; 8192];
    let mut conn = None;
    loop {
        let n = reader.read(&mut buf).unwrap_or(0);
        let (data, detach) = escape.feed(&buf[..n]);
        // A minute for the container to start (the CLI attaches first).
        for _ in 0..1200 {
            if conn.is_some() {
                break;
            }
            conn = pocky_engine::attach_server::connect(dir);
            if conn.is_none() {
                std::thread::sleep(POLL);
            }
        }
        let Some(c) = conn.as_mut() else {
            return false;
        };
        if detach {
            // With a terminal the server keeps the container's stdin open
            // for the next attach when this client leaves.
            let _ = c.write_all(&data);
            return true;
        }
        if n == 0 || c.write_all(&data).is_err() {
            return false;
        }
    }
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal of the container's
/// first process, reached through its stdin.
pub fn resize(ctx: &mut Ctx, id: &str) -> ApiResult {
    let rec = state::find(ctx.store, id)?;
    if !state::process_alive(&rec) {
        return Err(ApiError::conflict(format!("container {id} is not running")));
    }
    if !rec.tty {
        return Err(ApiError::conflict(format!(
            "container {id} has no terminal to resize"
        )));
    }
    set_size(ctx, rec.state.pid)?;
    Ok(Reply::Raw(200, "text/plain", Vec::new()))
}

/// Sets the window size of the terminal on `pid`'s stdin to the request's
/// `h` and `w`.
pub fn set_size(ctx: &Ctx, pid: i32) -> ApiResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let h: u16 = ctx.number("h")?.unwrap_or(0);
    let w: u16 = ctx.number("w")?.unwrap_or(0);
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(format!("/proc/{pid}/fd/0"))
        .map_err(|e| ApiError::internal(format!("opening the terminal: {e}")))?;
    pocky_engine::runtime::set_winsize(std::os::fd::AsFd::as_fd(&tty), h, w)
        .map_err(|e| ApiError::internal(format!("resizing the terminal: {e}")))
}
