//! An image's config, read and parsed once per operation: what `create`
//! takes from it (the runtime's defaults, the stop signal, labels, the
//! healthcheck, `VOLUME`s, `EXPOSE`d ports) and what inspect shows.

use crate::spec::ImageDefaults;
use anyhow::{Context, Result};
use pocky_store::{HealthConfig, ImageRecord, Store};

/// What a container takes from its image's config.
#[derive(Debug, Default)]
pub struct ImageConfig {
    pub defaults: ImageDefaults,
    /// The StopSignal that `stop` sends.
    pub stop_signal: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Docker's `Healthcheck`, which the typed OCI config does not have.
    pub healthcheck: Option<HealthConfig>,
    /// `VOLUME` paths.
    pub volumes: Vec<String>,
    /// `EXPOSE`d ports, `80/tcp`...
    pub exposed_ports: Vec<String>,
}

/// Reads the config blob of `image` (verified when it was stored).
pub fn read(store: &Store, image: &ImageRecord) -> Result<ImageConfig> {
    read_id(store, &image.id)
}

/// The same by config digest.
pub fn read_id(store: &Store, image_id: &str) -> Result<ImageConfig> {
    let short = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    let short = &short[..short.len().min(12)];
    let bytes = store.get_blob(image_id)?;
    let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing the config of image {short}"))?;
    let healthcheck = crate::health::config::from_image_config(&bytes)
        .with_context(|| format!("reading the healthcheck of image {short}"))?;
    let Some(c) = config.config() else {
        return Ok(ImageConfig {
            healthcheck,
            ..ImageConfig::default()
        });
    };
    Ok(ImageConfig {
        defaults: ImageDefaults {
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            cmd: c.cmd().clone().unwrap_or_default(),
            env: c.env().clone().unwrap_or_default(),
            working_dir: c.working_dir().clone().unwrap_or_default(),
            user: c.user().clone().unwrap_or_default(),
        },
        stop_signal: c.stop_signal().clone().filter(|s| !s.is_empty()),
        labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
        healthcheck,
        volumes: c.volumes().clone().unwrap_or_default(),
        exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
    })
}
