//! `X-Registry-Auth`: the credentials a client sends with a pull or push,
//! base64url-encoded JSON (`{"username","password","serveraddress"}` or an
//! `identitytoken`), as the docker CLI and the SDKs send them. They are
//! used for that one request and never stored.

use base64::Engine;
use pocky_registry::{Client, ClientOptions, Credentials, DockerConfig};
use serde_json::Value;

use crate::{ApiError, ApiResult, Ctx};

/// A registry client with the request's credentials for `registry`, if it
/// sent any, else the service's own (its user's `~/.docker/config.json`).
pub fn client(ctx: &Ctx, registry: &str) -> ApiResult<Client> {
    let internal = |e: pocky_registry::RegistryError| ApiError::internal(e.to_string());
    let Some(creds) = credentials(ctx)? else {
        return Client::new(ClientOptions::default()).map_err(internal);
    };
    let mut config = DockerConfig::default();
    config.insert(registry, creds);
    Client::with_credentials(ClientOptions::default(), config).map_err(internal)
}

fn credentials(ctx: &Ctx) -> ApiResult<Option<Credentials>> {
    let Some(raw) = ctx.head.header("x-registry-auth").map(str::trim) else {
        return Ok(None);
    };
    if raw.is_empty() || raw == "e30=" || raw == "e30" {
        return Ok(None);
    }
    let bad = || ApiError::bad("invalid X-Registry-Auth header: not base64-encoded JSON");
    // The CLI sends URL-safe base64, some SDKs the standard alphabet, with
    // or without padding.
    let data = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ]
    .iter()
    .find_map(|e| e.decode(raw).ok())
    .ok_or_else(bad)?;
    let v: Value = serde_json::from_slice(&data).map_err(|_| bad())?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if field("identitytoken").is_some() {
        return Err(ApiError::bad(
            "pocky does not take identity tokens in X-Registry-Auth: log in with a password",
        ));
    }
    Ok(match (field("username"), field("password")) {
        (Some(u), Some(p)) => Some(Credentials::new(u, p)),
        _ => None,
    })
}

/// `POST /auth`: checks credentials against the registry, stores nothing
/// (the client keeps them, as dockerd leaves it to the CLI).
pub fn login(ctx: &mut Ctx) -> ApiResult {
    let body = ctx.json_body()?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let (user, pass) = (field("username"), field("password"));
    if user.is_empty() || pass.is_empty() {
        return Err(ApiError::bad("username and password are required"));
    }
    let registry = pocky_registry::registry_of_server(field("serveraddress"));
    let client =
        Client::new(ClientOptions::default()).map_err(|e| ApiError::internal(e.to_string()))?;
    client
        .check_login(&registry, &Credentials::new(user, pass))
        .map_err(|e| ApiError::new(401, e.to_string()))?;
    Ok(crate::Reply::Json(
        200,
        serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}
