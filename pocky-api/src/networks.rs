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
    let flags = create_flags(&body)?;
    if netsetup::networks(ctx.store).get(name).is_ok() {
        return Err(ApiError::conflict(format!(
            "network with name {name} already exists"
        )));
    }
    let id = pocky_engine::networks::create(ctx.store, name, driver, &flags)?;
    Ok(Reply::Json(201, json!({"Id": id, "Warning": ""})))
}

/// The create body as `network create`'s flags: `IPAM.Config` entries
/// give `--subnet`, `--gateway`, `--ip-range` and `--aux-address`;
/// `Options` are `-o`. Attachable is Swarm's (standalone containers may
/// always attach); the rest that pocky cannot do is refused by name.
fn create_flags(body: &Value) -> ApiResult<pocky_engine::networks::NetworkFlags> {
    if body["Ingress"].as_bool() == Some(true) {
        return Err(ApiError::bad(
            "pocky does not support Ingress networks (Swarm)",
        ));
    }
    if body["ConfigOnly"].as_bool() == Some(true) || body["ConfigFrom"].is_object() {
        return Err(ApiError::bad(
            "pocky does not support ConfigOnly or ConfigFrom networks (Swarm)",
        ));
    }
    if body["EnableIPv4"].as_bool() == Some(false) {
        return Err(ApiError::bad(
            "pocky does not support IPv6-only networks: EnableIPv4 must stay true",
        ));
    }
    let ipam = &body["IPAM"];
    if let Some(d) = ipam["Driver"]
        .as_str()
        .filter(|d| !d.is_empty() && *d != "default")
    {
        return Err(ApiError::bad(format!(
            "pocky has no IPAM driver {d:?}: only default"
        )));
    }
    if ipam["Options"].as_object().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad("pocky does not support IPAM.Options"));
    }
    let text = |v: &Value, what: &str| -> ApiResult<Option<String>> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(ApiError::bad(format!("{what} must be a string"))),
        }
    };
    let mut flags = pocky_engine::networks::NetworkFlags {
        ipv6: body["EnableIPv6"].as_bool() == Some(true),
        internal: body["Internal"].as_bool() == Some(true),
        ..Default::default()
    };
    for c in ipam["Config"].as_array().into_iter().flatten() {
        flags
            .subnets
            .extend(text(&c["Subnet"], "IPAM.Config.Subnet")?);
        flags
            .gateways
            .extend(text(&c["Gateway"], "IPAM.Config.Gateway")?);
        flags
            .ip_ranges
            .extend(text(&c["IPRange"], "IPAM.Config.IPRange")?);
        if let Some(aux) = c["AuxiliaryAddresses"].as_object() {
            for (k, v) in aux {
                let a = text(v, "an auxiliary address")?.unwrap_or_default();
                flags.aux_addresses.push(format!("{k}={a}"));
            }
        }
    }
    if let Some(m) = body["Options"].as_object() {
        for (k, v) in m {
            let v = text(v, "a network option")?.unwrap_or_default();
            flags.options.push((k.clone(), v));
        }
    }
    if let Some(m) = body["Labels"].as_object() {
        for (k, v) in m {
            flags
                .labels
                .insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
        }
    }
    Ok(flags)
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

/// `{"Container": ..., "EndpointConfig": {"Aliases": [...], "Links": [...],
/// "IPAMConfig": {"IPv4Address": ..., "IPv6Address": ...}}}`. Connecting a
/// container to the network it was created on is what compose does after
/// create, and is answered as done.
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
    let strings = |key: &str| -> ApiResult<Vec<String>> {
        match &endpoint[key] {
            Value::Null => Ok(Vec::new()),
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::bad(format!("EndpointConfig.{key} must be strings"))),
            _ => Err(ApiError::bad(format!(
                "EndpointConfig.{key} must be a list"
            ))),
        }
    };
    let address = |key: &str| {
        endpoint["IPAMConfig"][key]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
    };
    let wanted = pocky_engine::request::Endpoint {
        network: n.name.clone(),
        aliases: strings("Aliases")?,
        ip: address("IPv4Address")
            .map(|a| {
                a.parse()
                    .map_err(|_| ApiError::bad(format!("bad IPv4Address {a:?}")))
            })
            .transpose()?,
        ip6: address("IPv6Address")
            .map(|a| {
                a.parse()
                    .map_err(|_| ApiError::bad(format!("bad IPv6Address {a:?}")))
            })
            .transpose()?,
        links: strings("Links")?,
    };
    if endpoint["MacAddress"]
        .as_str()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ApiError::bad(
            "pocky sets a MAC address on a container's first network only (at create)",
        ));
    }
    pocky_engine::network_connect::connect(ctx.store, &rec.id, &wanted)?;
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
