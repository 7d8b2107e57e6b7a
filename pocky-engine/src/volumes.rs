//! Named volumes as objects of their own: create, remove, prune. What a
//! container's `-v` does with them is `volumes_setup`'s.

use std::collections::BTreeMap;

use pocky_store::Store;

use crate::{Result, invalid};

/// Creates the volume `name` (a random one for None), or finds the
/// existing one of that name, as `docker volume create`; returns its name.
/// `opts` are the local driver's options (`volume_opts`).
pub fn create(
    store: &Store,
    name: Option<&str>,
    driver: &str,
    labels: &[String],
    opts: &BTreeMap<String, String>,
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
    crate::volume_opts::kind(opts)?;
    let (rec, new) = store.create_volume_with(&name, &map, opts)?;
    if !new && rec.options != *opts && !opts.is_empty() {
        return Err(crate::conflict!(
            "volume {name} exists already, with other options"
        ));
    }
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
    prune_filtered(store, all, &[])
}

/// [`prune`] of the volumes `filters` (`label=`, `label!=`) keep.
pub fn prune_filtered(store: &Store, all: bool, filters: &[String]) -> Result<Vec<String>> {
    let f = crate::image_filter::PruneFilter::parse(store, filters)?;
    if f.has_until() {
        return Err(crate::invalid!(
            "invalid filter 'until': volume prune takes label filters only"
        ));
    }
    let removed = store.prune_volumes_where(all, &|v| f.keeps(v.created, &v.labels))?;
    for name in &removed {
        crate::events::object(store, "volume", "destroy", name, name);
    }
    Ok(removed)
}

/// `volume ls --filter`: `dangling` (used by no container), `name`
/// (substring, as Docker), `label`, `driver`.
pub fn list(store: &Store, filters: &[String]) -> Result<Vec<pocky_store::VolumeRecord>> {
    use crate::filter_args::{self, boolean, label_matches};
    let map = filter_args::parse_pairs(filters, &["dangling", "name", "label", "driver"])?;
    for v in map.get("dangling").into_iter().flatten() {
        boolean("dangling", v)?;
    }
    let users = match map.contains_key("dangling") {
        true => store.volume_users()?,
        false => BTreeMap::new(),
    };
    let mut out = store.volumes()?;
    out.retain(|vol| {
        filter_args::all_keys(&map, |k, v| match k {
            "dangling" => {
                boolean(k, v).is_ok_and(|d| d == users.get(&vol.name).is_none_or(Vec::is_empty))
            }
            "name" => vol.name.contains(v),
            "label" => label_matches(&vol.labels, v),
            "driver" => vol.driver == v,
            _ => false,
        })
    });
    Ok(out)
}

/// Docker's volume inspect document (also the API's volume object).
pub fn document(store: &Store, v: &pocky_store::VolumeRecord) -> Result<serde_json::Value> {
    let mut labels = serde_json::Map::new();
    for (k, val) in &v.labels {
        labels.insert(k.clone(), val.clone().into());
    }
    if v.anonymous {
        labels.insert("com.docker.volume.anonymous".into(), "".into());
    }
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(v.created.max(0.0));
    // A bind volume's files are its device's: that is where to look.
    let mountpoint = match crate::volume_opts::kind(&v.options) {
        Ok(crate::volume_opts::VolumeKind::Bind { device, .. }) => device,
        _ => store.volume_data_dir(&v.name)?,
    };
    Ok(serde_json::json!({
        "CreatedAt": humantime::format_rfc3339_seconds(created).to_string(),
        "Driver": v.driver,
        "Labels": labels,
        "Mountpoint": mountpoint,
        "Name": v.name,
        "Options": if v.options.is_empty() { serde_json::Value::Null } else { serde_json::json!(v.options) },
        "Scope": "local",
    }))
}
