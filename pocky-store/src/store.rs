use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic::{remove_stale_temps, write_atomic};
use crate::digest::sha256_hex;
use crate::error::{Result, StoreError};
use crate::images::{BrokenImage, ImageQuery, ImageRecord, ImageStore};
use crate::layers::{LayerPath, LayerRecord, LayerStore, StorageDriver};
use crate::layout::Layout;
use crate::lock::FileLock;
use crate::staging::{self, Staging};

/// Handle on a state root. Cheap to open; every command opens one.
#[derive(Clone, Debug)]
pub struct Store {
    layout: Layout,
}

impl Store {
    /// Opens (creating if needed) the state under `root` and removes what
    /// killed processes left behind.
    pub fn open(root: &Path) -> Result<Store> {
        let layout = Layout::new(root);
        for dir in [
            layout.root().to_owned(),
            layout.tmp(),
            layout.blobs(),
            layout.layers(),
            layout.images(),
        ] {
            fs::create_dir_all(&dir).map_err(StoreError::io("creating", &dir))?;
        }
        owner_only(layout.root())?;
        let store = Store { layout };
        staging::clean(&store.layout.tmp())?;
        Ok(store)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The lock that serialises changes to records.
    pub fn lock(&self) -> Result<FileLock> {
        let lock = FileLock::exclusive(&self.layout.state_lock())?;
        remove_stale_temps(&self.layout.images())?;
        Ok(lock)
    }

    /// Held (shared) by a pull from its first download until its record is
    /// written, so a concurrent collection cannot delete its fresh layers.
    pub fn pin(&self) -> Result<FileLock> {
        FileLock::shared(&self.layout.root().join("gc.lock"))
    }

    pub(crate) fn gc_lock(&self) -> Result<Option<FileLock>> {
        FileLock::try_exclusive(&self.layout.root().join("gc.lock"))
    }

    pub(crate) fn blob_file(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.layout.blobs().join(sha256_hex(digest)?))
    }

    /// Stores a small blob (manifest, config) after checking its digest.
    pub fn put_blob(&self, digest: &str, data: &[u8]) -> Result<()> {
        let path = self.blob_file(digest)?;
        let actual = crate::sha256_of(data);
        if actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.to_owned(),
                actual,
            });
        }
        if path.exists() {
            return Ok(());
        }
        write_atomic(&path, data)
    }

    pub fn get_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_file(digest)?;
        fs::read(&path).map_err(StoreError::io("reading", &path))
    }

    pub(crate) fn blob_digests(&self) -> Result<Vec<String>> {
        list_names(&self.layout.blobs()).map(|names| {
            names
                .into_iter()
                .filter(|n| sha256_hex(&format!("sha256:{n}")).is_ok())
                .map(|n| format!("sha256:{n}"))
                .collect()
        })
    }

    fn image_path(&self, id: &str) -> Result<PathBuf> {
        Ok(self
            .layout
            .images()
            .join(format!("{}.json", sha256_hex(id)?)))
    }

    fn read_image(&self, id: &str) -> Result<ImageRecord> {
        let path = self.image_path(id)?;
        let data = fs::read(&path).map_err(|_| StoreError::NoSuchImage(id.to_owned()))?;
        serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt { path, source })
    }

    fn write_image(&self, rec: &ImageRecord) -> Result<()> {
        let data = serde_json::to_vec_pretty(rec).map_err(|source| StoreError::Corrupt {
            path: self.image_path(&rec.id).unwrap_or_default(),
            source,
        })?;
        write_atomic(&self.image_path(&rec.id)?, &data)
    }

    /// Every image record: readable ones, and why the others are not.
    fn scan_images(&self) -> Result<(Vec<ImageRecord>, Vec<BrokenImage>)> {
        let dir = self.layout.images();
        let mut good = Vec::new();
        let mut broken = Vec::new();
        for name in list_names(&dir)? {
            let Some(hex) = name.strip_suffix(".json") else {
                continue;
            };
            let id = format!("sha256:{hex}");
            if sha256_hex(&id).is_err() {
                continue;
            }
            let path = dir.join(&name);
            let data = match fs::read(&path) {
                Ok(d) => d,
                // Removed by a concurrent rmi between listing and reading.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    broken.push(BrokenImage {
                        id,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            match serde_json::from_slice::<ImageRecord>(&data) {
                // A record must be what its name says, or lookups by id lie.
                Ok(rec) if rec.id == id => good.push(rec),
                Ok(rec) => broken.push(BrokenImage {
                    id,
                    reason: format!("it holds image {}", rec.id),
                }),
                Err(e) => broken.push(BrokenImage {
                    id,
                    reason: e.to_string(),
                }),
            }
        }
        good.sort_by(|a: &ImageRecord, b| b.pulled.cmp(&a.pulled).then(a.id.cmp(&b.id)));
        broken.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((good, broken))
    }

    fn layer_dir(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.layout.layers().join(sha256_hex(chain_id)?))
    }

    pub(crate) fn layer_ids(&self) -> Result<Vec<String>> {
        list_names(&self.layout.layers())
            .map(|names| names.into_iter().map(|n| format!("sha256:{n}")).collect())
    }

    pub(crate) fn remove_layer(&self, chain_id: &str) -> Result<()> {
        let dir = self.layer_dir(chain_id)?;
        // The lock pocky-fs takes to mount the image: no start mounts it
        // again between the unmount and the rename.
        let _held = fs::File::open(&dir)
            .ok()
            .and_then(|d| nix::fcntl::Flock::lock(d, nix::fcntl::FlockArg::LockExclusive).ok());
        staging::unmount_layer_image(&dir);
        staging::remove_tree(&self.layout.tmp(), &dir)
    }

    pub(crate) fn remove_blob(&self, digest: &str) -> Result<()> {
        let path = self.blob_file(digest)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io("removing", &path)(e))
            }
            _ => Ok(()),
        }
    }
}

