//! `tag`, `history` and `image prune`: the image operations that only read
//! or rewrite records.

use pocky_registry::Reference;
use pocky_store::{ContainerStore, ImageRecord, ImageStore, Store};
use serde_json::Value;

use crate::{Result, invalid, lookup};

/// Gives the image `source` the name `target` (`repo[:tag]`, no digest);
/// the name moves away from any image that had it, as in Docker.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<ImageRecord> {
    let (image, _) = lookup::find(store, source)?;
    let canonical = canonical_tag(target)?;
    let mut named = image.clone();
    named.repo_tags = vec![canonical.clone()];
    named.repo_digests.clear();
    store.put_image(&named)?;
    crate::events::object(store, "image", "tag", &image.id, &canonical);
    Ok(lookup::find(store, &image.id)?.0)
}

/// `registry/repository:tag` of a name a user gives a new image.
pub fn canonical_tag(target: &str) -> Result<String> {
    let r = Reference::parse(target).map_err(|e| invalid!("{e}"))?;
    if r.digest.is_some() {
        return Err(invalid!(
            "refusing to create a tag with a digest reference: {target}"
        ));
    }
    Ok(format!(
        "{}/{}:{}",
        r.registry,
        r.repository,
        r.tag_or_latest()
    ))
}

/// One line of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top line, `<missing>` for the others (pocky,
    /// like Docker after a pull, keeps no intermediate images).
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    /// Bytes the step's layer adds; 0 for a step that made none.
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
    /// On the top line: the image's tags.
    pub tags: Vec<String>,
}

/// The image config's history, each step matched with its layer.
pub fn history(store: &Store, name: &str) -> Result<Vec<HistoryEntry>> {
    let (image, _) = lookup::find(store, name)?;
    let config: Value = serde_json::from_slice(&store.get_blob(&image.id)?)
        .map_err(|e| crate::Error::Internal(anyhow::anyhow!("image {}: {e}", image.id)))?;
    let steps = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut layers = image.chain_ids.iter();
    let mut out = Vec::new();
    for step in &steps {
        let text = |k: &str| step.get(k).and_then(Value::as_str).map(str::to_owned);
        let empty = step
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = match empty {
            false => layers.next().map_or(0, |chain| {
                crate::pull::layer_size(store, chain).unwrap_or(0)
            }),
            true => 0,
        };
        out.push(HistoryEntry {
            id: "<missing>".to_owned(),
            created: text("created"),
            created_by: text("created_by").unwrap_or_default(),
            size,
            comment: text("comment").unwrap_or_default(),
            empty_layer: empty,
            tags: vec![],
        });
    }
    // Layers the history does not account for (an image made by a tool
    // that writes no history) still show, as Docker shows them.
    for chain in layers {
        out.push(HistoryEntry {
            id: "<missing>".to_owned(),
            created: image.created.clone(),
            created_by: String::new(),
            size: crate::pull::layer_size(store, chain).unwrap_or(0),
            comment: String::new(),
            empty_layer: false,
            tags: vec![],
        });
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id.clone_from(&image.id);
        top.tags.clone_from(&image.repo_tags);
    }
    Ok(out)
}

/// What `image prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImagePrune {
    /// Docker's `Untagged:`/`Deleted:` lines.
    pub removed: Vec<crate::images::Removal>,
    pub reclaimed: u64,
}

/// Removes images no container uses: the untagged ones, or with `all`
/// every one. `keep` filters as `images --filter` does (`label`,
/// `until` is left to the caller).
pub fn prune_images(
    store: &Store,
    all: bool,
    keep: &dyn Fn(&ImageRecord) -> bool,
) -> Result<ImagePrune> {
    let used: std::collections::HashSet<String> = store
        .containers()?
        .into_iter()
        .map(|c| c.image_id)
        .collect();
    let mut out = ImagePrune::default();
    for image in store.images()? {
        if used.contains(&image.id) || (!all && !image.repo_tags.is_empty()) || !keep(&image) {
            continue;
        }
        match crate::images::remove(store, &image.id, true) {
            Ok(done) => {
                out.reclaimed += image.size;
                out.removed.extend(done);
            }
            // Gone meanwhile (a concurrent rmi), or taken by a new container.
            Err(crate::Error::NoSuchImage(_) | crate::Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    store.collect_garbage()?;
    Ok(out)
}
