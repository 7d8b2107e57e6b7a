//! HTTP to registries: scheme choice, authentication, redirects that never
//! carry credentials to another origin, and retries with backoff.

use std::collections::HashMap;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::Duration;

use ureq::Agent;
use ureq::http::Response;

use crate::auth::{AuthScheme, Challenge, DockerConfig, TokenCache, TokenResponse};
use crate::error::{RegistryError, Result};
pub(crate) use crate::url::redact;
use crate::url::{Origin, host_only, is_loopback, origin, percent_encode, resolve_location};

use ureq::Body;

const MAX_REDIRECTS: usize = 10;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(3);
/// Retry-After values up to this are honoured; longer ones end the attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
const MAX_ERROR_BODY: u64 = 64 * 1024;
const MAX_TOKEN_BODY: u64 = 1024 * 1024;

/// Where a request goes: the registry as named in the reference (for
/// credentials), the host its API answers on, and the repository (for scope).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) registry: &'a str,
    pub(crate) host: &'a str,
    pub(crate) repository: &'a str,
}

pub(crate) struct TransportOptions {
    pub(crate) insecure: bool,
    pub(crate) retries: u32,
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

pub(crate) struct Transport {
    agent: Agent,
    insecure: bool,
    retries: u32,
    creds: DockerConfig,
    tokens: TokenCache,
    /// What each API host asked for in its last 401.
    schemes: Mutex<HashMap<String, AuthScheme>>,
    /// The scheme that worked for each API host, for the client's lifetime.
    confirmed: Mutex<HashMap<String, &'static str>>,
}

enum SendError {
    /// A connection-level failure; may be transient.
    Net(ureq::Error),
    Fatal(RegistryError),
}

impl Transport {
    pub(crate) fn new(opts: TransportOptions, creds: DockerConfig) -> Result<Transport> {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::WebPki)
            .disable_verification(opts.insecure)
            .build();
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .user_agent(opts.user_agent.as_str())
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_resolve(Some(opts.connect_timeout))
            // A stall timeout: each read must make progress in this time.
            .timeout_per_read(Some(opts.read_timeout))
            .timeout_per_write(Some(opts.read_timeout))
            .build()
            .new_agent();
        Ok(Transport {
            agent,
            insecure: opts.insecure,
            retries: opts.retries,
            creds,
            tokens: TokenCache::default(),
            schemes: Mutex::default(),
            confirmed: Mutex::default(),
        })
    }

    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// GETs `path` on the registry, authenticating as asked, following
    /// redirects and retrying transient failures. Returns a 2xx response.
    pub(crate) fn get(
        &self,
        t: Target<'_>,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Response<Body>> {
        let mut attempt = 0u32;
        let mut auth_rounds = 0u32;
        loop {
            let scheme = self.scheme_for(t.host);
            let url = format!("{scheme}://{}{path}", t.host);
            let auth = self.auth_header(t, scheme)?;
            let registry_origin = origin(&url)?;
            let (mut resp, final_url) =
                match self.send_following(&url, &registry_origin, headers, auth.as_deref()) {
                    Ok(r) => r,
                    Err(SendError::Fatal(e)) => return Err(e),
                    Err(SendError::Net(e)) => {
                        if self.insecure && scheme == "https" && !self.is_confirmed(t.host) {
                            // An insecure registry may speak plain HTTP only.
                            self.confirm(t.host, "http");
                            continue;
                        }
                        self.backoff_or_fail(&url, &mut attempt, net_error(&e), None, &e)?;
                        continue;
                    }
                };
            self.confirm(t.host, scheme);
            let status = resp.status().as_u16();
            let same_origin = origin(&final_url).ok().as_ref() == Some(&registry_origin);
            match status {
                200..=299 => return Ok(resp),
                401 if same_origin && auth_rounds < 2 => {
                    auth_rounds += 1;
                    self.on_challenge(t, &resp, auth.as_deref())?;
                }
                401 if same_origin => {
                    return Err(RegistryError::Auth {
                        registry: t.registry.to_string(),
                        reason: format!(
                            "access to {} denied: {}",
                            t.repository,
                            error_message(&mut resp)
                        ),
                    });
                }
                429 | 500..=599 => {
                    let retry_after = retry_after(&resp);
                    let msg = format!("HTTP {status}: {}", error_message(&mut resp));
                    if let Some(ra) = retry_after
                        && ra > MAX_RETRY_AFTER
                    {
                        return Err(status_error(&final_url, status, msg));
                    }
                    self.backoff_status(&final_url, &mut attempt, status, msg, retry_after)?;
                }
                _ => {
                    let message = error_message(&mut resp);
                    return Err(RegistryError::Status {
                        url: redact(&final_url),
                        status,
                        message,
                    });
                }
            }
        }
    }

