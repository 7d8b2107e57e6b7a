//! `/networks/...`: bridge networks as the engine makes them.

use pocky_engine::netsetup;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, Ctx, Reply};

pub fn list(ctx: &mut Ctx) -> ApiResult {
    let nets = netsetup::networks(ctx.store);
    let mut out = Vec::new();
    for n in pocky_engine::networks::list(ctx.store, &ctx.filters()?)? {
        out.push(pocky_engine::networks::document(ctx.store, &nets, &n)?);
    }
    Ok(Reply::Json(200, Value::Array(out)))
}

pub fn inspect(ctx: &mut Ctx, id: &str) -> ApiResult {
    let nets = netsetup::networks(ctx.store);
    let n = find(ctx, id)?;
    Ok(Reply::Json(
        200,
        pocky_engine::networks::document(ctx.store, &nets, &n)?,
    ))
}

/// By name, or a unique id prefix (pocky-net's lookup, as Docker's).
fn find(ctx: &Ctx, id: &str) -> ApiResult<pocky_engine::networks::Network> {
    netsetup::networks(ctx.store)
        .get(id)
        .map_err(|e| pocky_engine::Error::from(e).into())
}

pub fn create(ctx: &mut Ctx) -> ApiResult {
    let body = ctx.json_body()?;
    let name = body["Name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("a network needs a Name"))?;
    let driver = body["Driver"]
        .as_str()
        .filter(|d| !d.is_empty())
        .unwrap_or("bridge");
    // Attachable is Swarm's (standalone containers may always attach).
    for key in ["Internal", "EnableIPv6", "Ingress"] {
        if body[key].as_bool() == Some(true) {
            return Err(ApiError::bad(format!(
                "pocky does not support {key} networks yet"
            )));
        }
    }
    if body["Options"].as_object().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad("pocky does not support network options yet"));
    }
    let configs = body["IPAM"]["Config"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::bad("pocky takes one subnet per network"));
    }
    let subnet = configs.first().and_then(|c| c["Subnet"].as_str());
    if configs
        .first()
        .is_some_and(|c| c["Gateway"].is_string() || c["IPRange"].is_string())
    {
        return Err(ApiError::bad(
            "pocky does not support a network's Gateway or IPRange yet",
        ));
    }
    if netsetup::networks(ctx.store).get(name).is_ok() {
        return Err(ApiError::conflict(format!(
            "network with name {name} already exists"
        )));
    }
    let mut labels = std::collections::BTreeMap::new();
    if let Some(m) = body["Labels"].as_object() {
        for (k, v) in m {
            labels.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
    }
    let id = pocky_engine::networks::create(ctx.store, name, driver, subnet, &labels)?;
    Ok(Reply::Json(201, json!({"Id": id, "Warning": ""})))
}

pub fn remove(ctx: &mut Ctx, id: &str) -> ApiResult {
    let n = find(ctx, id)?;
    pocky_engine::networks::remove(ctx.store, &n.name)?;
    Ok(Reply::Empty(204))
}

pub fn prune(ctx: &mut Ctx) -> ApiResult {
    let filters = ctx.filters()?;
    let deleted = pocky_engine::networks::prune(ctx.store, &filters)?;
    Ok(Reply::Json(200, json!({"NetworksDeleted": deleted})))
}

/// `{"Container": ..., "EndpointConfig": {"Aliases": [...], "IPAMConfig":
/// {"IPv4Address": ...}}}`. Connecting a container to the network it was
/// created on is what compose does after create, and is answered as done.
pub fn connect(ctx: &mut Ctx, id: &str) -> ApiResult {
    let n = find(ctx, id)?;
    let body = ctx.json_body()?;
    let container = body["Container"]
        .as_str()
        .ok_or_else(|| ApiError::bad("Container is required"))?;
    let rec = pocky_engine::state::find(ctx.store, container)?;
    let settings = netsetup::load(ctx.store, &rec.id)?;
    if settings.is_some_and(|s| s.network == n.name) {
        return Ok(Reply::Raw(200, "text/plain", Vec::new()));
    }
    let endpoint = &body["EndpointConfig"];
    let aliases = match &endpoint["Aliases"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad("EndpointConfig.Aliases must be strings"))?,
        _ => return Err(ApiError::bad("EndpointConfig.Aliases must be a list")),
    };
    let ip = match endpoint["IPAMConfig"]["IPv4Address"].as_str() {
        None | Some("") => None,
        Some(a) => Some(
            a.parse()
                .map_err(|_| ApiError::bad(format!("bad IPv4Address {a:?}")))?,
        ),
    };
    pocky_engine::network_connect::connect(ctx.store, &n.name, &rec.id, &aliases, ip)?;
    Ok(Reply::Raw(200, "text/plain", Vec::new()))
}

/// `{"Container": ..., "Force": bool}`.
pub fn disconnect(ctx: &mut Ctx, id: &str) -> ApiResult {
    let n = find(ctx, id)?;
    let body = ctx.json_body()?;
    let container = body["Container"]
        .as_str()
        .ok_or_else(|| ApiError::bad("Container is required"))?;
    pocky_engine::network_connect::disconnect(ctx.store, &n.name, container)?;
    Ok(Reply::Raw(200, "text/plain", Vec::new()))
}
