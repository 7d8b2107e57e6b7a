//! HTTP to registries: scheme choice, authentication, redirects that never
//! carry credentials to another origin, and retries with backoff.

mod authorize;
mod errors;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::Duration;

use ureq::http::{Method, Response};
use ureq::{Agent, Body, SendBody};

use crate::auth::{Credentials, DockerConfig};
use crate::challenge::{AuthScheme, TokenCache};
use crate::error::{RegistryError, Result};
pub(crate) use crate::url::redact;
use crate::url::{Origin, host_only, is_loopback, origin, resolve_location};
pub(crate) use authorize::Access;
pub(crate) use errors::error_message;
use errors::status_error;

const MAX_REDIRECTS: usize = 10;
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(3);
/// Retry-After values up to this are honoured; longer ones end the attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where a request goes: the registry as named in the reference (for
/// credentials), the host its API answers on, and the repository (for scope).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) registry: &'a str,
    pub(crate) host: &'a str,
    pub(crate) repository: &'a str,
}

/// One request to a registry.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) target: Target<'a>,
    pub(crate) access: Access<'a>,
    /// A path on the registry (`/v2/...`) or an absolute URL, such as the
    /// Location of an upload, which may be on another host.
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(&'a str, String)],
}

/// A failed one-shot request, and whether starting over may succeed.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) error: RegistryError,
    pub(crate) transient: bool,
}

