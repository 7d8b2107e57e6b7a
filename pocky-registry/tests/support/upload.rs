//! A stub registry that accepts pushes: upload sessions with PATCH and PUT,
//! mounts, manifests, optional bearer or basic auth and injected failures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use pocky_registry::Digest;

use super::{Req, Resp, Stub};

/// How the stub writes the Location of an upload session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocStyle {
    /// `/v2/<repo>/blobs/uploads/<id>?_state=<n>`
    Rooted,
    /// `http://127.0.0.1:<port>/v2/...?_state=<n>`
    Absolute,
    /// `<id>?_state=<n>`, relative to the URL that answered
    Bare,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Tokens from `/token`; every token is `tok-<n>`.
    Bearer,
    Basic(String, String),
}

#[derive(Default)]
pub struct State {
    /// `repo@digest` -> content
    pub blobs: HashMap<String, Vec<u8>>,
    /// session id -> bytes so far
    pub sessions: HashMap<String, Vec<u8>>,
    /// `repo:reference` -> (content type, bytes)
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    /// `(method, status)`: the next request with that method gets that status.
    pub fail_next: Vec<(String, u16)>,
    /// A Docker-Content-Digest to send instead of the true one.
    pub lie_digest: Option<String>,
    pub tokens_issued: usize,
    next_session: usize,
}

pub struct PushRegistry {
    pub stub: Stub,
    pub state: Arc<Mutex<State>>,
}

impl PushRegistry {
    pub fn start(style: LocStyle, auth: Auth) -> PushRegistry {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let stub = Stub::start(move |port| move |req: &Req| handle(port, style, &auth, &st, req));
        PushRegistry { stub, state }
    }

    pub fn host(&self) -> String {
        self.stub.host()
    }

    pub fn blob(&self, repo: &str, digest: &Digest) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .blobs
            .get(&format!("{repo}@{digest}"))
            .cloned()
    }

    pub fn add_blob(&self, repo: &str, content: &[u8]) -> Digest {
        let d = Digest::sha256_of(content);
        self.state
            .lock()
            .unwrap()
            .blobs
            .insert(format!("{repo}@{d}"), content.to_vec());
        d
    }

    pub fn fail_next(&self, method: &str, status: u16) {
        self.state
            .lock()
            .unwrap()
            .fail_next
            .push((method.to_string(), status));
    }

    /// The requests other than token fetches.
    pub fn api_requests(&self) -> Vec<Req> {
        self.stub
            .requests()
            .into_iter()
            .filter(|r| r.path() != "/token")
            .collect()
    }
}

pub fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

/// All values of one query parameter, in order.
pub fn query_all(url: &str, key: &str) -> Vec<String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
        .collect()
}

fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(n) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn json_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::new(status)
        .header("Content-Type", "application/json")
        .body(format!(
            r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#
        ))
}

