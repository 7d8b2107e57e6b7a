//! `volume create --opt`: Docker's local driver options (`type`, `o`,
//! `device`), for the two kinds of volume pocky can make without a daemon
//! that keeps mounts on the host: a tmpfs, and a bind of a host directory.
//!
//! Neither is mounted on the host. A tmpfs volume becomes a tmpfs mount in
//! each container that uses it (Docker mounts one tmpfs on the host and
//! shares it among the containers using it at the same time); a bind
//! volume becomes a bind mount of its `device`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use pocky_store::{Store, StoreError};

use crate::invalid;

/// What a volume is, from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// A directory of the state root (no options).
    Plain,
    /// `type=tmpfs`: mount options (flags and data) as mount(8) takes them.
    Tmpfs {
        options: Vec<String>,
        readonly: bool,
    },
    /// `type=none,o=bind,device=/path`.
    Bind { device: PathBuf, readonly: bool },
}

/// Parses `--opt KEY=VALUE` words into the options map.
pub fn parse_words(words: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for w in words {
        let Some((k, v)) = w.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            bail!(invalid!("invalid volume option {w:?}: expected KEY=VALUE"));
        };
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Checks the options as Docker's local driver would take them, and says
/// what the volume is.
pub fn kind(opts: &BTreeMap<String, String>) -> Result<VolumeKind> {
    for k in opts.keys() {
        match k.as_str() {
            "type" | "o" | "device" => {}
            "size" => bail!(invalid!(
                "volume option size is not supported: it needs an XFS state root with project quotas"
            )),
            other => bail!(invalid!(
                "invalid option key: {other:?} (type, o and device are)"
            )),
        }
    }
    let get = |k: &str| opts.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match (get("type"), get("o"), get("device")) {
        (None, None, None) => Ok(VolumeKind::Plain),
        (Some("tmpfs"), o, device) => {
            if device.is_some_and(|d| d != "tmpfs") {
                bail!(invalid!(
                    "the device of a tmpfs volume is tmpfs, not {device:?}"
                ));
            }
            // The same options `--tmpfs` takes, checked the same way.
            let flag = crate::mount_flags::parse_tmpfs(&format!("/v:{}", o.unwrap_or("")))
                .map_err(|e| invalid!("volume option o: {e:#}"))?;
            match flag.source {
                crate::mount_flags::Source::Tmpfs { options } => Ok(VolumeKind::Tmpfs {
                    options,
                    readonly: flag.readonly,
                }),
                _ => bail!(invalid!("volume option o: not tmpfs options")),
            }
        }
        (Some("none"), Some(o), Some(device)) => {
            let mut bind = false;
            let mut readonly = false;
            for word in o.split(',') {
                match word {
                    "bind" | "rbind" => bind = true,
                    "ro" => readonly = true,
                    "rw" => readonly = false,
                    other => bail!(invalid!(
                        "volume option o={o:?}: {other:?} is not one of bind, rbind, ro, rw"
                    )),
                }
            }
            if !bind {
                bail!(invalid!("a volume of type none needs o=bind"));
            }
            if !device.starts_with('/') {
                bail!(invalid!(
                    "the device of a bind volume must be an absolute path, not {device:?}"
                ));
            }
            Ok(VolumeKind::Bind {
                device: PathBuf::from(device),
                readonly,
            })
        }
        (Some("none"), _, _) => bail!(invalid!(
            "a volume of type none needs o=bind and device=/path"
        )),
        (Some(t), _, _) => bail!(invalid!(
            "volume type {t:?} is not supported: pocky's local driver makes tmpfs (type=tmpfs) \
             and bind (type=none,o=bind,device=/path) volumes"
        )),
        (None, _, _) => bail!(invalid!("volume options o and device need a type")),
    }
}

/// The kind of the volume `name`; a volume that does not exist yet is
/// made plain, as `-v name:/path` makes it.
pub fn of(store: &Store, name: &str) -> Result<VolumeKind> {
    match store.volume(name) {
        Ok(v) => kind(&v.options),
        Err(StoreError::NoSuchVolume(_)) => Ok(VolumeKind::Plain),
        Err(e) => Err(e.into()),
    }
}

/// Where a volume's files are on the host: a bind volume's device, else
/// its directory in the state root.
pub fn data_path(store: &Store, name: &str) -> Result<PathBuf> {
    match of(store, name)? {
        VolumeKind::Bind { device, .. } => Ok(device),
        _ => Ok(store.volume_data_dir(name)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(words: &[&str]) -> BTreeMap<String, String> {
        parse_words(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    fn err(words: &[&str]) -> String {
        format!("{:#}", kind(&opts(words)).unwrap_err())
    }

    #[test]
    fn the_kinds_docker_documents() {
        assert_eq!(kind(&opts(&[])).unwrap(), VolumeKind::Plain);
        assert_eq!(
            kind(&opts(&[
                "type=tmpfs",
                "device=tmpfs",
                "o=size=100m,uid=1000"
            ]))
            .unwrap(),
            VolumeKind::Tmpfs {
                options: vec!["size=100m".into(), "uid=1000".into()],
                readonly: false
            }
        );
        assert_eq!(
            kind(&opts(&["type=none", "o=bind,ro", "device=/srv/data"])).unwrap(),
            VolumeKind::Bind {
                device: "/srv/data".into(),
                readonly: true
            }
        );
    }

    #[test]
    fn the_rest_is_refused_by_name() {
        assert!(
            err(&["type=nfs", "o=addr=10.0.0.1", "device=:/x"])
                .contains("type \"nfs\" is not supported")
        );
        assert!(err(&["type=ext4", "device=/dev/sdb1"]).contains("not supported"));
        assert!(err(&["size=10G"]).contains("size is not supported"));
        assert!(err(&["colour=blue"]).contains("invalid option key"));
        assert!(err(&["type=tmpfs", "o=size=lots"]).contains("volume option o"));
        assert!(err(&["type=tmpfs", "o=bogus"]).contains("invalid tmpfs option"));
        assert!(err(&["type=tmpfs", "device=/dev/sda"]).contains("device of a tmpfs volume"));
        assert!(err(&["type=none", "o=bind", "device=rel/dir"]).contains("absolute path"));
        assert!(err(&["type=none", "o=ro", "device=/x"]).contains("needs o=bind"));
        assert!(err(&["type=none", "o=bind,suid", "device=/x"]).contains("not one of"));
        assert!(err(&["type=none", "device=/x"]).contains("needs o=bind and device"));
        assert!(err(&["o=bind"]).contains("need a type"));
        assert!(parse_words(&["novalue".into()]).is_err());
    }
}