impl Attempt {
    pub(crate) fn fatal(error: RegistryError) -> Attempt {
        Attempt {
            error,
            transient: false,
        }
    }
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
    /// What the config (or its helper) gave for each registry: a helper is
    /// a process, so it runs once per registry for the client's lifetime.
    resolved: Mutex<HashMap<String, Option<Credentials>>>,
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

enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// Exactly this many bytes from the reader.
    Stream(&'a mut dyn Read, u64),
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
            resolved: Mutex::default(),
            tokens: TokenCache::default(),
            schemes: Mutex::default(),
            confirmed: Mutex::default(),
        })
    }

    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// The URL a registry path is sent to, for resolving the Locations it answers with.
    pub(crate) fn url_of(&self, t: Target<'_>, path: &str) -> String {
        url_for(path, self.scheme_for(t.host), t.host)
    }

    /// GETs `path` on the registry with pull access.
    pub(crate) fn get(
        &self,
        t: Target<'_>,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<Response<Body>> {
        self.request(
            &Call {
                method: Method::GET,
                target: t,
                access: Access::Pull,
                url: path,
                headers,
            },
            None,
        )
    }

    /// Sends a call whose body can be sent again: authenticates as asked,
    /// follows redirects (GET and HEAD only) and retries transient failures.
    /// Returns a 2xx response.
    pub(crate) fn request(&self, call: &Call<'_>, body: Option<&[u8]>) -> Result<Response<Body>> {
        let t = call.target;
        let on_registry = call.url.starts_with('/');
        let mut attempt = 0u32;
        let mut auth_rounds = 0u32;
        loop {
            let scheme = self.scheme_for(t.host);
            let registry_origin = origin(&format!("{scheme}://{}/", t.host))?;
            let url = url_for(call.url, scheme, t.host);
            let auth = self.auth_header(t, call.access, scheme)?;
            let (mut resp, final_url) = match self.send_following(
                &call.method,
                &url,
                &registry_origin,
                call.headers,
                auth.as_deref(),
                body,
            ) {
                Ok(r) => r,
                Err(SendError::Fatal(e)) => return Err(e),
                Err(SendError::Net(e)) => {
                    if on_registry
                        && self.insecure
                        && scheme == "https"
                        && !self.is_confirmed(t.host)
                    {
                        // An insecure registry may speak plain HTTP only.
                        self.confirm(t.host, "http");
                        continue;
                    }
                    self.backoff_or_fail(&url, &mut attempt, net_error(&e), None, &e)?;
                    continue;
                }
            };
            if on_registry {
                self.confirm(t.host, scheme);
            }
            let status = resp.status().as_u16();
            let same_origin = origin(&final_url).ok().as_ref() == Some(&registry_origin);
            match status {
                200..=299 => return Ok(resp),
                401 if same_origin && auth_rounds < 2 => {
                    auth_rounds += 1;
                    self.on_challenge(t, call.access, &resp, auth.as_deref())?;
                }
                401 if same_origin => return Err(self.unauthorized(t, call.access, &mut resp)),
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
                    return Err(status_error(&final_url, status, message));
                }
            }
        }
    }

    /// Sends a call once, with a body that can be read only once (a chunk
    /// of an upload): no redirects, no retries, no second authentication
    /// round. When the failure is `transient` the caller starts over,
    /// reading its content again; a refused token is forgotten first, so
    /// a token that expired during a long upload is replaced on the next try.
    pub(crate) fn send_once(
        &self,
        call: &Call<'_>,
        body: Option<(&mut dyn Read, u64)>,
    ) -> std::result::Result<Response<Body>, Attempt> {
        let t = call.target;
        let scheme = self.scheme_for(t.host);
        let registry_origin = origin(&format!("{scheme}://{}/", t.host)).map_err(Attempt::fatal)?;
        let url = url_for(call.url, scheme, t.host);
        let here = origin(&url).map_err(Attempt::fatal)?;
        let same_origin = here == registry_origin;
        let auth = if same_origin {
            self.auth_header(t, call.access, scheme)
                .map_err(Attempt::fatal)?
        } else {
            None
        };
        let payload = match body {
            Some((r, n)) => Payload::Stream(r, n),
            None => Payload::Empty,
        };
        let mut resp = self
            .dispatch(&call.method, &url, call.headers, auth.as_deref(), payload)
            .map_err(|e| Attempt {
                transient: net_error(&e),
                error: RegistryError::Transport {
                    url: redact(&url),
                    reason: e.to_string(),
                },
            })?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(resp),
            401 if same_origin => {
                let refreshed = self.on_challenge(t, call.access, &resp, auth.as_deref());
                Err(Attempt {
                    transient: auth.is_some() && refreshed.is_ok(),
                    error: self.unauthorized(t, call.access, &mut resp),
                })
            }
            429 | 500..=599 => {
                let msg = format!("HTTP {status}: {}", error_message(&mut resp));
                Err(Attempt {
                    transient: true,
                    error: status_error(&url, status, msg),
                })
            }
            _ => {
                let message = error_message(&mut resp);
                Err(Attempt::fatal(status_error(&url, status, message)))
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

    /// One HTTP exchange; `auth` goes exactly where the caller decided.
    fn dispatch(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: Payload<'_>,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method.clone())
            .uri(url);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let wants_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        match body {
            // Registries want `Content-Length: 0` on an empty POST or PUT.
            Payload::Empty if wants_body => self.agent.run(b.body(&[][..])?),
            Payload::Empty => self.agent.run(b.body(())?),
            Payload::Bytes(bytes) => self.agent.run(b.body(bytes)?),
            Payload::Stream(r, len) => {
                // A sized body, not chunked transfer encoding: the upload
                // API wants Content-Length on every PATCH and PUT.
                let b = b.header("Content-Length", len);
                self.agent.run(b.body(SendBody::from_reader(r))?)
            }
        }
    }

    /// Sends one request and, for GET and HEAD, follows up to ten redirects
    /// by hand, so that the `Authorization` header only ever goes to `auth_origin`.
    fn send_following(
        &self,
        method: &Method,
        url: &str,
        auth_origin: &Origin,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: Option<&[u8]>,
    ) -> std::result::Result<(Response<Body>, String), SendError> {
        let follow = matches!(*method, Method::GET | Method::HEAD);
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let here = origin(&url).map_err(SendError::Fatal)?;
            let auth = auth.filter(|_| here == *auth_origin);
            let payload = body.map_or(Payload::Empty, Payload::Bytes);
            let resp = self
                .dispatch(method, &url, headers, auth, payload)
                .map_err(SendError::Net)?;
            if !follow || !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
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
}

fn url_for(call_url: &str, scheme: &str, host: &str) -> String {
    if call_url.starts_with('/') {
        format!("{scheme}://{host}{call_url}")
    } else {
        call_url.to_string()
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