/// Closes the state root to all but its owner. It holds images' and
/// containers' files as they are, setuid binaries included (unpacked
/// layers, mounted layer images, writable layers, volumes): entered by
/// another user, any of those would run with its owner's ids on the host.
/// Docker's root is 0710, podman's storage 0700.
fn owner_only(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(root).map_err(StoreError::io("reading", root))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    fs::set_permissions(root, fs::Permissions::from_mode(mode & 0o700))
        .map_err(StoreError::io("restricting the permissions of", root))
}

/// Names in `dir` but hidden ones (temp files); a missing `dir` is empty.
pub(crate) fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(StoreError::io("listing", dir)(e)),
    };
    Ok(entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect())
}

impl ImageStore for Store {
    fn put_image(&self, record: &ImageRecord) -> Result<()> {
        let _lock = self.lock()?;
        let mut merged = record.clone();
        for mut other in self.images()? {
            if other.id == record.id {
                other.absorb(record);
                merged = other;
                continue;
            }
            let before = other.repo_tags.len();
            other.repo_tags.retain(|t| !record.repo_tags.contains(t));
            if other.repo_tags.len() != before {
                self.write_image(&other)?;
            }
        }
        self.write_image(&merged)
    }

    fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.scan_images()?.0)
    }

    fn broken_images(&self) -> Result<Vec<BrokenImage>> {
        Ok(self.scan_images()?.1)
    }

    fn remove_broken_image(&self, id: &str) -> Result<bool> {
        let _lock = self.lock()?;
        if self.read_image(id).is_ok() {
            return Ok(false);
        }
        let path = self.image_path(id)?;
        match fs::remove_file(&path) {
            Ok(()) => crate::atomic::sync_dir(&self.layout.images())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("removing", &path)(e)),
        }
        Ok(true)
    }

    fn find_image(&self, query: &ImageQuery) -> Result<ImageRecord> {
        let (images, broken) = self.scan_images()?;
        if let ImageQuery::IdPrefix(p) = query {
            let hex = p.strip_prefix("sha256:").unwrap_or(p);
            let hit: Vec<_> = broken
                .iter()
                .filter(|b| !hex.is_empty() && b.id["sha256:".len()..].starts_with(hex))
                .collect();
            if let [b] = hit[..]
                && !images
                    .iter()
                    .any(|i| i.id["sha256:".len()..].starts_with(hex))
            {
                return Err(StoreError::BrokenImage {
                    id: b.id.clone(),
                    reason: b.reason.clone(),
                });
            }
        }
        let (matches, what): (Vec<_>, &str) = match query {
            ImageQuery::Tag(t) => (
                images
                    .into_iter()
                    .filter(|i| i.repo_tags.contains(t))
                    .collect(),
                t,
            ),
            ImageQuery::Digest(d) => (
                images
                    .into_iter()
                    .filter(|i| i.repo_digests.contains(d))
                    .collect(),
                d,
            ),
            ImageQuery::IdPrefix(p) => {
                let hex = p.strip_prefix("sha256:").unwrap_or(p);
                let ok =
                    !hex.is_empty() && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                let found = images
                    .into_iter()
                    .filter(|i| ok && i.id["sha256:".len()..].starts_with(hex))
                    .collect();
                (found, p)
            }
        };
        match matches.len() {
            0 => Err(StoreError::NoSuchImage(what.to_owned())),
            1 => Ok(matches.into_iter().next().unwrap_or_else(|| unreachable!())),
            count => Err(StoreError::Ambiguous {
                query: what.to_owned(),
                count,
            }),
        }
    }

    fn untag_all(&self, id: &str) -> Result<ImageRecord> {
        let _lock = self.lock()?;
        let mut rec = self.read_image(id)?;
        rec.repo_tags.clear();
        rec.repo_digests.clear();
        self.write_image(&rec)?;
        Ok(rec)
    }

    fn untag_image(&self, id: &str, tag: &str) -> Result<ImageRecord> {
        let _lock = self.lock()?;
        let mut rec = self.read_image(id)?;
        rec.repo_tags.retain(|t| t != tag);
        let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
        if !rec
            .repo_tags
            .iter()
            .any(|t| t.starts_with(&format!("{repo}:")))
        {
            rec.repo_digests
                .retain(|d| !d.starts_with(&format!("{repo}@")));
        }
        self.write_image(&rec)?;
        Ok(rec)
    }

    fn remove_image(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let path = self.image_path(id)?;
        if let Some(c) = crate::ContainerStore::containers(self)?
            .into_iter()
            .find(|c| c.image_id == id)
        {
            return Err(StoreError::ImageInUse {
                image: id.to_owned(),
                container: c.id[..12].to_owned(),
            });
        }
        match fs::remove_file(&path) {
            Ok(()) => crate::atomic::sync_dir(&self.layout.images()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NoSuchImage(id.to_owned()))
            }
            Err(e) => Err(StoreError::io("removing", &path)(e)),
        }
    }
}

