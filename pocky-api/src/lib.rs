//! The Docker Engine API on a socket, in front of pocky's engine: what
//! `pocky system service` serves so that the docker CLI, docker-compose
//! and the Docker SDKs drive pocky. It is a second front end beside the
//! CLI, not a daemon containers depend on: every container keeps its own
//! monitor, and stopping the service stops none of them.
//!
//! Each connection is served by a forked, single-threaded process (see
//! [`server`]): the engine forks for detached starts, exec and probes,
//! which is only sound in a single-threaded process, and a crash or a
//! client that vanishes mid-stream takes only its own connection down.

pub mod archive;
pub mod attach;
mod build;
pub mod containers;
pub mod create_body;
pub mod exec;
pub mod host_config;
mod host_config_more;
pub mod http;
mod image_io;
mod images;
pub mod lifecycle;
pub mod mux;
pub mod networks;
mod progress;
pub mod registry_auth;
pub mod router;
pub mod server;
pub mod stats;
pub mod system;
pub mod volumes;

use std::io::BufReader;

use pocky_engine::store::Store;
use serde_json::{Value, json};

pub use server::{Options, serve};

/// The newest API version served, and the oldest: clients negotiate down
/// to the first (`/_ping`'s `Api-Version`), and paths may name any
/// version between the two (`/v1.41/containers/json`).
pub const API_VERSION: &str = "1.43";
pub const MIN_API_VERSION: &str = "1.24";

/// An answer that is not a success: Docker's status and `{"message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, message)
    }
    pub fn body(&self) -> Value {
        json!({ "message": self.message })
    }
}

impl From<pocky_engine::Error> for ApiError {
    fn from(e: pocky_engine::Error) -> ApiError {
        use pocky_engine::Error as E;
        // Docker's wording, which clients match on (the SDKs tell a
        // missing image from a missing container by it).
        let message = match &e {
            E::NoSuchContainer(n) => format!("No such container: {n}"),
            E::NoSuchImage(n) => format!("No such image: {n}"),
            E::NoSuchVolume(n) => format!("get {n}: no such volume"),
            _ => pocky_engine::one_line(&e),
        };
        ApiError::new(e.status(), message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        // Typed engine errors keep their status under added context.
        match e.downcast::<pocky_engine::Error>() {
            Ok(e) => e.into(),
            Err(e) => ApiError::internal(pocky_engine::one_line(&e)),
        }
    }
}

impl From<pocky_engine::store::StoreError> for ApiError {
    fn from(e: pocky_engine::store::StoreError) -> ApiError {
        pocky_engine::Error::from(e).into()
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

pub type ApiResult<T = Reply> = Result<T, ApiError>;

/// What a handler answers.
#[derive(Debug)]
pub enum Reply {
    Json(u16, Value),
    /// 204, 304: no body.
    Empty(u16),
    /// A body that is not JSON (`/_ping`'s "OK", an archive).
    Raw(u16, &'static str, Vec<u8>),
    /// The handler wrote its response itself (a stream); `keep` says
    /// whether the connection can take another request.
    Written {
        keep: bool,
    },
}

/// One request being served.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub head: http::Head,
    /// The path after the version prefix, split and percent-decoded.
    pub segments: Vec<String>,
    /// The version the client named in the path (or the newest).
    pub version: (u32, u32),
    pub reader: &'a mut BufReader<http::Stream>,
    pub writer: &'a mut http::Stream,
    /// A handler took the body: the connection may go on after it.
    pub body_read: bool,
}

impl Ctx<'_> {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.head
            .query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn query_all(&self, key: &str) -> Vec<&str> {
        self.head
            .query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Go's strconv.ParseBool, as dockerd reads boolean query parameters
    /// (an absent or empty one is false).
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.query(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::bad(format!(
                "invalid value for {key}: {v:?} is not a boolean"
            ))),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.query(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// `filters={"label":["a=b"],"status":{"running":true}}` as the
    /// engine's `key=value` strings; both of Docker's shapes are taken.
    pub fn filters(&self) -> ApiResult<Vec<String>> {
        let Some(raw) = self.query("filters").filter(|f| !f.is_empty()) else {
            return Ok(Vec::new());
        };
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad(format!("invalid filters: {e}")))?;
        let Some(map) = v.as_object() else {
            return Err(ApiError::bad("invalid filters: not an object"));
        };
        let mut out = Vec::new();
        for (key, values) in map {
            match values {
                Value::Array(a) => {
                    for v in a {
                        let v = v
                            .as_str()
                            .ok_or_else(|| ApiError::bad(format!("invalid filter {key}")))?;
                        out.push(format!("{key}={v}"));
                    }
                }
                Value::Object(o) => {
                    for (v, on) in o {
                        if on.as_bool() == Some(true) {
                            out.push(format!("{key}={v}"));
                        }
                    }
                }
                _ => return Err(ApiError::bad(format!("invalid filter {key}"))),
            }
        }
        Ok(out)
    }

    pub fn body(&mut self) -> ApiResult<http::Body<'_>> {
        self.body_read = true;
        http::body(&self.head, self.reader).map_err(|e| ApiError::bad(e.to_string()))
    }

    pub fn json_body(&mut self) -> ApiResult<Value> {
        let mut body = self.body()?;
        let data = body.read_limited(http::MAX_JSON_BODY);
        // Half a body left on the connection (too large, or broken off): it
        // cannot take another request. A whole one that is not JSON can.
        self.body_read = data.is_ok();
        http::parse_json(&data?)
    }

    /// Docker's `since`/`until`: unix seconds (with fractions), an RFC
    /// 3339 time, or a duration before now.
    pub fn time(&self, key: &str) -> ApiResult<Option<std::time::SystemTime>> {
        let Some(v) = self.query(key).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if let Ok(secs) = v.parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs);
            return Ok(Some(t));
        }
        pocky_engine::events::parse_time(v, std::time::SystemTime::now())
            .map(Some)
            .map_err(ApiError::from)
    }

    /// The content type of a container's output stream: multiplexed
    /// without a terminal (so named from 1.42), raw with one.
    pub fn stream_type(&self, tty: bool) -> &'static str {
        if !tty && self.at_least(1, 42) {
            "application/vnd.docker.multiplexed-stream"
        } else {
            "application/vnd.docker.raw-stream"
        }
    }

    /// At least API version `major.minor` was asked for.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version >= (major, minor)
    }
}

/// `"1.43"` as a pair.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}
