//! `Mounts` of a container's inspect document, in Docker's shape, read from
//! the bundle's mounts: what the user asked for (volumes, binds, tmpfs),
//! not the runtime's own (`/proc`, `/dev`..., and the `/etc` files pocky
//! writes per container).

use std::path::Path;

use pocky_store::Store;
use serde_json::{Value, json};

const PROPAGATIONS: [&str; 6] = [
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

pub fn mounts(store: &Store, spec: &Value) -> Value {
    let defaults: Vec<String> = pocky_fs::default_mounts()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    let volumes = store.layout().volumes();
    let bundle = store.layout().containers();
    let list = spec
        .pointer("/mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let out: Vec<Value> = list
        .iter()
        .filter_map(|m| {
            let dest = m.get("destination")?.as_str()?;
            let source = m.get("source").and_then(Value::as_str).unwrap_or("");
            let typ = m.get("type").and_then(Value::as_str).unwrap_or("");
            let opts: Vec<&str> = m
                .get("options")
                .and_then(Value::as_array)
                .map(|o| o.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if defaults.iter().any(|d| d == dest) || Path::new(source).starts_with(&bundle) {
                return None;
            }
            let rw = !opts.contains(&"ro");
            let bind = typ == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
            if let Ok(rest) = Path::new(source).strip_prefix(&volumes) {
                let name = rest
                    .components()
                    .next()?
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned();
                return Some(json!({
                    "Type": "volume", "Name": name, "Source": source, "Destination": dest,
                    "Driver": "local", "Mode": "", "RW": rw, "Propagation": "",
                }));
            }
            if bind {
                let propagation = opts
                    .iter()
                    .find(|o| PROPAGATIONS.contains(o))
                    .copied()
                    .unwrap_or("rprivate");
                return Some(json!({
                    "Type": "bind", "Source": source, "Destination": dest,
                    "Mode": "", "RW": rw, "Propagation": propagation,
                }));
            }
            (typ == "tmpfs").then(|| {
                json!({
                    "Type": "tmpfs", "Source": "", "Destination": dest,
                    "Mode": "", "RW": rw, "Propagation": "",
                })
            })
        })
        .collect();
    json!(out)
}
