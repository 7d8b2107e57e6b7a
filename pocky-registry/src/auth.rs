//! Credentials from the Docker config file, `WWW-Authenticate` challenges and
//! the bearer-token cache. Secrets are never printed: Debug is written by hand.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::RegistryError;

/// Username and password (or identity) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The `Authorization` header value for HTTP basic auth.
    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(raw))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The `auths` section of a Docker `config.json`, keyed by registry host.
#[derive(Default, Clone)]
pub struct DockerConfig {
    auths: HashMap<String, Credentials>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.auths.keys().collect();
        keys.sort();
        f.debug_struct("DockerConfig")
            .field("registries", &keys)
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: HashMap<String, RawAuth>,
}

#[derive(serde::Deserialize)]
struct RawAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    /// Loads a config file; a missing file means no credentials.
    /// Credential helpers (`credsStore`, `credHelpers`) are not consulted.
    pub fn load(path: &Path) -> Result<DockerConfig, RegistryError> {
        let bad = |reason: String| RegistryError::DockerConfig {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default());
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        // serde_json errors quote no input, so no secret leaks through them.
        let raw: RawConfig =
            serde_json::from_slice(&text).map_err(|e| bad(format!("malformed JSON: {e}")))?;
        let mut auths = HashMap::new();
        for (key, entry) in raw.auths {
            let creds = if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .ok_or_else(|| bad(format!("auth entry for {key:?} is not valid base64")))?;
                let (u, p) = decoded.split_once(':').ok_or_else(|| {
                    bad(format!("auth entry for {key:?} is not username:password"))
                })?;
                Credentials::new(u, p)
            } else if let (Some(u), Some(p)) = (entry.username, entry.password) {
                Credentials::new(u, p)
            } else {
                // Entries left empty by a credential store.
                continue;
            };
            auths.insert(normalise_key(&key), creds);
        }
        Ok(DockerConfig { auths })
    }

    /// Credentials for a registry as written in a reference (`docker.io`, `host:5000`).
    pub fn lookup(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&normalise_key(registry))
    }

    pub fn insert(&mut self, registry: &str, creds: Credentials) {
        self.auths.insert(normalise_key(registry), creds);
    }
}

/// `https://index.docker.io/v1/`, `registry-1.docker.io` and `docker.io`
/// all name Docker Hub; other keys are `host[:port]`, scheme and path dropped.
fn normalise_key(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        _ => host,
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(params);
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            });
        }
        None
    }
}

/// `k="v", k2=v2` with commas allowed inside quotes (scopes have them).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// The token endpoint's answer; registries use either field name.
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl TokenResponse {
    pub(crate) fn into_token(self) -> Option<Token> {
        let value = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        // The spec's default lifetime is 60s; keep a margin for clock and latency.
        let secs = self.expires_in.unwrap_or(60).clamp(60, 24 * 3600);
        Some(Token {
            value,
            expires: Instant::now() + Duration::from_secs(secs - 10),
        })
    }
}

/// One slot per (registry, scope). A thread holds the slot's lock while it
/// fetches, so concurrent downloads wait for one token instead of each
/// asking for their own.
pub(crate) type TokenSlot = Arc<Mutex<Option<Token>>>;

#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<(String, String), TokenSlot>>,
}

impl TokenCache {
    pub(crate) fn slot(&self, registry: &str, scope: &str) -> TokenSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((registry.to_string(), scope.to_string()))
            .or_default()
            .clone()
    }
}

/// What a registry asked for the last time it answered 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_scope() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn config_keys_and_redacted_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = STANDARD.encode("hubuser:hubsecret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "https://r.example:5000":{{"username":"u","password":"p2secret"}},
                "empty.example":{{}}}}, "credsStore":"desktop"}}"#
            ),
        )
        .unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        let hub = cfg.lookup("docker.io").unwrap();
        assert_eq!(hub.username, "hubuser");
        assert_eq!(hub.basic_header(), format!("Basic {auth}"));
        assert_eq!(cfg.lookup("r.example:5000").unwrap().username, "u");
        assert!(cfg.lookup("empty.example").is_none());
        let dbg = format!("{cfg:?} {hub:?}");
        assert!(
            !dbg.contains("hubsecret") && !dbg.contains("p2secret"),
            "{dbg}"
        );
        assert!(DockerConfig::load(&dir.path().join("missing")).is_ok());
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            DockerConfig::load(&path)
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
    }
}