    fn backoff_status(
        &self,
        url: &str,
        attempt: &mut u32,
        status: u16,
        msg: String,
        retry_after: Option<Duration>,
    ) -> Result<()> {
        if *attempt >= self.retries {
            return Err(if self.retries == 0 {
                status_error(url, status, msg)
            } else {
                RegistryError::RetriesExhausted {
                    url: redact(url),
                    attempts: *attempt + 1,
                    last: msg,
                }
            });
        }
        *attempt += 1;
        sleep(retry_after.unwrap_or_else(|| backoff(*attempt)));
        Ok(())
    }

    fn backoff_or_fail(
        &self,
        url: &str,
        attempt: &mut u32,
        transient: bool,
        retry_after: Option<Duration>,
        e: &ureq::Error,
    ) -> Result<()> {
        if !transient {
            return Err(RegistryError::Transport {
                url: redact(url),
                reason: e.to_string(),
            });
        }
        if *attempt >= self.retries {
            return Err(RegistryError::RetriesExhausted {
                url: redact(url),
                attempts: *attempt + 1,
                last: e.to_string(),
            });
        }
        *attempt += 1;
        sleep(retry_after.unwrap_or_else(|| backoff(*attempt)));
        Ok(())
    }

    /// Sends one GET and follows up to ten redirects by hand, so that the
    /// `Authorization` header only ever goes to `auth_origin`.
    fn send_following(
        &self,
        url: &str,
        auth_origin: &Origin,
        headers: &[(&str, String)],
        auth: Option<&str>,
    ) -> std::result::Result<(Response<Body>, String), SendError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let here = origin(&url).map_err(SendError::Fatal)?;
            let mut req = self.agent.get(&url);
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            if let Some(a) = auth
                && here == *auth_origin
            {
                req = req.header("Authorization", a);
            }
            let resp = req.call().map_err(SendError::Net)?;
            if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok((resp, url));
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    SendError::Fatal(RegistryError::Redirect {
                        url: redact(&url),
                        reason: "redirect without a Location header".into(),
                    })
                })?;
            let next = resolve_location(&url, location).map_err(SendError::Fatal)?;
            let next_origin = origin(&next).map_err(SendError::Fatal)?;
            if next_origin.scheme == "http"
                && here.scheme == "https"
                && !self.insecure
                && !is_loopback(&next_origin.host)
            {
                return Err(SendError::Fatal(RegistryError::Redirect {
                    url: redact(&url),
                    reason: format!("refusing redirect from https to {}", redact(&next)),
                }));
            }
            url = next;
        }
        Err(SendError::Fatal(RegistryError::Redirect {
            url: redact(&url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        }))
    }

    fn scheme_for(&self, host: &str) -> &'static str {
        if let Some(s) = lock(&self.confirmed).get(host) {
            return s;
        }
        // Loopback registries (a local `registry:2`) are plain HTTP: pocky
        // does not probe them with TLS first.
        if is_loopback(host_only(host)) {
            "http"
        } else {
            "https"
        }
    }

    fn is_confirmed(&self, host: &str) -> bool {
        lock(&self.confirmed).contains_key(host)
    }

    fn confirm(&self, host: &str, scheme: &'static str) {
        lock(&self.confirmed).insert(host.to_string(), scheme);
    }

    fn scope(t: Target<'_>) -> String {
        format!("repository:{}:pull", t.repository)
    }

    /// The header to send up front, from what the registry asked for before.
    fn auth_header(&self, t: Target<'_>, scheme: &str) -> Result<Option<String>> {
        let known = lock(&self.schemes).get(t.host).cloned();
        match known {
            None => Ok(None),
            Some(AuthScheme::Basic) => Ok(self.creds.lookup(t.registry).map(|c| c.basic_header())),
            Some(AuthScheme::Bearer { realm, service }) => {
                let slot = self.tokens.slot(t.host, &Self::scope(t));
                let mut guard = lock(&slot);
                if let Some(tok) = guard.as_ref()
                    && tok.expires > std::time::Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", tok.value)));
                }
                let tok = self.fetch_token(t, &realm, service.as_deref(), scheme)?;
                let header = format!("Bearer {}", tok.value);
                *guard = Some(tok);
                Ok(Some(header))
            }
        }
    }

    fn on_challenge(&self, t: Target<'_>, resp: &Response<Body>, sent: Option<&str>) -> Result<()> {
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
                if self.creds.lookup(t.registry).is_none() {
                    return Err(RegistryError::Auth {
                        registry: t.registry.to_string(),
                        reason: "the registry requires a login and the docker config has no credentials for it".into(),
                    });
                }
                if sent.is_some_and(|s| s.starts_with("Basic ")) {
                    return Err(RegistryError::Auth {
                        registry: t.registry.to_string(),
                        reason:
                            "the registry rejected the username and password from the docker config"
                                .into(),
                    });
                }
                AuthScheme::Basic
            }
            Challenge::Bearer { realm, service, .. } => {
                if let Some(sent) = sent.and_then(|s| s.strip_prefix("Bearer ")) {
                    // Drop the token that was refused so the next round fetches afresh.
                    let slot = self.tokens.slot(t.host, &Self::scope(t));
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
        realm: &str,
        service: Option<&str>,
        registry_scheme: &str,
    ) -> Result<crate::auth::Token> {
        let realm_origin = origin(realm).map_err(|_| RegistryError::Auth {
            registry: t.registry.to_string(),
            reason: format!("token realm {:?} is not an http(s) URL", redact(realm)),
        })?;
        if realm_origin.scheme == "http"
            && !(self.insecure || is_loopback(&realm_origin.host) || registry_scheme == "http")
        {
            return Err(RegistryError::Auth {
                registry: t.registry.to_string(),
                reason: format!("refusing plain-HTTP token realm {}", redact(realm)),
            });
        }
        let mut url = realm.to_string();
        url.push(if realm.contains('?') { '&' } else { '?' });
        if let Some(s) = service {
            url.push_str(&format!("service={}&", percent_encode(s)));
        }
        url.push_str(&format!("scope={}", percent_encode(&Self::scope(t))));
        let basic = self.creds.lookup(t.registry).map(|c| c.basic_header());
        let mut attempt = 0;
        loop {
            match self.send_following(&url, &realm_origin, &[], basic.as_deref()) {
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
                                .map_err(|e| RegistryError::Auth {
                                    registry: t.registry.to_string(),
                                    reason: format!("reading token response: {e}"),
                                })?;
                            return serde_json::from_slice::<TokenResponse>(&body)
                                .ok()
                                .and_then(TokenResponse::into_token)
                                .ok_or_else(|| RegistryError::Auth {
                                    registry: t.registry.to_string(),
                                    reason: "token endpoint answered without a token".into(),
                                });
                        }
                        429 | 500..=599 => {
                            let msg = format!("HTTP {status}: {}", error_message(&mut resp));
                            let ra = retry_after(&resp).filter(|d| *d <= MAX_RETRY_AFTER);
                            self.backoff_status(&final_url, &mut attempt, status, msg, ra)?;
                        }
                        _ => {
                            return Err(RegistryError::Auth {
                                registry: t.registry.to_string(),
                                reason: format!(
                                    "token endpoint {} answered HTTP {status}: {}",
                                    redact(&final_url),
                                    error_message(&mut resp)
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    (BACKOFF_BASE * factor).min(BACKOFF_CAP)
}

/// Connection-level failures that deserve another try.
pub(crate) fn net_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

fn status_error(url: &str, status: u16, message: String) -> RegistryError {
    RegistryError::Status {
        url: redact(url),
        status,
        message,
    }
}

fn retry_after(resp: &Response<Body>) -> Option<Duration> {
    resp.headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's `{"errors":[{"code","message"}]}`, or a short, printable
/// excerpt of whatever else it sent.
pub(crate) fn error_message(resp: &mut Response<Body>) -> String {
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_vec()
        .unwrap_or_default();
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(&body) {
        let parts: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect();
        if !parts.is_empty() {
            return crate::digest::shorten(&parts.join("; "));
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if text.trim().is_empty() {
        "(no details)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), BACKOFF_BASE);
        assert_eq!(backoff(2), BACKOFF_BASE * 2);
        assert_eq!(backoff(30), BACKOFF_CAP);
    }
}
