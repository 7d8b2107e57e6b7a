//! The registry client: resolve a reference to a verified manifest and
//! config for one platform, and open verified blob streams.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::auth::{Credentials, DockerConfig};
use crate::blob::{BlobLocation, BlobReader};
use crate::digest::Digest;
use crate::error::{RegistryError, Result};
use crate::manifest::{self, Parsed};
use crate::platform::Platform;
use crate::reference::{DOCKER_HUB, Reference, api_host_for};
use crate::transport::{Access, Call, Target, Transport, TransportOptions, redact};

/// How a [`Client`] talks to registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--tls-verify=false`: unverified HTTPS, falling back to plain HTTP, for any host.
    pub insecure: bool,
    /// The Docker config file; `None` means `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    pub max_manifest_bytes: u64,
    pub max_config_bytes: u64,
    /// Most layers an image may have: overlayfs stacks at most 500, so a
    /// longer image could be pulled but never run.
    pub max_layers: usize,
    /// Extra attempts after a transient failure.
    pub retries: u32,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The longest a single read may wait for data (a stalled registry).
    pub read_timeout: Duration,
    /// Blobs up to this size are pushed in one request; larger ones in
    /// chunks of this size, so that no single request runs for too long.
    pub upload_chunk_size: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: false,
            docker_config: None,
            max_manifest_bytes: 4 << 20,
            max_config_bytes: 8 << 20,
            max_layers: 500,
            retries: 5,
            user_agent: concat!("pocky/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            upload_chunk_size: 32 << 20,
        }
    }
}

fn transport_options(opts: &ClientOptions) -> TransportOptions {
    TransportOptions {
        insecure: opts.insecure,
        retries: opts.retries,
        user_agent: opts.user_agent.clone(),
        connect_timeout: opts.connect_timeout,
        read_timeout: opts.read_timeout,
    }
}

/// `host[:port]` from what a user typed after `login`; Docker Hub's
/// spellings become `docker.io`.
fn registry_name(input: &str) -> Result<String> {
    let trimmed = input.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid {
        return Err(RegistryError::InvalidReference {
            reference: input.to_string(),
            reason: "not a registry host[:port]".into(),
        });
    }
    Ok(match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    })
}

/// A layer to download, as listed by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A reference resolved for one platform, with everything verified.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    /// The index or manifest list the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfiguration,
    pub layers: Vec<LayerDescriptor>,
}

/// A registry client. Cheap to share: it is `Send + Sync`, and its token
/// cache serves every thread.
pub struct Client {
    pub(crate) transport: Arc<Transport>,
    pub(crate) opts: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("opts", &self.opts).finish()
    }
}

struct Fetched {
    bytes: Vec<u8>,
    content_type: Option<String>,
    digest: Digest,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client> {
        let config = match opts
            .docker_config
            .clone()
            .or_else(DockerConfig::default_path)
        {
            Some(path) => DockerConfig::load(&path)?,
            None => DockerConfig::default(),
        };
        Self::with_credentials(opts, config)
    }

    /// A client with credentials given directly instead of read from a file.
    pub fn with_credentials(opts: ClientOptions, creds: DockerConfig) -> Result<Client> {
        let transport = Transport::new(transport_options(&opts), creds)?;
        Ok(Client {
            transport: Arc::new(transport),
            opts,
        })
    }

