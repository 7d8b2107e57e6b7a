//! Parsing of `-v`/`--volume`, `--mount` and `--tmpfs`, with Docker's
//! syntax and error messages. Nothing here touches the disk: turning a
//! parsed flag into a mount is `volumes_setup`'s work.

use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

/// What a mount flag mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host path. `create`: make it when missing (`-v` does, `--mount`
    /// does not).
    Bind { path: PathBuf, create: bool },
    /// A named volume, or an anonymous one (`None`). `nocopy`: never seed
    /// it from the image.
    Volume { name: Option<String>, nocopy: bool },
    /// A tmpfs; `options` as `mount -o` takes them (flags and data).
    Tmpfs { options: Vec<String> },
}

/// One parsed mount flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFlag {
    pub source: Source,
    /// Absolute and lexically clean; never `/`.
    pub target: String,
    pub readonly: bool,
    /// `rprivate`, `rshared`...: for binds only.
    pub propagation: Option<String>,
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Docker's options for a tmpfs before the user's (later ones win).
pub const TMPFS_DEFAULTS: [&str; 3] = ["noexec", "nosuid", "nodev"];

/// Keyed options tmpfs takes as data; anything else would only fail at
/// mount time, in the container's child.
const TMPFS_DATA: [&str; 7] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "huge",
];
const TMPFS_FLAGS: [&str; 12] = [
    "ro",
    "rw",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "atime",
    "noatime",
    "relatime",
    "strictatime",
];

/// `/a/./b/../c/` → `/a/c`, with `..` stopping at `/` (as it does when the
/// kernel resolves it inside the rootfs). Relative paths are refused.
fn clean_target(target: &str, spec: &str) -> Result<String> {
    if !target.starts_with('/') {
        bail!(crate::invalid!(
            "invalid mount config: invalid mount path: {target:?} mount path must be absolute"
        ));
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(target).components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        bail!(crate::invalid!(
            "invalid volume specification: {spec:?}: invalid mount config: destination can't be '/'"
        ));
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    Ok(out.to_string_lossy().into_owned())
}

fn check_volume_name(name: &str) -> Result<()> {
    pocky_store::check_volume_name(name).map_err(|_| {
        anyhow::Error::new(crate::invalid!(
            "{name:?} includes invalid characters for a local volume name, only \
             \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
             directory, use absolute path"
        ))
    })
}

/// `-v [SOURCE:]TARGET[:OPTIONS]`.
pub fn parse_volume(spec: &str) -> Result<MountFlag> {
    let invalid = || anyhow::Error::new(crate::invalid!("invalid volume specification: {spec:?}"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [source, target] => (Some(*source), *target, ""),
        [source, target, mode] => (Some(*source), *target, *mode),
        _ => return Err(invalid()),
    };
    if source.is_some_and(str::is_empty) || target.is_empty() {
        return Err(invalid());
    }
    let target = clean_target(target, spec)?;
    let mut readonly = None;
    let mut nocopy = false;
    let mut propagation = None;
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" | "rw" if readonly.is_some() => return Err(invalid()),
            "ro" => readonly = Some(true),
            "rw" => readonly = Some(false),
            // SELinux relabelling: pocky has no SELinux support; Docker
            // ignores it too where SELinux is off.
            "z" | "Z" => {}
            "nocopy" => nocopy = true,
            p if PROPAGATIONS.contains(&p) && propagation.is_none() => {
                propagation = Some(p.to_owned());
            }
            _ => bail!(crate::invalid!(
                "invalid volume specification: {spec:?}: invalid mode: {mode}"
            )),
        }
    }
    let source = match source {
        None => Source::Volume { name: None, nocopy },
        Some(s) if s.starts_with('/') => {
            if nocopy {
                bail!(crate::invalid!(
                    "invalid volume specification: {spec:?}: nocopy is for volumes only"
                ));
            }
            Source::Bind {
                path: PathBuf::from(s),
                create: true,
            }
        }
        Some(name) => {
            check_volume_name(name)?;
            if propagation.is_some() {
                bail!(crate::invalid!(
                    "invalid volume specification: {spec:?}: propagation is for bind mounts only"
                ));
            }
            Source::Volume {
                name: Some(name.to_owned()),
                nocopy,
            }
        }
    };
    Ok(MountFlag {
        source,
        target,
        readonly: readonly.unwrap_or(false),
        propagation,
    })
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => bail!(crate::invalid!("invalid value for {key}: {v}")),
    }
}

