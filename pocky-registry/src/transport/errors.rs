//! A registry's error answers as one printable line.

use ureq::Body;
use ureq::http::Response;

use crate::error::RegistryError;
use crate::url::redact;

const MAX_ERROR_BODY: u64 = 64 * 1024;

pub(super) fn status_error(url: &str, status: u16, message: String) -> RegistryError {
    RegistryError::Status {
        url: redact(url),
        status,
        message,
    }
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
