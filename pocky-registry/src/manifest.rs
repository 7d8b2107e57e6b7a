//! Manifest media types, the checks every manifest body must pass, and the
//! choice of an entry from an index by platform.

use oci_spec::image::{ImageIndex, ImageManifest};
use serde_json::Value;

use crate::digest::{Digest, shorten};
use crate::error::{RegistryError, Result};
use crate::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The `Accept` header for manifest requests.
pub(crate) fn accept_header() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ")
}

/// No real layer is this large; a bigger size is hostile or corrupt.
pub(crate) const MAX_LAYER_SIZE: u64 = 1 << 40;

/// A manifest body classified by its media type.
#[derive(Debug)]
pub(crate) enum Parsed {
    Index {
        index: Box<ImageIndex>,
    },
    Image {
        media_type: String,
        manifest: Box<ImageManifest>,
    },
}

/// Checks that the body's `mediaType` agrees with the Content-Type, refuses
/// schema1, validates every descriptor, then deserialises.
pub(crate) fn parse(reference: &str, content_type: Option<&str>, body: &[u8]) -> Result<Parsed> {
    let bad = |reason: String| RegistryError::InvalidManifest {
        reference: reference.to_string(),
        reason,
    };
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty());
    if ct.as_deref().is_some_and(|c| SCHEMA1.contains(&c)) {
        return Err(RegistryError::Schema1 {
            reference: reference.to_string(),
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("manifest is not a JSON object".into()))?;
    if obj.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        return Err(RegistryError::Schema1 {
            reference: reference.to_string(),
        });
    }
    let body_type = match obj.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("mediaType is not a string".into())),
    };
    let known = |t: &str| [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].contains(&t);
    let ct_known = ct.as_deref().filter(|c| known(c));
    let media_type = match (&body_type, ct_known) {
        (Some(b), Some(c)) if b != c => {
            return Err(RegistryError::MediaTypeMismatch {
                reference: reference.to_string(),
                content_type: c.to_string(),
                body: shorten(b),
            });
        }
        (Some(b), _) => b.clone(),
        (None, Some(c)) => c.to_string(),
        (None, None) => {
            return Err(bad(format!(
                "cannot tell the manifest type: no mediaType in the body and Content-Type {:?}",
                ct.as_deref().unwrap_or("")
            )));
        }
    };
    if SCHEMA1.contains(&media_type.as_str()) {
        return Err(RegistryError::Schema1 {
            reference: reference.to_string(),
        });
    }
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => {
            if obj.contains_key("layers") || obj.contains_key("config") {
                return Err(bad("an index must not have config or layers".into()));
            }
            let entries = obj
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("index has no manifests array".into()))?;
            for e in entries {
                check_descriptor(e, "index entry", MAX_LAYER_SIZE).map_err(&bad)?;
            }
            let index: Box<ImageIndex> =
                serde_json::from_value(value).map_err(|e| bad(format!("bad index: {e}")))?;
            Ok(Parsed::Index { index })
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            if obj.contains_key("manifests") {
                return Err(bad("an image manifest must not list manifests".into()));
            }
            let config = obj
                .get("config")
                .ok_or_else(|| bad("manifest has no config".into()))?;
            check_descriptor(config, "config", MAX_LAYER_SIZE).map_err(&bad)?;
            let layers = obj
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("manifest has no layers array".into()))?;
            for l in layers {
                check_descriptor(l, "layer", MAX_LAYER_SIZE).map_err(&bad)?;
            }
            let manifest: Box<ImageManifest> =
                serde_json::from_value(value).map_err(|e| bad(format!("bad manifest: {e}")))?;
            Ok(Parsed::Image {
                media_type,
                manifest,
            })
        }
        other => Err(bad(format!(
            "unsupported manifest media type {:?}",
            shorten(other)
        ))),
    }
}