impl LayerStore for Store {
    fn has_layer(&self, chain_id: &str) -> Result<bool> {
        Ok(self.layer_dir(chain_id)?.join("layer.json").exists())
    }

    fn layer(&self, chain_id: &str) -> Result<LayerPath> {
        let dir = self.layer_dir(chain_id)?;
        let image = dir.join(crate::layers::IMAGE_NAME);
        // One stat per layer per start: the form is the file's presence.
        Ok(match fs::symlink_metadata(&image) {
            Ok(m) if m.is_file() => LayerPath::Erofs(image),
            _ => LayerPath::Dir(dir.join("diff")),
        })
    }

    fn layer_record(&self, chain_id: &str) -> Result<LayerRecord> {
        let path = self.layer_dir(chain_id)?.join("layer.json");
        let data = fs::read(&path).map_err(StoreError::io("reading", &path))?;
        serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt { path, source })
    }

    fn stage_layer(&self, driver: StorageDriver) -> Result<Staging> {
        let staging = Staging::new(&self.layout.tmp())?;
        // An EROFS layer gets the directory each container's namespace
        // mounts it on (pocky-fs's `LAYER_MOUNT_DIR`), made once here
        // rather than at every start.
        let dir = match driver {
            StorageDriver::Overlay => crate::staging_diff_dir(&staging),
            StorageDriver::Erofs => staging.path().join("mnt"),
        };
        fs::create_dir(&dir).map_err(StoreError::io("creating", &dir))?;
        Ok(staging)
    }

    fn commit_layer(&self, staging: Staging, record: &LayerRecord) -> Result<bool> {
        let dest = self.layer_dir(&record.chain_id)?;
        let data = serde_json::to_vec_pretty(record).map_err(|source| StoreError::Corrupt {
            path: dest.clone(),
            source,
        })?;
        write_atomic(&staging.path().join("layer.json"), &data)?;
        let moved = staging.commit_to(&dest)?;
        crate::atomic::sync_dir(&self.layout.layers())?;
        Ok(moved)
    }
}
