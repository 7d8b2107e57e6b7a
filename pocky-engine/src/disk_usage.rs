//! What the store holds and what of it is in use, as Docker's `system df`
//! counts it: images (with the layers they share), containers' writable
//! layers, local volumes, and the build cache (the images of build
//! steps). For `pocky system df` and the API's `/system/df`.

use std::collections::{BTreeMap, BTreeSet};

use pocky_store::{
    ContainerRecord, ContainerStore, ImageRecord, ImageStore, LayerStore, Status, Store,
    VolumeRecord,
};

use crate::Result;

/// An image with what `df -v` tells of it.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub image: ImageRecord,
    /// Bytes of its layers that other images use too.
    pub shared_size: u64,
    /// Containers made from it.
    pub containers: usize,
}

impl ImageUsage {
    pub fn unique_size(&self) -> u64 {
        self.image.size.saturating_sub(self.shared_size)
    }
}

#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub record: ContainerRecord,
    /// The writable layer.
    pub size_rw: u64,
    /// That and the image.
    pub size_root_fs: u64,
    /// Volumes it mounts.
    pub volumes: usize,
}

impl ContainerUsage {
    pub fn running(&self) -> bool {
        self.record.state.status == Some(Status::Running)
    }
}

#[derive(Debug, Clone)]
pub struct VolumeUsage {
    pub volume: VolumeRecord,
    /// Containers that use it.
    pub links: usize,
    pub size: u64,
}

/// One build step's image: its own layer is the cache's.
#[derive(Debug, Clone)]
pub struct CacheUsage {
    pub image: ImageRecord,
    /// Its top layer, unless an image (a build's result) uses that too:
    /// then it is `shared` and counted with the images.
    pub size: u64,
    pub shared: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Every layer of the images, each counted once.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
    pub volumes: Vec<VolumeUsage>,
    pub build_cache: Vec<CacheUsage>,
}

impl DiskUsage {
    /// Docker's reclaimable image bytes: all the layers but the unique
    /// part of images that containers use.
    pub fn images_reclaimable(&self) -> u64 {
        let used: u64 = self
            .images
            .iter()
            .filter(|i| i.containers > 0)
            .map(ImageUsage::unique_size)
            .sum();
        self.layers_size.saturating_sub(used)
    }
}

pub fn disk_usage(store: &Store) -> Result<DiskUsage> {
    let all = store.images()?;
    let (steps, images): (Vec<ImageRecord>, Vec<ImageRecord>) =
        all.into_iter().partition(|i| i.build_step);
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for i in images.iter().chain(&steps) {
        for c in &i.chain_ids {
            if !sizes.contains_key(c) {
                // A layer whose record cannot be read counts as empty.
                let size = store.layer_record(c).map_or(0, |l| l.size);
                sizes.insert(c.clone(), size);
            }
        }
    }
    for i in &images {
        for c in i.chain_ids.iter().collect::<BTreeSet<_>>() {
            *users.entry(c.clone()).or_default() += 1;
        }
    }
    let layers_size = users
        .keys()
        .map(|c| sizes.get(c).copied().unwrap_or(0))
        .sum();
    let mut containers = Vec::new();
    let mut per_image: BTreeMap<String, usize> = BTreeMap::new();
    for rec in store.containers()? {
        let Some(rec) = crate::state::refresh_listed(store, rec)? else {
            continue;
        };
        *per_image.entry(rec.image_id.clone()).or_default() += 1;
        let (size_rw, size_root_fs) = crate::inspect::sizes(store, &rec).unwrap_or((0, 0));
        let volumes = store.container_volumes(&rec.id).map_or(0, |v| v.len());
        containers.push(ContainerUsage {
            record: rec,
            size_rw,
            size_root_fs,
            volumes,
        });
    }
    let images = images
        .into_iter()
        .map(|image| {
            let shared_size = image
                .chain_ids
                .iter()
                .filter(|c| users.get(*c).is_some_and(|n| *n > 1))
                .map(|c| sizes.get(c).copied().unwrap_or(0))
                .sum();
            ImageUsage {
                containers: per_image.get(&image.id).copied().unwrap_or(0),
                shared_size,
                image,
            }
        })
        .collect();
    let build_cache = steps
        .into_iter()
        .map(|image| {
            let top = image.chain_ids.last();
            let shared = top.is_some_and(|c| users.contains_key(c));
            let size = match (top, shared) {
                (Some(c), false) => sizes.get(c).copied().unwrap_or(0),
                _ => 0,
            };
            CacheUsage {
                image,
                size,
                shared,
            }
        })
        .collect();
    let links = store.volume_users()?;
    let mut volumes = Vec::new();
    for volume in store.volumes()? {
        let size = store
            .volume_data_dir(&volume.name)
            .map_or(0, |d| crate::prune::tree_size(&d));
        volumes.push(VolumeUsage {
            links: links.get(&volume.name).map_or(0, Vec::len),
            size,
            volume,
        });
    }
    Ok(DiskUsage {
        layers_size,
        images,
        containers,
        volumes,
        build_cache,
    })
}