/// A descriptor needs a well-formed digest and a sane, non-negative size.
fn check_descriptor(d: &Value, what: &str, max_size: u64) -> std::result::Result<(), String> {
    let obj = d
        .as_object()
        .ok_or_else(|| format!("{what} descriptor is not an object"))?;
    let digest = obj
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} descriptor has no digest"))?;
    Digest::parse(digest).map_err(|e| format!("{what} descriptor: {e}"))?;
    let size = obj
        .get("size")
        .ok_or_else(|| format!("{what} {digest} has no size"))?;
    match size.as_u64() {
        Some(s) if s <= max_size => Ok(()),
        Some(s) => Err(format!("{what} {digest} has an absurd size {s}")),
        None if size.as_i64().is_some_and(|s| s < 0) => {
            Err(format!("{what} {digest} has a negative size"))
        }
        None => Err(format!("{what} {digest} size is not a whole number")),
    }
}

/// Picks the index entry for `want`: os+architecture must match, and the
/// variant too when `want` names one. Entries without a platform, with an
/// `unknown` os (attestations) or that are not image manifests are skipped.
pub(crate) fn select<'a>(
    reference: &str,
    index: &'a ImageIndex,
    want: &Platform,
) -> Result<&'a oci_spec::image::Descriptor> {
    let mut available = Vec::new();
    for d in index.manifests() {
        let Some(p) = d.platform() else { continue };
        let os = p.os().to_string();
        if os.is_empty() || os == "unknown" {
            continue;
        }
        let mt = d.media_type().to_string();
        if mt != OCI_MANIFEST && mt != DOCKER_MANIFEST {
            continue;
        }
        let have = Platform::new(&os, &p.architecture().to_string(), p.variant().as_deref());
        if want.matches(&have) {
            return Ok(d);
        }
        available.push(have.to_string());
    }
    Err(RegistryError::NoMatchingPlatform {
        reference: reference.to_string(),
        wanted: want.to_string(),
        available: if available.is_empty() {
            "none".into()
        } else {
            available.join(", ")
        },
    })
}

/// Foreign (non-distributable) layers live outside the registry.
pub(crate) fn is_foreign(media_type: &str) -> bool {
    media_type.contains(".foreign.") || media_type.contains(".nondistributable.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(mt: &str, digest: &str, size: &str) -> String {
        format!(r#"{{"mediaType":"{mt}","digest":"{digest}","size":{size}}}"#)
    }

    fn manifest(layer_digest: &str, size: &str) -> String {
        let cfg = desc(OCI_CONFIG, Digest::sha256_of(b"c").as_str(), "1");
        let layer = desc(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            layer_digest,
            size,
        );
        format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[{layer}]}}"#)
    }

    #[test]
    fn rejects_bad_descriptors() {
        let good = Digest::sha256_of(b"l");
        assert!(
            parse(
                "r",
                Some(OCI_MANIFEST),
                manifest(good.as_str(), "5").as_bytes()
            )
            .is_ok()
        );
        for (d, s, needle) in [
            ("sha256:abc", "5", "hex digits"),
            (good.as_str(), "-5", "negative"),
            (good.as_str(), "1e30", "size"),
            (good.as_str(), "99999999999999999", "absurd"),
        ] {
            let err = parse("r", Some(OCI_MANIFEST), manifest(d, s).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn content_type_decides_when_body_is_silent() {
        let m = manifest(Digest::sha256_of(b"l").as_str(), "5");
        assert!(matches!(
            parse(
                "r",
                Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
                m.as_bytes()
            ),
            Ok(Parsed::Image { .. })
        ));
        assert!(parse("r", Some("application/json"), m.as_bytes()).is_err());
        assert!(
            parse("r", None, b"{oops")
                .unwrap_err()
                .to_string()
                .contains("malformed JSON")
        );
    }

    #[test]
    fn foreign_layers_are_recognised() {
        assert!(is_foreign(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(is_foreign(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        ));
        assert!(!is_foreign("application/vnd.oci.image.layer.v1.tar+gzip"));
    }
}
