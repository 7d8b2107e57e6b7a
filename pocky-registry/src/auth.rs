//! Credentials: the Docker config file (`auths`, `credsStore`,
//! `credHelpers`), looked up for pulls and pushes and written by a login.
//! Secrets are never printed: Debug is written by hand.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::credhelper::Helper;
use crate::error::RegistryError;

/// The `auths` key and credential-helper server URL docker uses for Docker Hub.
/// Docker Hub's server as `docker login` and `docker info` name it.
pub const HUB_SERVER_URL: &str = "https://index.docker.io/v1/";
/// Docker's marker, in a helper's Username, for an identity token in Secret.
const IDENTITY_TOKEN_USER: &str = "<token>";

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
        format!("Basic {}", self.encoded())
    }

    /// `base64(user:password)`, as in the config's `auth` field.
    fn encoded(&self) -> String {
        STANDARD.encode(format!("{}:{}", self.username, self.password))
    }

    pub(crate) fn secret(&self) -> &str {
        &self.password
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

/// A Docker `config.json`: the `auths` section keyed by registry host, and
/// the credential helpers it names.
#[derive(Default, Clone)]
pub struct DockerConfig {
    auths: HashMap<String, Credentials>,
    /// `credsStore`: the helper for every registry without its own.
    creds_store: Option<String>,
    /// `credHelpers`, keys normalised like those of `auths`.
    cred_helpers: HashMap<String, String>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.auths.keys().collect();
        keys.sort();
        f.debug_struct("DockerConfig")
            .field("registries", &keys)
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &self.cred_helpers)
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: HashMap<String, RawAuth>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: Option<HashMap<String, String>>,
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

    /// Loads a config file; a missing file means no credentials. Helpers
    /// are only run later, by [`DockerConfig::credentials`].
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
        Ok(DockerConfig {
            auths,
            ..helper_settings(raw.creds_store, raw.cred_helpers.unwrap_or_default())
        })
    }

    /// The plain `auths` entry for a registry as written in a reference
    /// (`docker.io`, `host:5000`); helpers are not consulted.
    pub fn lookup(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&normalise_key(registry))
    }

    pub fn insert(&mut self, registry: &str, creds: Credentials) {
        self.auths.insert(normalise_key(registry), creds);
    }

    /// The credentials to use for a registry, as docker finds them:
    /// `credHelpers[registry]`, else `credsStore`, else `auths`. A helper
    /// that has nothing for the registry means anonymous access.
    ///
    /// A helper that answers with the username `<token>` holds an identity
    /// token (an OAuth2 refresh token) rather than a password. pocky does
    /// not implement the refresh-token grant, so that is refused with an
    /// error saying so instead of being sent as a password the registry
    /// would reject with a less helpful message.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let Some(helper) = self.helper_for(registry)? else {
            return Ok(self.lookup(registry).cloned());
        };
        let found = helper.get(&server_url(registry))?;
        if let Some(c) = &found
            && c.username == IDENTITY_TOKEN_USER
        {
            return Err(RegistryError::Auth {
                registry: registry.to_string(),
                reason: format!(
                    "{} holds an identity token, which pocky does not support; log in with a username and password or an access token instead",
                    helper.program()
                ),
            });
        }
        Ok(found)
    }

    fn helper_for(&self, registry: &str) -> Result<Option<Helper>, RegistryError> {
        let name = self
            .cred_helpers
            .get(&normalise_key(registry))
            .or(self.creds_store.as_ref());
        name.map(|n| Helper::new(n)).transpose()
    }

    /// Saves a login for `registry` in the config at `path`, as `docker
    /// login` does: through the credential helper when one is configured
    /// for it (leaving an empty `auths` entry), else as `auths.<key>.auth`.
    /// Every other key of the file is kept as it was.
    pub fn store_login(
        path: &Path,
        registry: &str,
        creds: &Credentials,
    ) -> Result<(), RegistryError> {
        let mut doc = read_document(path)?;
        let config = parse_helpers(path, &doc)?;
        let entry = match config.helper_for(registry)? {
            Some(helper) => {
                helper.store(&server_url(registry), creds)?;
                Map::new()
            }
            None => {
                let mut m = Map::new();
                m.insert("auth".into(), Value::String(creds.encoded()));
                m
            }
        };
        let auths = auths_of(path, &mut doc)?;
        // Other spellings of the same registry would shadow or confuse the new entry.
        auths.retain(|k, _| normalise_key(k) != normalise_key(registry));
        auths.insert(auth_key(registry), Value::Object(entry));
        write_document(path, &doc)
    }

    /// Forgets the login for `registry`: erases it from the credential
    /// helper when one is configured and drops its `auths` entries. True
    /// when there was something to forget.
    pub fn remove_login(path: &Path, registry: &str) -> Result<bool, RegistryError> {
        let mut doc = read_document(path)?;
        let config = parse_helpers(path, &doc)?;
        let mut removed = match config.helper_for(registry)? {
            Some(helper) => helper.erase(&server_url(registry))?,
            None => false,
        };
        let auths = auths_of(path, &mut doc)?;
        let before = auths.len();
        auths.retain(|k, _| normalise_key(k) != normalise_key(registry));
        if auths.len() != before {
            removed = true;
            write_document(path, &doc)?;
        }
        Ok(removed)
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

/// The registry a `login` server argument or an API `serveraddress` names
/// (`https://index.docker.io/v1/`, `host:5000`, nothing for Docker Hub), as
/// the registry part of a reference spells it.
pub fn registry_of_server(server: &str) -> String {
    match normalise_key(server).as_str() {
        "" => "docker.io".into(),
        other => other.into(),
    }
}

/// The key docker writes in `auths` for a registry.
fn auth_key(registry: &str) -> String {
    match normalise_key(registry).as_str() {
        "docker.io" => HUB_SERVER_URL.into(),
        other => other.into(),
    }
}

/// The server URL docker hands a credential helper: the same as the key.
fn server_url(registry: &str) -> String {
    auth_key(registry)
}

fn config_error(path: &Path, reason: impl Into<String>) -> RegistryError {
    RegistryError::DockerConfig {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The file as a JSON object, so that keys pocky does not know survive.
fn read_document(path: &Path) -> Result<Value, RegistryError> {
    match std::fs::read(path) {
        Ok(text) if text.iter().all(u8::is_ascii_whitespace) => Ok(Value::Object(Map::new())),
        Ok(text) => {
            let v: Value = serde_json::from_slice(&text)
                .map_err(|e| config_error(path, format!("malformed JSON: {e}")))?;
            if v.is_object() {
                Ok(v)
            } else {
                Err(config_error(path, "not a JSON object"))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Map::new())),
        Err(e) => Err(config_error(path, e.to_string())),
    }
}

/// The helper settings of a document, ignoring its `auths`.
fn parse_helpers(path: &Path, doc: &Value) -> Result<DockerConfig, RegistryError> {
    let store = doc.get("credsStore");
    let helpers = doc.get("credHelpers");
    let raw = serde_json::json!({ "credsStore": store, "credHelpers": helpers });
    let raw: RawConfig = serde_json::from_value(raw)
        .map_err(|e| config_error(path, format!("credsStore or credHelpers: {e}")))?;
    Ok(helper_settings(
        raw.creds_store,
        raw.cred_helpers.unwrap_or_default(),
    ))
}

/// A config with only its helpers; empty names mean "none", as in docker.
fn helper_settings(
    creds_store: Option<String>,
    cred_helpers: HashMap<String, String>,
) -> DockerConfig {
    DockerConfig {
        auths: HashMap::new(),
        creds_store: creds_store.filter(|s| !s.is_empty()),
        cred_helpers: cred_helpers
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (normalise_key(&k), v))
            .collect(),
    }
}

fn auths_of<'a>(
    path: &Path,
    doc: &'a mut Value,
) -> Result<&'a mut Map<String, Value>, RegistryError> {
    let Value::Object(top) = doc else {
        return Err(config_error(path, "not a JSON object"));
    };
    let auths = top
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if auths.is_null() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .ok_or_else(|| config_error(path, "\"auths\" is not a JSON object"))
}

/// Replaces the file atomically (a reader sees the old or the new file,
/// never half of one), readable by its owner only, since it may hold
/// passwords. A symlinked config is written through to its target, as docker does.
fn write_document(path: &Path, doc: &Value) -> Result<(), RegistryError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let fail = |what: &str, e: std::io::Error| config_error(path, format!("{what}: {e}"));
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|e| fail("resolving the symlink", e))?
        }
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| fail("creating its directory", e))?;
    let mut body = serde_json::to_vec_pretty(doc)
        .map_err(|e| config_error(path, format!("encoding JSON: {e}")))?;
    body.push(b'\n');
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask cannot widen 0600, but a create mode is only a ceiling.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("writing", e));
    }
    // The rename is only durable once the directory is.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
