//! `/containers/{id}/archive`: HEAD (stat), GET (a tar of a path) and PUT
//! (a tar unpacked into a directory), what `docker cp` uses. The engine's
//! copy does the work, with its rules for hostile archives and for paths
//! resolved inside the container's root.

use std::io::Write;

use base64::Engine;
use pocky_engine::copy::{self, CopyRequest};
use serde_json::json;

use crate::{ApiError, ApiResult, Ctx, Reply, http};

fn path_param(ctx: &Ctx) -> ApiResult<String> {
    ctx.query("path")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad("path is required"))
}

fn stat_header(ctx: &Ctx, id: &str, path: &str) -> ApiResult<(String, String)> {
    let s = copy::stat::stat(ctx.store, id, path)?;
    let doc = json!({
        "name": s.name,
        "size": s.size,
        "mode": s.mode,
        "mtime": s.mtime,
        "linkTarget": s.link_target,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
    Ok(("X-Docker-Container-Path-Stat".to_owned(), encoded))
}

pub fn archive_stat(ctx: &mut Ctx, id: &str) -> ApiResult {
    let path = path_param(ctx)?;
    let header = stat_header(ctx, id, &path)?;
    http::write_head(
        ctx.writer,
        200,
        &[header, ("Content-Length".into(), "0".into())],
    )?;
    ctx.writer.flush()?;
    Ok(Reply::Written { keep: true })
}

pub fn archive_get(ctx: &mut Ctx, id: &str) -> ApiResult {
    let path = path_param(ctx)?;
    let header = stat_header(ctx, id, &path)?;
    let req = CopyRequest {
        src: format!("{id}:{path}"),
        dst: "-".into(),
        archive: true,
        follow_link: false,
    };
    let store = ctx.store;
    stream_tar(
        ctx,
        vec![header],
        &format!("archive of {id}:{path}"),
        |out| copy::copy(store, &req, &mut std::io::empty(), out).map(drop),
    )
}

/// A tar written by `write` as a chunked `application/x-tar` response.
/// Once the status is sent a failure can only cut the stream short: the
/// client sees a truncated archive, and the error goes to the log as
/// `what`.
pub(crate) fn stream_tar(
    ctx: &mut Ctx,
    headers: Vec<(String, String)>,
    what: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> pocky_engine::Result<()>,
) -> ApiResult {
    let mut out = http::Chunked::start(&mut *ctx.writer, 200, "application/x-tar", headers)?;
    let mut buffered = std::io::BufWriter::with_capacity(256 * 1024, &mut out);
    match write(&mut buffered) {
        Ok(()) => {
            let flushed = buffered.flush().is_ok();
            drop(buffered);
            Ok(Reply::Written {
                keep: flushed && out.finish().is_ok(),
            })
        }
        Err(e) => {
            crate::server::log_error(&format!("{what}: {}", pocky_engine::one_line(&e)));
            Ok(Reply::Written { keep: false })
        }
    }
}

pub fn archive_put(ctx: &mut Ctx, id: &str) -> ApiResult {
    let path = path_param(ctx)?;
    // Owners as in the archive (`cp -a`), else root's.
    let archive = ctx.flag("copyUIDGID")?;
    let req = CopyRequest {
        src: "-".into(),
        dst: format!("{id}:{path}"),
        archive,
        follow_link: false,
    };
    let store = ctx.store;
    let mut body = ctx.body()?;
    let result = copy::copy(store, &req, &mut body, &mut std::io::sink());
    // What the unpacking left of the body is read, so the answer arrives.
    let drained = body.drain(64 * 1024 * 1024);
    ctx.body_read = drained;
    result?;
    Ok(Reply::Raw(200, "text/plain", Vec::new()))
}
