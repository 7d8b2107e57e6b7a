//! Start, stop, restart, kill, pause, unpause and wait. A start hands the
//! container to its own monitor (the engine forks it from this
//! connection's single-threaded process), so the service can go away and
//! the container keeps running.

use std::io::Write;
use std::time::Duration;

use pocky_engine::events::{EventFilter, Follower};
use pocky_engine::monitor::Detached;
use pocky_engine::state;
use pocky_engine::store::{ContainerStore, StoreError};
use serde_json::json;

use crate::{ApiError, ApiResult, Ctx, Reply, http};

/// A failed start as Docker answers it: the CLI reads "not found" and
/// "permission denied" in the message to exit 127 and 126.
fn started(outcome: Detached) -> ApiResult {
    match outcome {
        Detached::Started => Ok(Reply::Empty(204)),
        Detached::AlreadyRunning => Ok(Reply::Empty(304)),
        Detached::Failed { code, message } => Err(ApiError::new(
            if code == 126 || code == 127 { 400 } else { 500 },
            message,
        )),
    }
}

pub fn start(ctx: &mut Ctx, id: &str) -> ApiResult {
    // Checked, so a bad value is a 400 as in Docker; the attach that
    // goes with the start carries its own.
    if let Some(keys) = ctx.query("detachKeys").filter(|k| !k.is_empty()) {
        pocky_engine::attach_server::parse_detach_keys(keys)?;
    }
    let rec = state::find(ctx.store, id)?;
    if state::process_alive(&rec) {
        return Ok(Reply::Empty(304));
    }
    started(pocky_engine::lifecycle::start(ctx.store, id)?)
}

fn timeout(ctx: &Ctx) -> ApiResult<Option<u64>> {
    // -1 waits forever in Docker; pocky's longest wait is a day.
    match ctx.number::<i64>("t")? {
        Some(t) if t < 0 => Ok(Some(86_400)),
        Some(t) => Ok(Some(t as u64)),
        None => Ok(None),
    }
}

pub fn stop(ctx: &mut Ctx, id: &str) -> ApiResult {
    let t = timeout(ctx)?;
    let signal = ctx
        .query("signal")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let rec = state::find(ctx.store, id)?;
    if !state::process_alive(&rec) {
        return Ok(Reply::Empty(304));
    }
    pocky_engine::lifecycle::stop(ctx.store, id, t, signal.as_deref())?;
    Ok(Reply::Empty(204))
}

pub fn restart(ctx: &mut Ctx, id: &str) -> ApiResult {
    let t = timeout(ctx)?;
    let signal = ctx
        .query("signal")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    started(pocky_engine::lifecycle::restart(
        ctx.store,
        id,
        t,
        signal.as_deref(),
    )?)
}

pub fn kill(ctx: &mut Ctx, id: &str) -> ApiResult {
    let signal = ctx
        .query("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGKILL")
        .to_owned();
    pocky_engine::lifecycle::kill(ctx.store, id, &signal)?;
    Ok(Reply::Empty(204))
}

pub fn pause(ctx: &mut Ctx, id: &str) -> ApiResult {
    pocky_engine::lifecycle::pause(ctx.store, id)?;
    Ok(Reply::Empty(204))
}

pub fn unpause(ctx: &mut Ctx, id: &str) -> ApiResult {
    pocky_engine::lifecycle::unpause(ctx.store, id)?;
    Ok(Reply::Empty(204))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    NotRunning,
    NextExit,
    Removed,
}

/// How often the waiter looks again: the latency `docker run` adds to a
/// short container, for reading a small file a few dozen times a second.
const POLL: Duration = Duration::from_millis(20);

/// `POST /containers/{id}/wait?condition=...`: the headers go out at once
/// (the CLI waits for them before it starts the container), the exit code
/// when it comes. The exit is read from the container's `die` event,
/// which its monitor records before a `--rm` removes the record; a
/// container whose monitor died is settled from its record instead.
pub fn wait(ctx: &mut Ctx, id: &str) -> ApiResult {
    let condition = match ctx.query("condition").unwrap_or("") {
        "" | "not-running" => Condition::NotRunning,
        "next-exit" => Condition::NextExit,
        "removed" => Condition::Removed,
        other => {
            return Err(ApiError::bad(format!(
                "invalid condition {other:?}: not-running, next-exit or removed"
            )));
        }
    };
    let rec = state::find(ctx.store, id)?;
    let full_id = rec.id.clone();
    // Following starts before anything is answered: no exit is missed.
    let mut follower = Follower::new(ctx.store)?;
    let filter =
        EventFilter::parse(&["type=container".to_owned(), format!("container={full_id}")])?;
    // An owner that still runs has not recorded the exit yet (a kill's
    // victim may be gone a moment before its monitor writes it down).
    let running =
        state::process_alive(&rec) || state::owner_alive(ctx.store, &full_id).unwrap_or(false);
    let started_at = rec.state.started_at;
    if condition == Condition::NotRunning && !running {
        let rec = state::refresh(ctx.store, rec)?;
        return Ok(Reply::Json(
            200,
            json!({"StatusCode": rec.state.exit_code.unwrap_or(0)}),
        ));
    }
    let peer = ctx.writer.try_clone()?;
    let mut out = http::Chunked::start(&mut *ctx.writer, 200, "application/json", Vec::new())?;
    let mut code: Option<i64> = None;
    let mut removed = false;
    loop {
        follower.read_new(ctx.store, None, &filter, &mut |e| {
            match e.action.as_str() {
                "die" => {
                    code = Some(
                        e.actor
                            .attributes
                            .get("exitCode")
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0),
                    );
                }
                "destroy" => removed = true,
                _ => {}
            }
            true
        })?;
        match ctx.store.find_container(&full_id) {
            Ok(r) => {
                let r = state::refresh(ctx.store, r)?;
                // An exit that no event told of (its monitor was killed).
                let ran_since = r.state.started_at != started_at || running;
                if code.is_none()
                    && ran_since
                    && !state::process_alive(&r)
                    && !state::owner_alive(ctx.store, &full_id).unwrap_or(false)
                    && r.state.finished_at.is_some()
                    && condition != Condition::Removed
                {
                    code = Some(i64::from(r.state.exit_code.unwrap_or(0)));
                }
            }
            Err(StoreError::NoSuchContainer(_)) => removed = true,
            Err(e) => return Err(e.into()),
        }
        let done = match condition {
            Condition::Removed => removed,
            _ => code.is_some() || removed,
        };
        if done {
            break;
        }
        std::thread::sleep(POLL);
        if http::peer_gone(&peer) {
            return Ok(Reply::Written { keep: false });
        }
    }
    let body = match code {
        Some(c) => json!({"StatusCode": c}),
        None => json!({"StatusCode": 0}),
    };
    let mut line = serde_json::to_vec(&body).unwrap_or_default();
    line.push(b'\n');
    let ok = out.write_all(&line).is_ok() && out.finish().is_ok();
    Ok(Reply::Written { keep: ok })
}
