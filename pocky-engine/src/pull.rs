//! The pull pipeline: resolve, download and unpack layers in parallel (one
//! streaming pass per layer: network -> digest -> decompress -> diff_id ->
//! files), then publish the image record. Nothing becomes visible before the
//! record is written, and each layer appears whole or not at all.

use std::io::{self, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use pocky_registry::{Client, ClientOptions, LayerDescriptor, Platform, Reference, Resolved};
use pocky_store::{ImageRecord, ImageStore, LayerRecord, LayerStore, Store, chain_ids};

use crate::log::debug;
use crate::pool::short;
use crate::progress::{Counting, PullProgress};

/// Layers downloaded at once, as Docker does.
const PARALLEL_LAYERS: usize = 3;

/// `run --pull`: when the image is fetched from its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Only when the store has no such image (the default).
    #[default]
    Missing,
    /// Every time, so the tag's newest image runs.
    Always,
    /// Never: a missing image is an error.
    Never,
}

/// The image `name` from the store, pulled first if (and only if) the
/// store has no such image: `run`'s rule.
pub fn find_or_pull(
    store: &Store,
    name: &str,
    platform: Option<&str>,
    progress: &dyn PullProgress,
) -> crate::Result<ImageRecord> {
    find_or_pull_inner(store, name, platform, progress).map_err(crate::Error::from)
}

/// [`find_or_pull`] under a `--pull` policy.
pub fn find_or_pull_with(
    store: &Store,
    name: &str,
    platform: Option<&str>,
    policy: PullPolicy,
    progress: &dyn PullProgress,
) -> crate::Result<ImageRecord> {
    match policy {
        PullPolicy::Missing => find_or_pull(store, name, platform, progress),
        PullPolicy::Never => Ok(crate::lookup::find(store, name)?.0),
        PullPolicy::Always => {
            let reference = Reference::parse(name).map_err(|e| crate::invalid!("{e}"))?;
            let platform = match platform {
                Some(p) => Platform::parse(p).map_err(|e| crate::invalid!("{e}"))?,
                None => Platform::host(),
            };
            let client = Client::new(ClientOptions::default()).map_err(anyhow::Error::from)?;
            pull(store, &client, &reference, &platform, progress)?;
            Ok(crate::lookup::find(store, name)?.0)
        }
    }
}

fn find_or_pull_inner(
    store: &Store,
    name: &str,
    platform: Option<&str>,
    progress: &dyn PullProgress,
) -> Result<ImageRecord> {
    if let Some((image, _)) = crate::lookup::find_local(store, name)? {
        return Ok(image);
    }
    let reference = Reference::parse(name)?;
    eprintln!("Unable to find image '{name}' locally");
    let platform = match platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let client = Client::new(ClientOptions::default())?;
    pull(store, &client, &reference, &platform, progress)?;
    Ok(crate::lookup::find(store, name)?.0)
}

pub struct Outcome {
    pub manifest_digest: String,
    pub downloaded: bool,
}

/// Pulls `reference` into `store`. Also used by `run` for missing images.
pub fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    platform: &Platform,
    progress: &dyn PullProgress,
) -> crate::Result<Outcome> {
    pull_inner(store, client, reference, platform, progress).map_err(crate::Error::from)
}

/// `pull --all-tags`: every tag the registry lists for `repository` (a
/// reference without tag or digest), pulled one after another; the first
/// failure stops it, naming the tag. `done` hears of each as it is.
pub fn pull_all_tags(
    store: &Store,
    client: &Client,
    repository: &Reference,
    platform: &Platform,
    progress: &dyn PullProgress,
    done: &mut dyn FnMut(&Reference, &Outcome),
) -> crate::Result<Vec<(Reference, Outcome)>> {
    if repository.tag.is_some() {
        return Err(crate::invalid!("tag can't be used with --all-tags/-a"));
    }
    if repository.digest.is_some() {
        return Err(crate::invalid!("digest can't be used with --all-tags/-a"));
    }
    let tags = client
        .list_tags(repository)
        .with_context(|| format!("listing the tags of {repository}"))?;
    if tags.is_empty() {
        return Err(crate::Error::NotFound(format!(
            "repository {repository} has no tags"
        )));
    }
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        let reference = Reference {
            tag: Some(tag),
            ..repository.clone()
        };
        let outcome = pull(store, client, &reference, platform, progress)?;
        done(&reference, &outcome);
        out.push((reference, outcome));
    }
    Ok(out)
}

