use serde::{Deserialize, Serialize};

/// An image in the store. Its id is the digest of its config, as in Docker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// Canonical references, e.g. `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// `repository@manifest-digest`, one per repository it was pulled from.
    pub repo_digests: Vec<String>,
    pub manifest_digest: String,
    pub diff_ids: Vec<String>,
    pub chain_ids: Vec<String>,
    /// Bytes of unpacked file content, as `docker images` reports.
    pub size: u64,
    /// The config's `created`, RFC 3339, when it has one.
    pub created: Option<String>,
    /// Seconds since the epoch when the image was stored.
    pub pulled: u64,
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// An image a build made for one of its steps (the build cache's), not
    /// one it was asked for: `images` lists it only with `-a`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_step: bool,
}

impl ImageRecord {
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// Merges another pull of the same image: tags and digests accumulate.
    pub(crate) fn absorb(&mut self, other: &ImageRecord) {
        for t in &other.repo_tags {
            if !self.repo_tags.contains(t) {
                self.repo_tags.push(t.clone());
            }
        }
        for d in &other.repo_digests {
            if !self.repo_digests.contains(d) {
                self.repo_digests.push(d.clone());
            }
        }
        self.manifest_digest.clone_from(&other.manifest_digest);
        // Built or tagged as a result: no longer only a step of a build.
        self.build_step &= other.build_step;
    }
}

/// How a user may name an image on the command line, already normalised by
/// the caller (the store knows nothing of registry reference syntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageQuery {
    /// A canonical `repository:tag`.
    Tag(String),
    /// A canonical `repository@sha256:...` (manifest digest).
    Digest(String),
    /// A full id or a unique prefix of one, with or without `sha256:`.
    IdPrefix(String),
}

/// An image record that cannot be read. Listings skip and report it; its
/// id (the file's name) still finds it for `rmi`, and a pull of the same
/// image writes a good record over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenImage {
    /// `sha256:<hex>`.
    pub id: String,
    pub reason: String,
}

/// Image records, guarded by the store's lock.
pub trait ImageStore {
    /// Stores a record; its tags move away from any image that had them.
    fn put_image(&self, record: &ImageRecord) -> crate::Result<()>;
    /// The readable records; see [`ImageStore::broken_images`].
    fn images(&self) -> crate::Result<Vec<ImageRecord>>;
    fn broken_images(&self) -> crate::Result<Vec<BrokenImage>>;
    /// Deletes a broken record if it is still unreadable; false (nothing
    /// removed) when it has become readable.
    fn remove_broken_image(&self, id: &str) -> crate::Result<bool>;
    /// Finds one image; several matches of an id prefix are an error, and
    /// an id prefix of a broken record is [`crate::StoreError::BrokenImage`].
    fn find_image(&self, query: &ImageQuery) -> crate::Result<ImageRecord>;
    /// Removes one tag; returns the record as it is afterwards.
    fn untag_image(&self, id: &str, tag: &str) -> crate::Result<ImageRecord>;
    /// Removes every tag and digest: the image stays, dangling.
    fn untag_all(&self, id: &str) -> crate::Result<ImageRecord>;
    /// Deletes the record; layers and blobs go at the next collection.
    /// Refused while a container uses the image.
    fn remove_image(&self, id: &str) -> crate::Result<()>;
}
