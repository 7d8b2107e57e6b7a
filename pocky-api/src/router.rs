//! From a request head to its handler: the version prefix, the route
//! table, and turning the handler's answer (or its panic) into a response.

use std::io::BufReader;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pocky_engine::store::Store;

use crate::http::{self, Head, Stream};
use crate::{
    ApiError, ApiResult, Ctx, Reply, attach, build, containers, exec, image_io, images, networks,
    registry_auth, system, volumes,
};

/// Serves one request; false when the connection cannot take another
/// (hijacked, or a body left unread).
pub fn dispatch(
    store: &Store,
    mut head: Head,
    reader: &mut BufReader<Stream>,
    writer: &mut Stream,
) -> bool {
    let head_only = head.method == "HEAD";
    let has_body = head.chunked()
        || head
            .header("content-length")
            .is_some_and(|l| l.trim() != "0");
    let (version, rest) = match split_version(&head.path) {
        Ok(v) => v,
        Err(e) => {
            let framing = http::Framing {
                head_only,
                close: has_body,
            };
            let _ = crate::server::respond_error(writer, &e, framing);
            return !has_body;
        }
    };
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| http::percent_decode(s, false))
        .collect();
    head.path = rest.to_owned();
    let mut ctx = Ctx {
        store,
        head,
        segments,
        version,
        reader,
        writer,
        body_read: false,
    };
    let answer = catch_unwind(AssertUnwindSafe(|| route(&mut ctx)))
        .unwrap_or_else(|_| Err(ApiError::internal("the request handler failed (a bug)")));
    let keep = !has_body || ctx.body_read;
    let framing = http::Framing {
        head_only,
        close: !keep || ctx.head.close,
    };
    let written = match answer {
        Ok(Reply::Written { keep: k }) => return k && keep,
        Ok(Reply::Json(status, v)) => {
            let body = serde_json::to_vec(&v).unwrap_or_default();
            http::write_full(ctx.writer, status, "application/json", &body, framing)
        }
        Ok(Reply::Empty(status)) => http::write_full(ctx.writer, status, "", &[], framing),
        Ok(Reply::Raw(status, ty, body)) => {
            http::write_full(ctx.writer, status, ty, &body, framing)
        }
        Err(e) => crate::server::respond_error(ctx.writer, &e, framing),
    };
    written.is_ok() && keep
}

/// `/v1.41/containers/json` into (1.41) and `/containers/json`; a path
/// without a version is served at the newest.
fn split_version(path: &str) -> ApiResult<((u32, u32), &str)> {
    let newest = crate::parse_version(crate::API_VERSION).unwrap_or((1, 43));
    let oldest = crate::parse_version(crate::MIN_API_VERSION).unwrap_or((1, 24));
    let Some(after) = path.strip_prefix("/v") else {
        return Ok((newest, path));
    };
    let (v, rest) = after.split_once('/').unwrap_or((after, ""));
    let Some(version) = crate::parse_version(v) else {
        return Ok((newest, path));
    };
    let rest = &path[path.len() - rest.len() - usize::from(!rest.is_empty())..];
    if version > newest {
        return Err(ApiError::bad(format!(
            "client version {v} is too new. Maximum supported API version is {}",
            crate::API_VERSION
        )));
    }
    if version < oldest {
        return Err(ApiError::bad(format!(
            "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            crate::MIN_API_VERSION
        )));
    }
    Ok((version, if rest.is_empty() { "/" } else { rest }))
}

