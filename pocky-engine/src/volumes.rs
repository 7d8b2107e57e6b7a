//! Named volumes as objects of their own: create, remove, prune. What a
//! container's `-v` does with them is `volumes_setup`'s.

use std::collections::BTreeMap;

use pocky_store::Store;

use crate::{Result, invalid};

/// Creates the volume `name` (a random one for None), or finds the
/// existing one of that name, as `docker volume create`; returns its name.
pub fn create(
    store: &Store,
    name: Option<&str>,
    driver: &str,
    labels: &[String],
) -> Result<String> {
    if driver != pocky_store::LOCAL_DRIVER {
        return Err(invalid!(
            "volume driver {driver:?} is not supported: only local"
        ));
    }
    let mut map = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(invalid!("invalid label {l:?}"));
        }
        map.insert(k.to_owned(), v.to_owned());
    }
    let name = match name {
        Some(n) => n.to_owned(),
        None => crate::create::random_id()?,
    };
    let (_, new) = store.create_volume(&name, &map)?;
    if new {
        crate::events::object(store, "volume", "create", &name, &name);
    }
    Ok(name)
}

/// Removes a volume no container uses.
pub fn remove(store: &Store, name: &str) -> Result<()> {
    store.remove_volume(name)?;
    crate::events::object(store, "volume", "destroy", name, name);
    Ok(())
}

/// Removes the unused volumes (anonymous ones only unless `all`); returns
/// their names.
pub fn prune(store: &Store, all: bool) -> Result<Vec<String>> {
    let removed = store.prune_volumes(all)?;
    for name in &removed {
        crate::events::object(store, "volume", "destroy", name, name);
    }
    Ok(removed)
}
