//! Docker's JSON progress stream (pull, push): one JSON message per line
//! in a chunked response that starts with the first message, so an
//! operation that fails before it reports anything gets a plain status.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pocky_engine::progress::{LayerProgress, PullProgress};
use serde_json::{Value, json};

use crate::http::{self, Stream};
use crate::{ApiResult, Ctx, Reply};

/// The response of a pull: started by the first message, so that a pull
/// that fails before it reports anything gets a plain error status.
pub struct Sink {
    /// The connection until the first message, then the response on it.
    idle: Option<Stream>,
    out: Option<http::Chunked<Stream>>,
    broken: bool,
}

impl Sink {
    /// A stream not started yet on `conn`.
    pub fn new(conn: Stream) -> Sink {
        Sink {
            idle: Some(conn),
            out: None,
            broken: false,
        }
    }

    pub fn started(&self) -> bool {
        self.idle.is_none()
    }

    pub fn send(&mut self, v: &Value) {
        if self.broken {
            return;
        }
        if let Some(w) = self.idle.take() {
            match http::Chunked::start(w, 200, "application/json", Vec::new()) {
                Ok(c) => self.out = Some(c),
                Err(_) => self.broken = true,
            }
        }
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        if let Some(out) = self.out.as_mut() {
            self.broken = out.write_all(&line).is_err();
        }
    }

    /// Ends the response; false when the connection is no good after it.
    pub fn finish(&mut self) -> bool {
        match self.out.take() {
            Some(out) if !self.broken => out.finish().is_ok(),
            _ => false,
        }
    }
}

#[derive(Clone)]
pub struct JsonProgress(Arc<Mutex<Sink>>);

impl JsonProgress {
    fn send(&self, v: Value) {
        if let Ok(mut s) = self.0.lock() {
            s.send(&v);
        }
    }
}

impl PullProgress for JsonProgress {
    fn line(&self, msg: &str) {
        // "latest: Pulling from library/busybox": the id is before the colon.
        match msg.split_once(": ") {
            Some((id, status)) if !id.contains(' ') => {
                self.send(json!({"status": status, "id": id}));
            }
            _ => self.send(json!({"status": msg})),
        }
    }
    fn layer(&self, short_id: &str, size: u64) -> Box<dyn LayerProgress> {
        Box::new(Layer {
            out: self.clone(),
            id: short_id.to_owned(),
            total: size,
            done: Mutex::new((0, 0)),
            phase: Mutex::new("Downloading"),
        })
    }
}

struct Layer {
    out: JsonProgress,
    id: String,
    total: u64,
    /// Bytes read, and at how many the last message was sent.
    done: Mutex<(u64, u64)>,
    /// What the byte counts are of: "Downloading", "Pushing".
    phase: Mutex<&'static str>,
}

/// A message per this many bytes: progress without flooding the client.
const STEP: u64 = 512 * 1024;

impl LayerProgress for Layer {
    fn state(&self, msg: &'static str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = msg;
        }
        self.out.send(json!({"status": msg, "id": self.id}));
    }
    fn finish(&self, msg: &'static str) {
        self.out
            .send(json!({"status": msg, "id": self.id, "progressDetail": {}}));
    }
    fn advance(&self, n: u64) {
        let Ok(mut d) = self.done.lock() else { return };
        d.0 += n;
        if d.0 - d.1 < STEP && d.0 < self.total {
            return;
        }
        d.1 = d.0;
        let current = d.0;
        drop(d);
        let phase = self.phase.lock().map_or("Downloading", |p| *p);
        self.out.send(json!({
            "status": phase,
            "id": self.id,
            "progressDetail": {"current": current, "total": self.total},
        }));
    }
}

/// Runs `op` with a progress stream on the connection; what it returns
/// are the last messages. Its error is the response's status when nothing
/// was sent yet, else an `error` message in the stream.
pub fn stream<T>(
    ctx: &mut Ctx,
    op: impl FnOnce(&mut Ctx, &JsonProgress) -> pocky_engine::Result<T>,
    last: impl FnOnce(T) -> Vec<Value>,
) -> ApiResult {
    let sink = Arc::new(Mutex::new(Sink {
        idle: Some(ctx.writer.try_clone()?),
        out: None,
        broken: false,
    }));
    let progress = JsonProgress(sink.clone());
    let result = op(ctx, &progress);
    let Ok(mut s) = sink.lock() else {
        return Ok(Reply::Written { keep: false });
    };
    match result {
        Ok(v) => {
            for m in last(v) {
                s.send(&m);
            }
        }
        Err(e) if !s.started() => return Err(e.into()),
        Err(e) => {
            let msg = pocky_engine::one_line(&e);
            s.send(&json!({"errorDetail": {"message": msg}, "error": msg}));
        }
    }
    Ok(Reply::Written { keep: s.finish() })
}
