//! Authorising requests: which scopes a request needs, the header that
//! proves them (basic or a cached bearer token), and what to do with a 401.

use ureq::Body;
use ureq::http::Response;

use super::{
    MAX_RETRY_AFTER, SendError, Target, Transport, error_message, lock, net_error, retry_after,
};
use crate::auth::Credentials;
use crate::challenge::{AuthScheme, Challenge, Token, TokenResponse};
use crate::error::{RegistryError, Result};
use crate::url::{is_loopback, origin, percent_encode, redact};

const MAX_TOKEN_BODY: u64 = 1024 * 1024;

/// What a request needs the registry to allow. Bearer tokens are asked for
/// and cached per registry and access, so a push holds one token for all
/// its requests and never reuses a pull-only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access<'a> {
    Pull,
    /// `pull,push`, as docker asks: a push also reads (HEAD, mount checks).
    Push,
    /// A cross-repository mount: push to the target and pull from `from`.
    Mount {
        from: &'a str,
    },
    /// The registry itself, no repository: `GET /v2/` to check a login.
    Registry,
}

impl Access<'_> {
    pub(crate) fn scopes(&self, repository: &str) -> Vec<String> {
        match self {
            Access::Pull => vec![format!("repository:{repository}:pull")],
            Access::Push => vec![format!("repository:{repository}:pull,push")],
            Access::Mount { from } => vec![
                format!("repository:{repository}:pull,push"),
                format!("repository:{from}:pull"),
            ],
            Access::Registry => Vec::new(),
        }
    }

    fn describe(&self, repository: &str) -> String {
        match self {
            Access::Pull => format!("pull from {repository}"),
            Access::Push => format!("push to {repository}"),
            Access::Mount { from } => format!("mount from {from} into {repository}"),
            Access::Registry => "log in".into(),
        }
    }
}