fn route(ctx: &mut Ctx) -> ApiResult {
    let method = match ctx.head.method.as_str() {
        "HEAD" => "GET".to_owned(),
        m => m.to_owned(),
    };
    let segs: Vec<String> = ctx.segments.clone();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    // A HEAD of the archive is its own request (cp's stat).
    if ctx.head.method == "HEAD"
        && let ["containers", id, "archive"] = s.as_slice()
    {
        return containers::archive_stat(ctx, id);
    }
    match (method.as_str(), s.as_slice()) {
        ("GET", ["_ping"]) => system::ping(),
        ("GET", ["version"]) => system::version(),
        ("GET", ["info"]) => system::info(ctx),
        ("GET", ["events"]) => system::events(ctx),
        ("GET", ["system", "df"]) => system::df(ctx),

        ("GET", ["containers", "json"]) => containers::list(ctx),
        ("POST", ["containers", "create"]) => containers::create(ctx),
        ("POST", ["containers", "prune"]) => containers::prune(ctx),
        ("GET", ["containers", id, "json"]) => containers::inspect(ctx, id),
        ("POST", ["containers", id, "start"]) => containers::start(ctx, id),
        ("POST", ["containers", id, "stop"]) => containers::stop(ctx, id),
        ("POST", ["containers", id, "restart"]) => containers::restart(ctx, id),
        ("POST", ["containers", id, "kill"]) => containers::kill(ctx, id),
        ("POST", ["containers", id, "pause"]) => containers::pause(ctx, id),
        ("POST", ["containers", id, "unpause"]) => containers::unpause(ctx, id),
        ("POST", ["containers", id, "rename"]) => containers::rename(ctx, id),
        ("POST", ["containers", id, "update"]) => containers::update(ctx, id),
        ("POST", ["containers", id, "wait"]) => containers::wait(ctx, id),
        ("DELETE", ["containers", id]) => containers::remove(ctx, id),
        ("GET", ["containers", id, "top"]) => containers::top(ctx, id),
        ("GET", ["containers", id, "logs"]) => attach::logs(ctx, id),
        ("GET", ["containers", id, "stats"]) => containers::stats(ctx, id),
        ("GET", ["containers", id, "changes"]) => containers::changes(ctx, id),
        ("POST", ["containers", id, "attach"]) => attach::attach(ctx, id),
        ("POST", ["containers", id, "resize"]) => attach::resize(ctx, id),
        ("GET", ["containers", id, "archive"]) => containers::archive_get(ctx, id),
        ("PUT", ["containers", id, "archive"]) => containers::archive_put(ctx, id),

        ("POST", ["containers", id, "exec"]) => exec::create(ctx, id),
        ("POST", ["exec", id, "start"]) => exec::start(ctx, id),
        ("POST", ["exec", id, "resize"]) => exec::resize(ctx, id),
        ("GET", ["exec", id, "json"]) => exec::inspect(ctx, id),

        ("POST", ["images", "create"]) => images::pull(ctx),
        ("GET", ["images", "json"]) => images::list(ctx),
        ("POST", ["images", "prune"]) => images::prune(ctx),
        ("GET", ["images", rest @ .., "json"]) => images::inspect(ctx, &rest.join("/")),
        ("GET", ["images", rest @ .., "get"]) if !rest.is_empty() => {
            image_io::save(ctx, Some(&rest.join("/")))
        }
        ("GET", ["images", rest @ .., "history"]) => images::history(ctx, &rest.join("/")),
        ("POST", ["images", rest @ .., "tag"]) => images::tag(ctx, &rest.join("/")),
        ("DELETE", ["images", rest @ ..]) if !rest.is_empty() => {
            images::remove(ctx, &rest.join("/"))
        }

        ("GET", ["networks"]) => networks::list(ctx),
        ("POST", ["networks", "create"]) => networks::create(ctx),
        ("POST", ["networks", "prune"]) => networks::prune(ctx),
        ("GET", ["networks", id]) => networks::inspect(ctx, id),
        ("DELETE", ["networks", id]) => networks::remove(ctx, id),
        ("POST", ["networks", id, "connect"]) => networks::connect(ctx, id),
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(ctx, id),

        ("GET", ["volumes"]) => volumes::list(ctx),
        ("POST", ["volumes", "create"]) => volumes::create(ctx),
        ("POST", ["volumes", "prune"]) => volumes::prune(ctx),
        ("GET", ["volumes", name]) => volumes::inspect(ctx, name),
        ("DELETE", ["volumes", name]) => volumes::remove(ctx, name),

        ("POST", ["build"]) => build::build(ctx),
        ("POST", ["build", "prune"]) => build::prune(ctx),
        ("POST", ["images", rest @ .., "push"]) => images::push(ctx, &rest.join("/")),
        ("POST", ["commit"]) => image_io::commit(ctx),
        ("GET", ["images", "get"]) => image_io::save(ctx, None),
        ("POST", ["images", "load"]) => image_io::load(ctx),
        ("GET", ["containers", id, "export"]) => image_io::export(ctx, id),
        ("POST", ["auth"]) => registry_auth::login(ctx),
        (
            "GET",
            [
                "swarm" | "services" | "nodes" | "tasks" | "secrets" | "configs",
                ..,
            ],
        )
        | (
            "POST",
            [
                "swarm" | "services" | "nodes" | "tasks" | "secrets" | "configs",
                ..,
            ],
        ) => Err(ApiError::new(
            503,
            "This node is not a swarm manager: pocky has no Swarm mode",
        )),
        ("GET", ["plugins"]) => Ok(Reply::Json(200, serde_json::json!([]))),
        ("GET", ["plugins", name, ..]) => Err(ApiError::not_found(format!(
            "plugin {name:?} not found: pocky has no plugins"
        ))),
        _ => Err(ApiError::not_found(format!(
            "page not found: {} {}",
            ctx.head.method, ctx.head.path
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stripped_and_checked() {
        assert_eq!(
            split_version("/v1.41/containers/json").unwrap(),
            ((1, 41), "/containers/json")
        );
        assert_eq!(split_version("/_ping").unwrap(), ((1, 43), "/_ping"));
        assert_eq!(split_version("/v1.43").unwrap(), ((1, 43), "/"));
        assert_eq!(split_version("/v1.99/info").unwrap_err().status, 400);
        assert!(
            split_version("/v1.12/info")
                .unwrap_err()
                .message
                .contains("too old")
        );
        // Not a version: a path of its own (and a 404 later).
        assert_eq!(split_version("/volumes").unwrap(), ((1, 43), "/volumes"));
    }
}
