//! The few URL operations the transport needs: origins, redirect targets,
//! loopback detection, and query redaction for error messages.

use ureq::http::Uri;

use crate::error::{RegistryError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
}

pub(crate) fn origin(url: &str) -> Result<Origin> {
    let bad = || RegistryError::Redirect {
        url: redact(url),
        reason: "not an absolute http(s) URL".into(),
    };
    let uri: Uri = url.parse().map_err(|_| bad())?;
    let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad()),
    };
    let host = uri.host().ok_or_else(bad)?.to_ascii_lowercase();
    Ok(Origin {
        port: uri.port_u16().unwrap_or(default_port),
        scheme,
        host,
    })
}

/// Resolves a `Location` header against the URL that answered with it.
pub(crate) fn resolve_location(base: &str, loc: &str) -> Result<String> {
    let lower = loc.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(loc.to_string());
    }
    let uri: Uri = base.parse().map_err(|_| RegistryError::Redirect {
        url: redact(base),
        reason: "cannot parse URL".into(),
    })?;
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    if let Some(rest) = loc.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    if loc.starts_with('/') {
        return Ok(format!("{scheme}://{authority}{loc}"));
    }
    if loc.contains("://") {
        return Err(RegistryError::Redirect {
            url: redact(base),
            reason: format!("redirect to unsupported scheme {}", redact(loc)),
        });
    }
    let path = uri.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    Ok(format!("{scheme}://{authority}{dir}{loc}"))
}

/// Drops the query string, where pre-signed URLs keep their signatures.
pub(crate) fn redact(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

pub(crate) fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// The addresses whose registries pocky talks plain HTTP to without being
/// told ([`is_loopback`]), as Docker's "insecure registries" lists them.
pub const PLAIN_HTTP_CIDRS: [&str; 2] = ["::1/128", "127.0.0.0/8"];

pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "https://r.example:5000/v2/a/blobs/sha256:x?sig=1";
        assert_eq!(
            resolve_location(base, "https://cdn/x").unwrap(),
            "https://cdn/x"
        );
        assert_eq!(resolve_location(base, "//cdn/y").unwrap(), "https://cdn/y");
        assert_eq!(
            resolve_location(base, "/z").unwrap(),
            "https://r.example:5000/z"
        );
        assert_eq!(
            resolve_location(base, "w?q=1").unwrap(),
            "https://r.example:5000/v2/a/blobs/w?q=1"
        );
        assert!(resolve_location(base, "ftp://x/y").is_err());
    }

    #[test]
    fn origins_compare_scheme_host_port() {
        assert_eq!(
            origin("https://a/x").unwrap(),
            origin("https://A:443/y").unwrap()
        );
        assert_ne!(
            origin("https://a/x").unwrap(),
            origin("http://a/x").unwrap()
        );
        assert_ne!(
            origin("http://127.0.0.1:1/").unwrap(),
            origin("http://localhost:1/").unwrap()
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        assert!(!is_loopback("example.com"));
        assert_eq!(host_only("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(host_only("[::1]:5000"), "::1");
        assert_eq!(redact("https://cdn/x?X-Amz-Signature=s"), "https://cdn/x");
    }
}