/// Sizes as Docker's `tmpfs-size` takes them: bytes, or with a binary unit
/// (`k`, `m`, `g`, `t`, optionally followed by `b`).
fn parse_size(s: &str) -> Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(end);
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::Error::new(crate::invalid!("invalid size: {s:?}")))?;
    let shift = match unit.strip_suffix('b').unwrap_or(unit) {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => bail!(crate::invalid!("invalid size: {s:?}")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow::Error::new(crate::invalid!("invalid size: {s:?}")))
}

/// `--mount type=bind|volume|tmpfs,source=...,target=...,readonly,...`.
pub fn parse_mount(spec: &str) -> Result<MountFlag> {
    let mut typ = "volume".to_owned();
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut readonly = false;
    let mut nocopy = false;
    let mut propagation = None;
    let mut tmpfs = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || {
            value.ok_or_else(|| {
                anyhow::Error::new(crate::invalid!(
                    "invalid field '{field}' must be a key=value pair"
                ))
            })
        };
        match key.as_str() {
            "type" => typ = need()?.to_owned(),
            "source" | "src" => source = Some(need()?.to_owned()),
            "target" | "destination" | "dst" => target = Some(need()?.to_owned()),
            "readonly" | "ro" => readonly = parse_bool(&key, value)?,
            "volume-nocopy" => nocopy = parse_bool(&key, value)?,
            "bind-propagation" => {
                let p = need()?;
                if !PROPAGATIONS.contains(&p) {
                    bail!(crate::invalid!("invalid value for {key}: {p}"));
                }
                propagation = Some(p.to_owned());
            }
            "volume-driver" if need()? == pocky_store::LOCAL_DRIVER => {}
            "consistency" => {}
            "tmpfs-size" => tmpfs.push(format!("size={}", parse_size(need()?)?)),
            "tmpfs-mode" => {
                let m = need()?;
                u32::from_str_radix(m, 8).map_err(|_| {
                    anyhow::Error::new(crate::invalid!("invalid value for {key}: {m}"))
                })?;
                tmpfs.push(format!("mode={m}"));
            }
            _ => bail!(crate::invalid!("unexpected key '{key}' in '{field}'")),
        }
    }
    let Some(raw_target) = target else {
        bail!(crate::invalid!(
            "invalid argument {spec:?} for \"--mount\" flag: target is required"
        ));
    };
    let target = clean_target(&raw_target, spec)?;
    let only = |what: &str, ok: bool| -> Result<()> {
        if ok {
            Ok(())
        } else {
            bail!(crate::invalid!(
                "invalid mount config for type \"{typ}\": {what}"
            ))
        }
    };
    let source = match typ.as_str() {
        "bind" => {
            only("tmpfs options are for tmpfs mounts only", tmpfs.is_empty())?;
            only("nocopy is for volumes only", !nocopy)?;
            let Some(path) = source else {
                bail!(crate::invalid!(
                    "invalid mount config for type \"bind\": field Source must not be empty"
                ));
            };
            if !path.starts_with('/') {
                bail!(crate::invalid!(
                    "invalid mount config for type \"bind\": invalid mount path: {path:?} mount path must be absolute"
                ));
            }
            Source::Bind {
                path: PathBuf::from(path),
                create: false,
            }
        }
        "volume" => {
            only("tmpfs options are for tmpfs mounts only", tmpfs.is_empty())?;
            only("propagation is for bind mounts only", propagation.is_none())?;
            if let Some(name) = &source {
                check_volume_name(name)?;
            }
            Source::Volume {
                name: source,
                nocopy,
            }
        }
        "tmpfs" => {
            only("field Source must be empty", source.is_none())?;
            only("propagation is for bind mounts only", propagation.is_none())?;
            Source::Tmpfs { options: tmpfs }
        }
        other => bail!(crate::invalid!(
            "invalid mount config: mount type unknown: {other:?}"
        )),
    };
    Ok(MountFlag {
        source,
        target,
        readonly,
        propagation,
    })
}

/// `--tmpfs TARGET[:OPTIONS]`, options comma-separated as for mount(8).
pub fn parse_tmpfs(spec: &str) -> Result<MountFlag> {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let target = clean_target(target, spec)?;
    let mut options = Vec::new();
    let mut readonly = false;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        let key = opt.split_once('=').map_or(opt, |(k, _)| k);
        if opt.contains('=') && TMPFS_DATA.contains(&key) {
            if key == "size" {
                // Checked here so a typo fails now, not in the container.
                let v = &opt["size=".len()..];
                if !v.ends_with('%') {
                    parse_size(v)?;
                }
            }
        } else if !TMPFS_FLAGS.contains(&opt) {
            bail!(crate::invalid!("invalid tmpfs option {opt:?} in {spec:?}"));
        }
        match opt {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => options.push(opt.to_owned()),
        }
    }
    Ok(MountFlag {
        source: Source::Tmpfs { options },
        target,
        readonly,
        propagation: None,
    })
}