fn handle(port: u16, style: LocStyle, auth: &Auth, st: &Mutex<State>, req: &Req) -> Resp {
    let mut s = st.lock().unwrap();
    if req.path() == "/token" {
        s.tokens_issued += 1;
        return Resp::ok(
            "application/json",
            format!(r#"{{"token":"tok-{}","expires_in":300}}"#, s.tokens_issued),
        );
    }
    match auth {
        Auth::None => {}
        Auth::Bearer => {
            let ok = req
                .header("Authorization")
                .is_some_and(|a| a.starts_with("Bearer tok-"));
            if !ok {
                return json_error(401, "UNAUTHORIZED", "authentication required").header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="stub""#),
                );
            }
        }
        Auth::Basic(u, p) => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            );
            if req.header("Authorization") != Some(want.as_str()) {
                return json_error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", r#"Basic realm="stub""#);
            }
        }
    }
    if let Some(i) = s.fail_next.iter().position(|(m, _)| *m == req.method) {
        let (_, status) = s.fail_next.remove(i);
        return json_error(status, "UNKNOWN", "injected failure");
    }
    let path = req.path().to_string();
    if path == "/v2/" {
        return Resp::ok("application/json", "{}");
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Resp::not_found();
    };
    if let Some((repo, tail)) = rest.split_once("/blobs/uploads/") {
        return upload(port, style, &mut s, req, repo, tail);
    }
    if let Some((repo, digest)) = rest.split_once("/blobs/") {
        let key = format!("{repo}@{digest}");
        return match s.blobs.get(&key) {
            Some(_) if req.method == "HEAD" => Resp::new(200)
                .header("Docker-Content-Digest", digest)
                .header("Content-Type", "application/octet-stream"),
            Some(b) => Resp::ok("application/octet-stream", b.clone())
                .header("Docker-Content-Digest", digest),
            None => json_error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        };
    }
    if let Some((repo, reference)) = rest.split_once("/manifests/") {
        let key = format!("{repo}:{reference}");
        if req.method == "PUT" {
            let ct = req.header("Content-Type").unwrap_or("").to_string();
            let d = Digest::sha256_of(&req.body);
            s.manifests.insert(key, (ct.clone(), req.body.clone()));
            s.manifests
                .insert(format!("{repo}:{d}"), (ct, req.body.clone()));
            let reported = s.lie_digest.clone().unwrap_or_else(|| d.to_string());
            return Resp::new(201)
                .header("Docker-Content-Digest", &reported)
                .header("Location", &format!("/v2/{repo}/manifests/{d}"));
        }
        return match s.manifests.get(&key) {
            Some((ct, b)) => Resp::ok(ct, b.clone())
                .header("Docker-Content-Digest", &Digest::sha256_of(b).to_string()),
            None => Resp::not_found(),
        };
    }
    Resp::not_found()
}

fn location(port: u16, style: LocStyle, repo: &str, id: &str, state: usize) -> String {
    match style {
        LocStyle::Rooted => format!("/v2/{repo}/blobs/uploads/{id}?_state=s{state}"),
        LocStyle::Absolute => {
            format!("http://127.0.0.1:{port}/v2/{repo}/blobs/uploads/{id}?_state=s{state}")
        }
        LocStyle::Bare => format!("{id}?_state=s{state}"),
    }
}

fn upload(port: u16, style: LocStyle, s: &mut State, req: &Req, repo: &str, id: &str) -> Resp {
    let q = query(&req.url);
    if req.method == "POST" {
        if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from"))
            && let Some(b) = s.blobs.get(&format!("{from}@{mount}")).cloned()
        {
            s.blobs.insert(format!("{repo}@{mount}"), b);
            return Resp::new(201).header("Docker-Content-Digest", mount);
        }
        s.next_session += 1;
        let id = format!("u{}", s.next_session);
        s.sessions.insert(id.clone(), Vec::new());
        return Resp::new(202)
            .header("Location", &location(port, style, repo, &id, 0))
            .header("Range", "0-0")
            .header("Docker-Upload-UUID", &id);
    }
    let Some(data) = s.sessions.get_mut(id) else {
        return json_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown");
    };
    let state: usize = q
        .get("_state")
        .and_then(|v| v.strip_prefix('s'))
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    match req.method.as_str() {
        "PATCH" => {
            if let Some(range) = req.header("Content-Range") {
                let start: usize = range.split('-').next().unwrap().parse().unwrap();
                if start != data.len() {
                    return json_error(416, "BLOB_UPLOAD_INVALID", "bad range");
                }
            }
            data.extend_from_slice(&req.body);
            let end = data.len().saturating_sub(1);
            Resp::new(202)
                .header("Location", &location(port, style, repo, id, state + 1))
                .header("Range", &format!("0-{end}"))
        }
        "PUT" => {
            data.extend_from_slice(&req.body);
            let content = data.clone();
            let Some(want) = q.get("digest") else {
                return json_error(400, "DIGEST_INVALID", "no digest");
            };
            let got = Digest::sha256_of(&content);
            if got.to_string() != *want {
                return json_error(
                    400,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                );
            }
            s.sessions.remove(id);
            s.blobs.insert(format!("{repo}@{got}"), content);
            let reported = s.lie_digest.clone().unwrap_or_else(|| got.to_string());
            Resp::new(201)
                .header("Docker-Content-Digest", &reported)
                .header("Location", &format!("/v2/{repo}/blobs/{got}"))
        }
        "DELETE" => {
            s.sessions.remove(id);
            Resp::new(204)
        }
        _ => json_error(405, "UNSUPPORTED", "method"),
    }
}
