//! Turning what a user typed into an image record, as Docker does: first as
//! a reference (`busybox`, `busybox:1`, `repo@sha256:...`), then as an id or
//! a unique id prefix.

use anyhow::Result;
use pocky_registry::Reference;
use pocky_store::{ImageQuery, ImageRecord, ImageStore, Store, StoreError};

/// How the image was named, which decides what `rmi` does with it.
#[derive(Debug)]
pub enum Named {
    Tag(String),
    Digest,
    Id,
}

pub fn find(store: &Store, name: &str) -> crate::Result<(ImageRecord, Named)> {
    match find_local(store, name)? {
        Some(found) => Ok(found),
        None => Err(crate::Error::NoSuchImage(name.to_owned())),
    }
}

/// None only for a real miss: a store that cannot be read, or a record
/// that is broken, is an error, so that `run` never pulls over it.
pub fn find_local(store: &Store, name: &str) -> Result<Option<(ImageRecord, Named)>> {
    if let Ok(r) = Reference::parse(name) {
        let (query, named) = match (&r.digest, &r.tag) {
            (Some(d), _) => (
                ImageQuery::Digest(format!("{}/{}@{d}", r.registry, r.repository)),
                Named::Digest,
            ),
            (None, _) => {
                let tag = format!("{}/{}:{}", r.registry, r.repository, r.tag_or_latest());
                (ImageQuery::Tag(tag.clone()), Named::Tag(tag))
            }
        };
        match store.find_image(&query) {
            Ok(rec) => return Ok(Some((rec, named))),
            Err(StoreError::NoSuchImage(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if is_id_prefix(name) {
        match store.find_image(&ImageQuery::IdPrefix(name.to_owned())) {
            Ok(rec) => return Ok(Some((rec, Named::Id))),
            Err(StoreError::NoSuchImage(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

fn is_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `busybox:latest` for `docker.io/library/busybox:latest`.
pub fn familiar(canonical: &str) -> (String, String) {
    match Reference::parse(canonical) {
        Ok(r) => (r.familiar_repository(), r.tag_or_latest().to_owned()),
        Err(_) => match canonical.rsplit_once(':') {
            Some((repo, tag)) => (repo.to_owned(), tag.to_owned()),
            None => (canonical.to_owned(), "<none>".to_owned()),
        },
    }
}

/// `busybox@sha256:...` for `docker.io/library/busybox@sha256:...`.
pub fn familiar_digest(canonical: &str) -> String {
    match Reference::parse(canonical) {
        Ok(r) => match &r.digest {
            Some(d) => format!("{}@{d}", r.familiar_repository()),
            None => canonical.to_owned(),
        },
        Err(_) => canonical.to_owned(),
    }
}

/// `--platform` of push, save and history: pocky keeps one platform's
/// image under a name, so the flag selects it or fails, as Docker does for
/// a platform the image does not have.
pub fn require_platform(store: &Store, name: &str, wanted: Option<&str>) -> crate::Result<()> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let want = pocky_registry::Platform::parse(wanted).map_err(|e| crate::invalid!("{e}"))?;
    let (image, _) = find(store, name)?;
    let have = pocky_registry::Platform::parse(&image.platform)
        .map_err(|e| crate::invalid!("the image's platform: {e}"))?;
    if !want.matches(&have) {
        return Err(crate::Error::NoSuchImage(format!(
            "{name} for platform {want} (the image is for {have})"
        )));
    }
    Ok(())
}