    pub(crate) fn target(r: &Reference) -> Target<'_> {
        Target {
            registry: &r.registry,
            host: r.api_host(),
            repository: &r.repository,
        }
    }

    /// Checks that a registry accepts `creds`, as `docker login` does:
    /// `GET /v2/` with them, as HTTP basic auth or through a token fetched
    /// with them (no scope) when the registry asks for a bearer token.
    /// `registry_host` is `host[:port]` (`docker.io` for Docker Hub; a
    /// scheme and path, as in `https://index.docker.io/v1/`, are ignored).
    /// A registry that asks for no authentication at all accepts any login.
    pub fn check_login(&self, registry_host: &str, creds: &Credentials) -> Result<()> {
        let registry = registry_name(registry_host)?;
        let mut config = DockerConfig::default();
        config.insert(&registry, creds.clone());
        // Its own transport: these credentials and the tokens they get must
        // not serve this client's other requests.
        let transport = Transport::new(transport_options(&self.opts), config)?;
        let target = Target {
            registry: &registry,
            host: api_host_for(&registry),
            repository: "",
        };
        transport
            .request(
                &Call {
                    method: ureq::http::Method::GET,
                    target,
                    access: Access::Registry,
                    url: "/v2/",
                    headers: &[],
                },
                None,
            )
            .map(drop)
    }

    /// Fetches the manifest (choosing from an index by platform) and the
    /// image config, verifying digests, sizes and media types on the way.
    pub fn resolve(&self, r: &Reference, p: &Platform) -> Result<Resolved> {
        let name = r.to_string();
        let top = self.fetch_manifest(r, &r.manifest_ref(), r.digest.as_ref())?;
        let (fetched, index_digest, media_type, manifest) =
            match manifest::parse(&name, top.content_type.as_deref(), &top.bytes)? {
                Parsed::Image {
                    media_type,
                    manifest,
                } => (top, None, media_type, manifest),
                Parsed::Index { index, .. } => {
                    let entry = manifest::select(&name, &index, p)?;
                    let child = Digest::parse(entry.digest().as_ref())?;
                    let child_name = format!("{}/{}@{child}", r.registry, r.repository);
                    if entry.size() > self.opts.max_manifest_bytes {
                        return Err(RegistryError::ManifestTooLarge {
                            reference: child_name,
                            max: self.opts.max_manifest_bytes,
                        });
                    }
                    let fetched = self.fetch_manifest(r, child.as_str(), Some(&child))?;
                    if fetched.bytes.len() as u64 != entry.size() {
                        return Err(RegistryError::SizeMismatch {
                            what: "manifest",
                            digest: child.to_string(),
                            expected: entry.size(),
                            actual: fetched.bytes.len() as u64,
                        });
                    }
                    match manifest::parse(
                        &child_name,
                        fetched.content_type.as_deref(),
                        &fetched.bytes,
                    )? {
                        Parsed::Image {
                            media_type,
                            manifest,
                        } => (fetched, Some(top.digest), media_type, manifest),
                        Parsed::Index { .. } => {
                            return Err(RegistryError::InvalidManifest {
                                reference: child_name,
                                reason: "an index entry for a platform is itself an index".into(),
                            });
                        }
                    }
                }
            };
        if manifest.layers().len() > self.opts.max_layers {
            return Err(RegistryError::InvalidManifest {
                reference: name,
                reason: format!(
                    "{} layers; at most {} can be stacked into a container's root (overlayfs)",
                    manifest.layers().len(),
                    self.opts.max_layers
                ),
            });
        }
        let config_desc = manifest.config();
        let config_type = config_desc.media_type().to_string();
        if config_type != manifest::OCI_CONFIG && config_type != manifest::DOCKER_CONFIG {
            return Err(RegistryError::InvalidManifest {
                reference: name,
                reason: format!(
                    "not a container image: config media type is {:?}",
                    crate::digest::shorten(&config_type)
                ),
            });
        }
        let config_digest = Digest::parse(config_desc.digest().as_ref())?;
        let config_bytes = self.fetch_blob(
            r,
            &config_digest,
            config_desc.size(),
            self.opts.max_config_bytes,
        )?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::InvalidConfig {
                digest: config_digest.to_string(),
                reason: format!("malformed JSON: {e}"),
            })?;
        let mut layers = Vec::new();
        for l in manifest.layers() {
            let media_type = l.media_type().to_string();
            let digest = Digest::parse(l.digest().as_ref())?;
            if manifest::is_foreign(&media_type) {
                return Err(RegistryError::ForeignLayer {
                    reference: name,
                    digest: digest.to_string(),
                    media_type,
                });
            }
            layers.push(LayerDescriptor {
                digest,
                size: l.size(),
                media_type,
            });
        }
        Ok(Resolved {
            manifest_digest: fetched.digest,
            manifest_media_type: media_type,
            manifest: *manifest,
            manifest_bytes: fetched.bytes,
            index_digest,
            config_digest,
            config_bytes,
            config,
            layers,
        })
    }

    /// Reads a manifest (at most the cap plus one byte) and checks its digest
    /// against `expected`, or against `Docker-Content-Digest` when fetched by tag.
    fn fetch_manifest(
        &self,
        r: &Reference,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<Fetched> {
        let path = format!("/v2/{}/manifests/{reference}", r.repository);
        let name = format!("{}/{}:{reference}", r.registry, r.repository);
        let name = if reference.contains(':') {
            name.replacen(&format!(":{reference}"), &format!("@{reference}"), 1)
        } else {
            name
        };
        let max = self.opts.max_manifest_bytes;
        let resp = self.transport.get(
            Self::target(r),
            &path,
            &[("Accept", manifest::accept_header())],
        )?;
        let header = |h: &str| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let header_digest = header("docker-content-digest");
        let too_large = || RegistryError::ManifestTooLarge {
            reference: name.clone(),
            max,
        };
        if header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok())
            .is_some_and(|l| l > max)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        resp.into_body()
            .into_reader()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Io {
                what: "manifest",
                url: redact(&path),
                source: e,
            })?;
        if bytes.len() as u64 > max {
            return Err(too_large());
        }
        let digest = match (expected, header_digest) {
            (Some(want), _) => {
                let got = Digest::of(want.algorithm(), &bytes);
                if got != *want {
                    return Err(RegistryError::DigestMismatch {
                        what: "manifest",
                        expected: want.to_string(),
                        actual: got.to_string(),
                    });
                }
                got
            }
            (None, Some(h)) => {
                let want = Digest::parse(h.trim())?;
                let got = Digest::of(want.algorithm(), &bytes);
                if got != want {
                    return Err(RegistryError::DigestMismatch {
                        what: "manifest",
                        expected: want.to_string(),
                        actual: got.to_string(),
                    });
                }
                got
            }
            (None, None) => Digest::sha256_of(&bytes),
        };
        Ok(Fetched {
            bytes,
            content_type,
            digest,
        })
    }

    /// Opens a streaming, verifying reader on a blob of `size` bytes.
    pub fn open_blob(&self, r: &Reference, digest: &Digest, size: u64) -> Result<BlobReader> {
        if size > manifest::MAX_LAYER_SIZE {
            return Err(RegistryError::TooLarge {
                what: "blob",
                digest: digest.to_string(),
                size,
                max: manifest::MAX_LAYER_SIZE,
            });
        }
        BlobReader::open(
            self.transport.clone(),
            BlobLocation {
                registry: r.registry.clone(),
                host: r.api_host().to_string(),
                repository: r.repository.clone(),
            },
            digest.clone(),
            size,
        )
    }

    /// Downloads a small blob into memory, refusing one above `max` bytes.
    pub fn fetch_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        max: u64,
    ) -> Result<Vec<u8>> {
        if size > max {
            return Err(RegistryError::TooLarge {
                what: "blob",
                digest: digest.to_string(),
                size,
                max,
            });
        }
        let mut reader = self.open_blob(r, digest, size)?;
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        reader
            .read_to_end(&mut out)
            .map_err(|e| RegistryError::Io {
                what: "blob",
                url: format!("{}/{}@{digest}", r.registry, r.repository),
                source: e,
            })?;
        Ok(out)
    }
}
