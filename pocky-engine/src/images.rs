//! Removing images (`rmi`): untag while other tags remain, delete the
//! record when none do (its layers go at the next collection), as Docker.

use pocky_store::{ImageStore, Store, StoreError};

use crate::lookup::{self, Named};
use crate::{Error, Result, conflict};

/// One line of what `rmi` did, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Untagged(String),
    Deleted(String),
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removal::Untagged(t) => write!(f, "Untagged: {t}"),
            Removal::Deleted(id) => write!(f, "Deleted: {id}"),
        }
    }
}

/// Removes the image `name` (a tag, digest or id); `force` removes an
/// image with several tags, and only untags one that containers use.
pub fn remove(store: &Store, name: &str, force: bool) -> Result<Vec<Removal>> {
    let (image, named) = match lookup::find(store, name) {
        Err(Error::BrokenImage { id, .. }) => {
            crate::broken::remove_image(store, &id)?;
            crate::events::object(store, "image", "delete", &id, &id);
            return Ok(vec![Removal::Deleted(id)]);
        }
        Err(e) => return Err(e),
        Ok(found) => found,
    };
    let untagged = |tags: &[String]| -> Vec<Removal> {
        tags.iter()
            .map(|t| {
                crate::events::object(store, "image", "untag", &image.id, t);
                Removal::Untagged(familiar_tag(t))
            })
            .collect()
    };
    if let Named::Tag(tag) = &named
        && image.repo_tags.len() > 1
    {
        store.untag_image(&image.id, tag)?;
        return Ok(untagged(std::slice::from_ref(tag)));
    }
    if image.repo_tags.len() > 1 && !force {
        return Err(conflict!(
            "conflict: unable to delete {} (must be forced): image is referenced in multiple repositories",
            image.short_id()
        ));
    }
    match store.remove_image(&image.id) {
        Err(StoreError::ImageInUse { .. }) if force => {
            // As Docker: the tags go, the image stays for its containers.
            store.untag_all(&image.id)?;
            return Ok(untagged(&image.repo_tags));
        }
        other => other?,
    }
    let mut done = untagged(&image.repo_tags);
    done.extend(
        image
            .repo_digests
            .iter()
            .map(|d| Removal::Untagged(lookup::familiar_digest(d))),
    );
    crate::events::object(store, "image", "delete", &image.id, &image.id);
    done.push(Removal::Deleted(image.id.clone()));
    Ok(done)
}

/// `rmi --platform P NAME`: only P's image of the name. A tag names one
/// image in pocky's store (a pull for another platform moves the tag, and
/// the image it left keeps the repository's digest, untagged), so a name
/// has several platforms' images when earlier pulls left such ones:
/// the tagged image goes when it is P's, else the untagged images pulled
/// from the same repository that are P's. None of P's is an error naming
/// what the name is.
pub fn remove_platform(
    store: &Store,
    name: &str,
    platform: &pocky_registry::Platform,
    force: bool,
) -> Result<Vec<Removal>> {
    let (image, named) = lookup::find(store, name)?;
    let is_wanted = |platform_of: &str| {
        pocky_registry::Platform::parse(platform_of).is_ok_and(|have| platform.matches(&have))
    };
    if is_wanted(&image.platform) {
        return remove(store, name, force);
    }
    let repository = match named {
        Named::Id => None,
        Named::Tag(_) | Named::Digest => pocky_registry::Reference::parse(name)
            .ok()
            .map(|r| format!("{}/{}@", r.registry, r.repository)),
    };
    let others: Vec<String> = match &repository {
        None => Vec::new(),
        Some(repo) => store
            .images()?
            .into_iter()
            .filter(|i| i.repo_tags.is_empty() && is_wanted(&i.platform))
            .filter(|i| i.repo_digests.iter().any(|d| d.starts_with(repo.as_str())))
            .map(|i| i.id)
            .collect(),
    };
    if others.is_empty() {
        return Err(Error::NotFound(format!(
            "image {name} has no {platform} image here (it is {})",
            image.platform
        )));
    }
    let mut done = Vec::new();
    for id in others {
        done.extend(remove(store, &id, force)?);
    }
    Ok(done)
}

fn familiar_tag(canonical: &str) -> String {
    let (repo, tag) = lookup::familiar(canonical);
    format!("{repo}:{tag}")
}