impl Transport {
    /// The credentials for a registry, running its helper at most once.
    pub(super) fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        // Held while a helper runs, so that concurrent requests wait for
        // one helper process instead of each starting their own.
        let mut cache = lock(&self.resolved);
        if let Some(c) = cache.get(registry) {
            return Ok(c.clone());
        }
        let found = self.creds.credentials(registry)?;
        cache.insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// The header to send up front, from what the registry asked for before.
    pub(super) fn auth_header(
        &self,
        t: Target<'_>,
        access: Access<'_>,
        scheme: &str,
    ) -> Result<Option<String>> {
        let known = lock(&self.schemes).get(t.host).cloned();
        match known {
            None => Ok(None),
            Some(AuthScheme::Basic) => Ok(self.credentials(t.registry)?.map(|c| c.basic_header())),
            Some(AuthScheme::Bearer { realm, service }) => {
                let slot = self
                    .tokens
                    .slot(t.host, &access.scopes(t.repository).join(" "));
                let mut guard = lock(&slot);
                if let Some(tok) = guard.as_ref()
                    && tok.expires > std::time::Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", tok.value)));
                }
                let tok = self.fetch_token(t, access, &realm, service.as_deref(), scheme)?;
                let header = format!("Bearer {}", tok.value);
                *guard = Some(tok);
                Ok(Some(header))
            }
        }
    }

    /// The error for a 401 that more authentication will not fix.
    pub(super) fn unauthorized(
        &self,
        t: Target<'_>,
        access: Access<'_>,
        resp: &mut Response<Body>,
    ) -> RegistryError {
        RegistryError::Auth {
            registry: t.registry.to_string(),
            reason: format!(
                "unauthorized: authentication required to {} ({})",
                access.describe(t.repository),
                error_message(resp)
            ),
        }
    }

    pub(super) fn on_challenge(
        &self,
        t: Target<'_>,
        access: Access<'_>,
        resp: &Response<Body>,
        sent: Option<&str>,
    ) -> Result<()> {
        let challenge = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Challenge::parse)
            .next()
            .ok_or_else(|| RegistryError::Auth {
                registry: t.registry.to_string(),
                reason: "401 without a usable WWW-Authenticate challenge (Bearer or Basic)".into(),
            })?;
        let scheme = match challenge {
            Challenge::Basic => {
                if self.credentials(t.registry)?.is_none() {
                    return Err(RegistryError::Auth {
                        registry: t.registry.to_string(),
                        reason: "the registry requires a login and the docker config has no credentials for it".into(),
                    });
                }
                if sent.is_some_and(|s| s.starts_with("Basic ")) {
                    return Err(RegistryError::Auth {
                        registry: t.registry.to_string(),
                        reason: "unauthorized: the registry rejected the username and password"
                            .into(),
                    });
                }
                AuthScheme::Basic
            }
            Challenge::Bearer { realm, service, .. } => {
                if let Some(sent) = sent.and_then(|s| s.strip_prefix("Bearer ")) {
                    // Drop the token that was refused so the next round fetches afresh.
                    let slot = self
                        .tokens
                        .slot(t.host, &access.scopes(t.repository).join(" "));
                    let mut guard = lock(&slot);
                    if guard.as_ref().is_some_and(|tok| tok.value == sent) {
                        *guard = None;
                    }
                }
                AuthScheme::Bearer { realm, service }
            }
        };
        lock(&self.schemes).insert(t.host.to_string(), scheme);
        Ok(())
    }

    fn fetch_token(
        &self,
        t: Target<'_>,
        access: Access<'_>,
        realm: &str,
        service: Option<&str>,
        registry_scheme: &str,
    ) -> Result<Token> {
        let auth_error = |reason: String| RegistryError::Auth {
            registry: t.registry.to_string(),
            reason,
        };
        let realm_origin = origin(realm).map_err(|_| {
            auth_error(format!(
                "token realm {:?} is not an http(s) URL",
                redact(realm)
            ))
        })?;
        if realm_origin.scheme == "http"
            && !(self.insecure || is_loopback(&realm_origin.host) || registry_scheme == "http")
        {
            return Err(auth_error(format!(
                "refusing plain-HTTP token realm {}",
                redact(realm)
            )));
        }
        let mut params = Vec::new();
        if let Some(s) = service {
            params.push(format!("service={}", percent_encode(s)));
        }
        for scope in access.scopes(t.repository) {
            params.push(format!("scope={}", percent_encode(&scope)));
        }
        let mut url = realm.to_string();
        if !params.is_empty() {
            url.push(if realm.contains('?') { '&' } else { '?' });
            url.push_str(&params.join("&"));
        }
        let basic = self.credentials(t.registry)?.map(|c| c.basic_header());
        let mut attempt = 0;
        loop {
            match self.send_following(
                &ureq::http::Method::GET,
                &url,
                &realm_origin,
                &[],
                basic.as_deref(),
                None,
            ) {
                Err(SendError::Fatal(e)) => return Err(e),
                Err(SendError::Net(e)) => {
                    self.backoff_or_fail(&url, &mut attempt, net_error(&e), None, &e)?;
                }
                Ok((mut resp, final_url)) => {
                    let status = resp.status().as_u16();
                    match status {
                        200..=299 => {
                            let body = resp
                                .body_mut()
                                .with_config()
                                .limit(MAX_TOKEN_BODY)
                                .read_to_vec()
                                .map_err(|e| auth_error(format!("reading token response: {e}")))?;
                            return serde_json::from_slice::<TokenResponse>(&body)
                                .ok()
                                .and_then(TokenResponse::into_token)
                                .ok_or_else(|| {
                                    auth_error("token endpoint answered without a token".into())
                                });
                        }
                        401 if basic.is_some() => {
                            return Err(auth_error(format!(
                                "unauthorized: incorrect username or password ({})",
                                error_message(&mut resp)
                            )));
                        }
                        429 | 500..=599 => {
                            let msg = format!("HTTP {status}: {}", error_message(&mut resp));
                            let ra = retry_after(&resp).filter(|d| *d <= MAX_RETRY_AFTER);
                            self.backoff_status(&final_url, &mut attempt, status, msg, ra)?;
                        }
                        _ => {
                            return Err(auth_error(format!(
                                "token endpoint {} answered HTTP {status}: {}",
                                redact(&final_url),
                                error_message(&mut resp)
                            )));
                        }
                    }
                }
            }
        }
    }
}
