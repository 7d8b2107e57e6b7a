//! A step's filesystem outside any container: the parent image's layers
//! under a fresh upper directory, mounted by a forked child in a mount
//! namespace of its own (the caller's mount table never changes), handed
//! back as a descriptor of its root. What the step writes through it
//! lands in the upper directory, which becomes the layer.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use anyhow::Context;
use pocky_fs::rootfs::{Lower, Overlay};
use pocky_store::{ImageRecord, Staging, Store};

use crate::image_store::LayerBlob;

pub(super) struct Workspace {
    /// `O_PATH` descriptor of the mounted root.
    pub root: OwnedFd,
    upper: PathBuf,
    _scratch: Staging,
}

impl Workspace {
    /// Mounts `image`'s layers (none: an empty root, for scratch).
    pub fn mount(store: &Store, image: Option<&ImageRecord>) -> crate::Result<Workspace> {
        let scratch = store.scratch()?;
        let dir = scratch.path();
        for sub in ["upper", "work", "merged", "empty", "l"] {
            std::fs::create_dir(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let mut lowers = match image {
            Some(i) => crate::storage::lowers(store, i)?,
            None => Vec::new(),
        };
        if lowers.is_empty() {
            lowers.push(Lower::Dir(dir.join("empty")));
        }
        let overlay = Overlay {
            lowers,
            upper: dir.join("upper"),
            work: dir.join("work"),
            links: Some(dir.join("l")),
            // A step's upper layer is packed into a layer or thrown away:
            // nothing in it needs to reach the disk on its own.
            volatile: true,
        };
        let root = crate::copy::root::mount_in_child(&overlay, &dir.join("merged"))
            .context("mounting the build step's filesystem")?;
        Ok(Workspace {
            root,
            upper: overlay.upper,
            _scratch: scratch,
        })
    }

    /// Unmounts (by closing the last descriptor) and packs the changes.
    pub fn finish(self, store: &Store) -> crate::Result<(LayerBlob, String)> {
        let Workspace {
            root,
            upper,
            _scratch,
        } = self;
        drop(root);
        Ok(crate::commit::pack_changes(store, &upper, &[])?)
    }
}
