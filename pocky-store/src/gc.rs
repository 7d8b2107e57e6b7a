use std::collections::HashSet;

use crate::error::Result;
use crate::images::ImageStore;
use crate::store::Store;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    pub layers: Vec<String>,
    pub blobs: Vec<String>,
    /// False when nothing was collected this time: a pull was in flight,
    /// or an unreadable image record left its layers unknown.
    pub ran: bool,
}

impl Store {
    /// Removes layers and blobs no image refers to. Skipped (returns
    /// `ran: false`) while a pull holds its [`Store::pin`].
    pub fn collect_garbage(&self) -> Result<Collected> {
        let Some(_gc) = self.gc_lock()? else {
            return Ok(Collected::default());
        };
        let _lock = self.lock()?;
        let images = self.images()?;
        let mut layers: HashSet<String> = images
            .iter()
            .flat_map(|i| i.chain_ids.iter().cloned())
            .collect();
        let mut blobs: HashSet<String> = images
            .iter()
            .flat_map(|i| [i.id.clone(), i.manifest_digest.clone()])
            .collect();
        // A layer blob belongs to every image whose manifest lists it; a
        // manifest that cannot be read leaves its blobs unknown, so then
        // no blob is collected.
        let mut blobs_known = true;
        for i in &images {
            match self.layer_blobs_of_manifest(&i.manifest_digest) {
                Some(layer_blobs) => blobs.extend(layer_blobs),
                None => blobs_known = false,
            }
        }
        // An unreadable record still owns its layers (a container may run
        // on them): they are found from its config blob, and if that is
        // unreadable too, no layer is collected until the record is gone.
        for b in self.broken_images()? {
            match self.layers_of_config(&b.id) {
                Some(chain) => layers.extend(chain),
                None => return Ok(Collected::default()),
            }
            blobs.insert(b.id);
        }
        let mut out = Collected {
            ran: true,
            ..Collected::default()
        };
        for id in self.layer_ids()? {
            if !layers.contains(&id) {
                self.remove_layer(&id)?;
                out.layers.push(id);
            }
        }
        for d in self.blob_digests()? {
            if blobs_known && !blobs.contains(&d) {
                self.remove_blob(&d)?;
                out.blobs.push(d);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// The layer digests a stored manifest lists.
    fn layer_blobs_of_manifest(&self, digest: &str) -> Option<Vec<String>> {
        let bytes = self.get_blob(digest).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("layers")?
            .as_array()?
            .iter()
            .map(|l| l.get("digest")?.as_str().map(str::to_owned))
            .collect()
    }

    /// The chain ids an image config names, when its blob can be read.
    fn layers_of_config(&self, config_digest: &str) -> Option<Vec<String>> {
        let bytes = self.get_blob(config_digest).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let diff_ids: Vec<String> = v
            .pointer("/rootfs/diff_ids")?
            .as_array()?
            .iter()
            .map(|d| d.as_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        Some(crate::chain_ids(&diff_ids))
    }
}
