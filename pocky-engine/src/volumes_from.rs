//! `--volumes-from CONTAINER[:ro|rw]`: the volumes and bind mounts of
//! another container, at the same paths, read from its bundle's spec (the
//! one record of what it mounts). Its tmpfs mounts and the files pocky
//! generates (`/etc/hosts`...) are its own and stay out, as in Docker.

use std::path::Path;

use anyhow::{Result, bail};
use pocky_store::Store;

use crate::invalid;
use crate::mount_flags::{MountFlag, Source};

/// The mount flags `values` bring, in order, for targets `taken` does not
/// hold already (the container's own flags win).
pub fn flags(store: &Store, values: &[String], taken: &[MountFlag]) -> Result<Vec<MountFlag>> {
    let volumes = store.layout().volumes();
    let mut out: Vec<MountFlag> = Vec::new();
    for v in values {
        let (name, mode) = match v.rsplit_once(':') {
            Some((n, m @ ("ro" | "rw"))) => (n, Some(m == "ro")),
            Some(_) => bail!(invalid!(
                "invalid --volumes-from {v:?}: the mode is ro or rw"
            )),
            None => (v.as_str(), None),
        };
        let source = crate::state::find(store, name)?;
        let own_dir = store.container_dir(&source.id)?;
        let spec = crate::state::bundle_spec(store, &source.id)?;
        for m in spec.mounts().iter().flatten() {
            let (Some(path), Some("bind")) = (m.source(), m.typ().as_deref()) else {
                continue;
            };
            let target = m.destination().to_string_lossy().into_owned();
            if path.starts_with(&own_dir) || target == "/dev/shm" {
                continue;
            }
            if taken.iter().chain(&out).any(|f| f.target == target) {
                continue;
            }
            let opts = m.options().clone().unwrap_or_default();
            let readonly = mode.unwrap_or_else(|| opts.iter().any(|o| o == "ro"));
            out.push(MountFlag {
                source: match volume_name(path, &volumes) {
                    Some(name) => Source::Volume {
                        name: Some(name),
                        nocopy: true,
                    },
                    None => Source::Bind {
                        path: path.clone(),
                        create: false,
                    },
                },
                target,
                readonly,
                propagation: None,
            });
        }
    }
    Ok(out)
}

/// `<volumes>/<name>/_data` names volume `name`.
fn volume_name(path: &Path, volumes: &Path) -> Option<String> {
    let rest = path.strip_prefix(volumes).ok()?;
    let mut parts = rest.iter();
    let name = parts.next()?.to_str()?.to_owned();
    (parts.next()? == "_data" && parts.next().is_none()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_paths_name_their_volume() {
        let root = Path::new("/var/lib/pocky/volumes");
        assert_eq!(
            volume_name(&root.join("data/_data"), root).as_deref(),
            Some("data")
        );
        assert_eq!(volume_name(&root.join("data"), root), None);
        assert_eq!(volume_name(Path::new("/srv/data/_data"), root), None);
        assert_eq!(volume_name(&root.join("data/_data/sub"), root), None);
    }
}
