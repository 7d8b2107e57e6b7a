//! `POST /build` (the classic builder, as the docker CLI drives it with
//! `DOCKER_BUILDKIT=0`) and `POST /build/prune`: the body is the context
//! as a tar, the query the flags, the answer a JSON stream of
//! `{"stream": ...}` lines, the image id in `{"aux": {"ID": ...}}`, and a
//! failure as an `errorDetail` message.

use std::collections::BTreeMap;

use pocky_engine::build::{BuildEvent, BuildRequest, BuildSink};
use pocky_engine::build_context::ContextSource;
use serde_json::{Value, json};

use crate::progress::Sink;
use crate::{ApiError, ApiResult, Ctx, Reply};

/// Most bytes of a context read past a failed build, so the connection can
/// take another request.
const DRAIN: u64 = 64 * 1024 * 1024;

struct Stream {
    sink: Sink,
    quiet: bool,
}

impl Stream {
    fn text(&mut self, s: String) {
        self.sink.send(&json!({"stream": s}));
    }
}

impl BuildSink for Stream {
    fn event(&mut self, event: BuildEvent<'_>) {
        match event {
            BuildEvent::Built { id } => {
                self.sink.send(&json!({"aux": {"ID": id}}));
                if !self.quiet {
                    let short = id.strip_prefix("sha256:").unwrap_or(id);
                    let short = &short[..short.len().min(12)];
                    self.text(format!("Successfully built {short}\n"));
                }
            }
            _ if self.quiet => {}
            BuildEvent::Step {
                number,
                total,
                text,
            } => {
                self.text(format!("Step {number}/{total} : {text}\n"));
            }
            BuildEvent::Cached => self.text(" ---> Using cache\n".into()),
            BuildEvent::Output(bytes) => self.text(String::from_utf8_lossy(bytes).into_owned()),
            BuildEvent::StepDone { id, .. } => self.text(format!(" ---> {id}\n")),
            BuildEvent::Warning(w) => self.text(format!("[Warning] {w}\n")),
            BuildEvent::Tagged { name } => self.text(format!("Successfully tagged {name}\n")),
        }
    }
}

/// A JSON object of strings in a query parameter (`buildargs`, `labels`).
fn string_map(ctx: &Ctx, key: &str) -> ApiResult<BTreeMap<String, Option<String>>> {
    let Some(raw) = ctx.query(key).filter(|v| !v.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid {key}: {e}")))?;
    let Some(map) = v.as_object() else {
        return Err(ApiError::bad(format!("invalid {key}: not an object")));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), Some(s.clone()))),
            Value::Null => Ok((k.clone(), None)),
            _ => Err(ApiError::bad(format!("invalid {key}: {k} is not a string"))),
        })
        .collect()
}

pub fn build(ctx: &mut Ctx) -> ApiResult {
    if ctx.query("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad("remote build contexts are not supported"));
    }
    let build_args = string_map(ctx, "buildargs")?
        .into_iter()
        // A null value is "take it from the client's environment", which
        // the client has already done.
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    let labels = string_map(ctx, "labels")?
        .into_iter()
        .map(|(k, v)| format!("{k}={}", v.unwrap_or_default()))
        .collect();
    let req = BuildRequest {
        tags: ctx.query_all("t").into_iter().map(str::to_owned).collect(),
        dockerfile: ctx
            .query("dockerfile")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        build_args,
        target: ctx
            .query("target")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        no_cache: ctx.flag("nocache")?,
        pull: ctx.flag("pull")?,
        platform: ctx
            .query("platform")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        labels,
        network: ctx
            .query("networkmode")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        run_limits: build_limits(ctx)?,
    };
    let quiet = ctx.flag("q")?;
    let mut stream = Stream {
        sink: Sink::new(ctx.writer.try_clone()?),
        quiet,
    };
    let store = ctx.store;
    let mut body = ctx.body()?;
    let result =
        pocky_engine::build::build(store, &req, ContextSource::Tar(&mut body), &mut stream);
    let drained = body.drain(DRAIN);
    ctx.body_read = drained;
    match result {
        Ok(_) => {}
        Err(e) if !stream.sink.started() && !matches!(e, pocky_engine::Error::BuildStep { .. }) => {
            return Err(e.into());
        }
        Err(e) => {
            let msg = pocky_engine::one_line(&e);
            let code = match &e {
                pocky_engine::Error::BuildStep { code, .. } => *code,
                _ => 1,
            };
            stream
                .sink
                .send(&json!({"errorDetail": {"code": code, "message": msg}, "error": msg}));
        }
    }
    let keep = stream.sink.finish() && drained;
    Ok(Reply::Written { keep })
}

pub fn prune(ctx: &mut Ctx) -> ApiResult {
    let done = pocky_engine::build::prune_cache(ctx.store)?;
    Ok(Reply::Json(
        200,
        json!({"CachesDeleted": [], "SpaceReclaimed": done.reclaimed}),
    ))
}

/// The RUN containers' limits from the query: `memory`, `memswap`,
/// `cpushares`, `cpuperiod`, `cpuquota`, `cpusetcpus`, `cpusetmems`,
/// `shmsize`, `ulimits` (JSON), `extrahosts`, `cgroupparent`; `squash` and
/// `cachefrom` refused by name.
fn build_limits(ctx: &Ctx) -> ApiResult<pocky_engine::RunRequest> {
    let text = |k: &str| ctx.query(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let positive =
        |k: &str| -> ApiResult<Option<i64>> { Ok(ctx.number::<i64>(k)?.filter(|v| *v != 0)) };
    let mut req = pocky_engine::RunRequest {
        memory: positive("memory")?.map(|v| v.to_string()),
        memory_swap: positive("memswap")?.map(|v| v.to_string()),
        cpu_shares: positive("cpushares")?.and_then(|v| u64::try_from(v).ok()),
        cpu_period: positive("cpuperiod")?.and_then(|v| u64::try_from(v).ok()),
        cpu_quota: positive("cpuquota")?,
        cpuset_cpus: text("cpusetcpus"),
        cpuset_mems: text("cpusetmems"),
        shm_size: positive("shmsize")?.map(|v| v.to_string()),
        cgroup_parent: text("cgroupparent").unwrap_or_default(),
        ..Default::default()
    };
    if let Some(hosts) = text("extrahosts") {
        req.add_host = hosts.split(',').map(str::to_owned).collect();
    }
    if let Some(u) = text("ulimits") {
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&u).map_err(|e| ApiError::bad(format!("invalid ulimits: {e}")))?;
        for l in list {
            let name = l["Name"].as_str().unwrap_or_default();
            req.ulimit
                .push(format!("{name}={}:{}", l["Soft"], l["Hard"]));
        }
    }
    if ctx.flag("squash")? {
        req.refused.push(("--squash".into(), String::new()));
    }
    if text("cachefrom").is_some_and(|c| c != "[]") {
        req.refused.push(("--cache-from".into(), String::new()));
    }
    Ok(req)
}
