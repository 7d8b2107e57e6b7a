use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Result, StoreError};
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
        out.layers = self
            .layer_ids()?
            .into_iter()
            .filter(|id| !layers.contains(id))
            .collect();
        if blobs_known {
            out.blobs = self
                .blob_digests()?
                .into_iter()
                .filter(|d| !blobs.contains(d))
                .collect();
        }
        let doomed: Vec<Doomed<'_>> = out
            .layers
            .iter()
            .map(|id| Doomed::Layer(id))
            .chain(out.blobs.iter().map(|d| Doomed::Blob(d)))
            .collect();
        each_side_by_side(&doomed, |d| match d {
            Doomed::Layer(id) => self.remove_layer(id),
            Doomed::Blob(digest) => self.remove_blob(digest),
        })?;
        Ok(out)
    }
}

enum Doomed<'a> {
    Layer(&'a str),
    Blob(&'a str),
}

/// At most this many deletions at a time.
const DELETERS: usize = 4;

/// Runs `remove` on every item, several at a time, and returns the first
/// error once all are done. Deleting a layer image or a compressed blob
/// (tens to hundreds of MB) is the kernel freeing its pages and blocks,
/// and on a disk mounted with `discard` sending each freed extent down
/// before `unlink` returns: one `rmi` of the two-layer benchmark image
/// spent 25 ms in five unlinks, one after the other, on two idle cores.
fn each_side_by_side<T: Sync>(items: &[T], remove: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicUsize::new(0);
    let worker = || -> Result<()> {
        let mut first = Ok(());
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            let done = remove(item);
            if first.is_ok() {
                first = done;
            }
        }
        first
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..items.len().min(DELETERS))
            .map(|_| s.spawn(worker))
            .collect();
        let mut first = worker();
        for h in helpers {
            let done = h.join().unwrap_or_else(|_| {
                Err(StoreError::Io {
                    op: "deleting",
                    path: PathBuf::new(),
                    source: std::io::Error::other("a deleting thread panicked"),
                })
            });
            if first.is_ok() {
                first = done;
            }
        }
        first
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_tried_and_the_first_error_comes_back() {
        let seen = std::sync::Mutex::new(Vec::new());
        let items: Vec<u32> = (0..10).collect();
        let result = each_side_by_side(&items, |i| {
            seen.lock().unwrap().push(*i);
            if *i == 3 {
                return Err(StoreError::Io {
                    op: "removing",
                    path: PathBuf::from(i.to_string()),
                    source: std::io::Error::other("no"),
                });
            }
            Ok(())
        });
        assert!(matches!(result, Err(StoreError::Io { path, .. }) if path.as_os_str() == "3"));
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, items);
        assert!(each_side_by_side(&[] as &[u32], |_| Ok(())).is_ok());
    }
}
