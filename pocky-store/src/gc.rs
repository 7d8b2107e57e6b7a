use std::collections::HashSet;

use crate::error::Result;
use crate::images::ImageStore;
use crate::store::Store;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    pub layers: Vec<String>,
    pub blobs: Vec<String>,
    /// False when a pull was in flight, so nothing was collected this time.
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
        let layers: HashSet<&str> = images
            .iter()
            .flat_map(|i| i.chain_ids.iter().map(String::as_str))
            .collect();
        let blobs: HashSet<&str> = images
            .iter()
            .flat_map(|i| [i.id.as_str(), i.manifest_digest.as_str()])
            .collect();
        let mut out = Collected {
            ran: true,
            ..Collected::default()
        };
        for id in self.layer_ids()? {
            if !layers.contains(id.as_str()) {
                self.remove_layer(&id)?;
                out.layers.push(id);
            }
        }
        for d in self.blob_digests()? {
            if !blobs.contains(d.as_str()) {
                self.remove_blob(&d)?;
                out.blobs.push(d);
            }
        }
        Ok(out)
    }
}