/// All mount flags of a `run`, in Docker's order of precedence checks: a
/// target given twice is an error.
pub fn parse_all(
    volumes: &[String],
    mounts: &[String],
    tmpfs: &[String],
) -> Result<Vec<MountFlag>> {
    let mut out: Vec<MountFlag> = Vec::new();
    let parsed = volumes
        .iter()
        .map(|v| parse_volume(v))
        .chain(mounts.iter().map(|m| parse_mount(m)))
        .chain(tmpfs.iter().map(|t| parse_tmpfs(t)));
    for flag in parsed {
        let flag = flag?;
        if out.iter().any(|f| f.target == flag.target) {
            bail!(crate::invalid!("Duplicate mount point: {}", flag.target));
        }
        out.push(flag);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(path: &str, create: bool) -> Source {
        Source::Bind {
            path: PathBuf::from(path),
            create,
        }
    }

    #[test]
    fn volume_flag_forms() {
        let f = parse_volume("/host:/ctr").unwrap();
        assert_eq!(
            (f.source, f.target.as_str(), f.readonly),
            (bind("/host", true), "/ctr", false)
        );
        let f = parse_volume("/host:/ctr/../x/:ro").unwrap();
        assert_eq!((f.target.as_str(), f.readonly), ("/x", true));
        let f = parse_volume("data:/var/lib/data:rw,nocopy").unwrap();
        assert_eq!(
            f.source,
            Source::Volume {
                name: Some("data".into()),
                nocopy: true
            }
        );
        let f = parse_volume("/anon").unwrap();
        assert_eq!(
            f.source,
            Source::Volume {
                name: None,
                nocopy: false
            }
        );
        let f = parse_volume("/h:/c:ro,rshared").unwrap();
        assert_eq!(f.propagation.as_deref(), Some("rshared"));
    }

    #[test]
    fn bad_volume_flags() {
        for bad in [
            "",
            "r l:/x",
            "./rel:/x",
            "a/b:/x",
            "/h:relative",
            "/h:/",
            "/h:/c:bogus",
            "/h:/c:ro,rw",
            "/h:/c:ro:extra",
            "/ctr:ro",
            "/h:/c:nocopy",
            "data:/c:rshared",
            "x:/c",
            ":/c",
            "/../..",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mount_flag_forms() {
        let f = parse_mount("type=bind,source=/h,target=/c,readonly").unwrap();
        assert_eq!((f.source, f.readonly), (bind("/h", false), true));
        let f = parse_mount("src=v1,dst=/c,volume-nocopy,ro=false").unwrap();
        assert_eq!(
            (f.source, f.readonly),
            (
                Source::Volume {
                    name: Some("v1".into()),
                    nocopy: true
                },
                false
            )
        );
        let f = parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            f.source,
            Source::Tmpfs {
                options: vec![format!("size={}", 64 << 20), "mode=1770".into()]
            }
        );
        let f = parse_mount("type=bind,src=/h,dst=/c,bind-propagation=rslave").unwrap();
        assert_eq!(f.propagation.as_deref(), Some("rslave"));
    }

    #[test]
    fn bad_mount_flags() {
        for bad in [
            "type=bind,target=/c",
            "type=bind,source=rel,target=/c",
            "type=volume,source=/abs,target=/c",
            "type=tmpfs,source=x,target=/t",
            "type=tmpfs,target=/t,tmpfs-mode=99",
            "type=tmpfs,target=/t,tmpfs-size=lots",
            "type=nfs,target=/t",
            "source=v",
            "target=/c,bogus=1",
            "type=volume,target=/c,bind-propagation=rshared",
            "type=bind,source=/h,target=/c,volume-nocopy",
            "type=bind,source=/h,target=/",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tmpfs_flag_forms() {
        let f = parse_tmpfs("/run:size=64m,mode=1777,exec").unwrap();
        assert_eq!(
            f.source,
            Source::Tmpfs {
                options: vec!["size=64m".into(), "mode=1777".into(), "exec".into()]
            }
        );
        assert!(parse_tmpfs("/t:ro").unwrap().readonly);
        for bad in ["rel", "/t:size=huge", "/t:bogus", "/t:lowerdir=/x", "/"] {
            assert!(parse_tmpfs(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn duplicate_targets_are_refused() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(parse_all(&s(&["/a:/x"]), &[], &s(&["/x/"])).is_err());
        assert_eq!(
            parse_all(&s(&["/a:/x", "/y"]), &[], &s(&["/z"]))
                .unwrap()
                .len(),
            3
        );
    }
}