fn pull_inner(
    store: &Store,
    client: &Client,
    reference: &Reference,
    platform: &Platform,
    progress: &dyn PullProgress,
) -> Result<Outcome> {
    // Held until the record is written, so a concurrent `rmi` does not
    // collect the layers this pull has just unpacked.
    let _pin = store.pin()?;
    progress.line(&format!(
        "{}: Pulling from {}",
        reference
            .digest
            .as_ref()
            .map_or_else(|| reference.tag_or_latest().to_owned(), |d| d.to_string()),
        reference.repository
    ));
    let resolved = client
        .resolve(reference, platform)
        .with_context(|| format!("pulling {reference}"))?;
    let diff_ids: Vec<String> = resolved
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(ToString::to_string)
        .collect();
    if diff_ids.len() != resolved.layers.len() {
        bail!(
            "image {reference} is inconsistent: its manifest lists {} layers but its config {} diff ids",
            resolved.layers.len(),
            diff_ids.len()
        );
    }
    for d in &diff_ids {
        pocky_store::sha256_hex(d).with_context(|| format!("image {reference} config"))?;
    }
    let chains = chain_ids(&diff_ids);

    let mut todo = Vec::new();
    for (i, layer) in resolved.layers.iter().enumerate() {
        // A layer unpacked by an earlier pocky (which kept no compressed
        // blobs) is fetched again for its blob, so the image can be pushed.
        if store.has_layer(&chains[i])? && store.has_blob(&layer.digest.to_string())? {
            progress.line(&format!(
                "{}: Already exists",
                short(&layer.digest.to_string())
            ));
        } else {
            todo.push(i);
        }
    }
    let downloaded = !todo.is_empty();
    fetch_layers(
        store, client, reference, &resolved, &diff_ids, &chains, &todo, progress,
    )?;

    let config_digest = resolved.config_digest.to_string();
    let manifest_digest = resolved.manifest_digest.to_string();
    store.put_blob(&config_digest, &resolved.config_bytes)?;
    store.put_blob(&manifest_digest, &resolved.manifest_bytes)?;
    let mut size = 0;
    for c in &chains {
        size += layer_size(store, c)?;
    }
    let repo = format!("{}/{}", reference.registry, reference.repository);
    let record = ImageRecord {
        id: config_digest,
        repo_tags: match (&reference.tag, &reference.digest) {
            (None, Some(_)) => vec![],
            _ => vec![format!("{repo}:{}", reference.tag_or_latest())],
        },
        repo_digests: vec![format!("{repo}@{manifest_digest}")],
        manifest_digest: manifest_digest.clone(),
        diff_ids,
        chain_ids: chains,
        size,
        created: resolved.config.created().clone(),
        pulled: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        platform: platform_of(&resolved),
        build_step: false,
    };
    store.put_image(&record)?;
    let name = format!("{repo}:{}", reference.tag_or_latest());
    crate::events::object(store, "image", "pull", &name, &name);
    Ok(Outcome {
        manifest_digest,
        downloaded,
    })
}

fn platform_of(resolved: &Resolved) -> String {
    let c = &resolved.config;
    let mut p = format!("{}/{}", c.os(), c.architecture());
    if let Some(v) = c.variant() {
        p.push('/');
        p.push_str(v);
    }
    p
}

pub(crate) fn layer_size(store: &Store, chain_id: &str) -> Result<u64> {
    Ok(store.layer_record(chain_id)?.size)
}

/// Downloads and unpacks the layers at `todo` with a bounded pool of
/// threads. The first failure stops the pool from starting more layers and
/// is the error reported; staging directories of failed layers are dropped.
#[allow(clippy::too_many_arguments)]
fn fetch_layers(
    store: &Store,
    client: &Client,
    reference: &Reference,
    resolved: &Resolved,
    diff_ids: &[String],
    chains: &[String],
    todo: &[usize],
    progress: &dyn PullProgress,
) -> Result<()> {
    let bars: Vec<_> = todo
        .iter()
        .map(|&i| {
            let l = &resolved.layers[i];
            progress.layer(&short(&l.digest.to_string()), l.size)
        })
        .collect();
    crate::pool::run_each(PARALLEL_LAYERS, todo.len(), |k| {
        let (i, bar) = (todo[k], &bars[k]);
        bar.state("Downloading");
        let result = fetch_layer(
            store,
            client,
            reference,
            &resolved.layers[i],
            &diff_ids[i],
            &chains[i],
            |r| Counting {
                inner: r,
                progress: bar.as_ref(),
            },
        );
        bar.finish(if result.is_ok() {
            "Pull complete"
        } else {
            "Failed"
        });
        result
    })
}

/// Keeps a copy of what passes through: the compressed blob, written to
/// the store while it is unpacked.
struct Tee<R> {
    inner: R,
    copy: pocky_store::BlobWriter,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        io::Write::write_all(&mut self.copy, &buf[..n])?;
        Ok(n)
    }
}

fn fetch_layer<W, R>(
    store: &Store,
    client: &Client,
    reference: &Reference,
    layer: &LayerDescriptor,
    diff_id: &str,
    chain_id: &str,
    wrap: W,
) -> Result<()>
where
    W: FnOnce(pocky_registry::BlobReader) -> R,
    R: Read + Send,
{
    let ctx = || format!("layer {}", layer.digest);
    let blob = client
        .open_blob(reference, &layer.digest, layer.size)
        .with_context(ctx)?;
    // The blob reader checks the digest at its end, before any commit
    // below: the copy need not hash the bytes a second time.
    let mut reader = Tee {
        inner: wrap(blob),
        copy: store.blob_writer_verified()?,
    };
    let digest = layer.digest.to_string();
    if store.has_layer(chain_id)? {
        io::copy(&mut reader, &mut io::sink()).with_context(ctx)?;
        reader.copy.commit(store, Some(&digest))?;
        return Ok(());
    }
    let (staging, unpacked) = crate::storage::unpack(store, &mut reader).with_context(ctx)?;
    // The digest of the compressed blob is checked when its reader reaches
    // the end; the decompressor may stop short of it.
    io::copy(&mut reader, &mut io::sink()).with_context(ctx)?;
    reader.copy.commit(store, Some(&digest))?;
    if unpacked.diff_id != diff_id {
        bail!(
            "layer {}: content hashes to {} but the image config says {diff_id}",
            layer.digest,
            unpacked.diff_id
        );
    }
    debug!(
        "layer {} unpacked: {} entries, {} bytes",
        layer.digest, unpacked.entries, unpacked.file_bytes
    );
    store.commit_layer(
        staging,
        &LayerRecord {
            chain_id: chain_id.to_owned(),
            diff_id: diff_id.to_owned(),
            size: unpacked.file_bytes,
        },
    )?;
    Ok(())
}
