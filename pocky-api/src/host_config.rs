//! The HostConfig and NetworkingConfig halves of a container create body:
//! limits, mounts, ports, restart policy, networks and aliases, and the
//! fields pocky refuses by name.

use pocky_engine::RunRequest;
use serde_json::{Map, Value};

use crate::create_body::{bool_field, int_field, object, str_field, strings};
use crate::{ApiError, ApiResult};

pub(crate) fn refuse_unsupported(host: &Map<String, Value>) -> ApiResult<()> {
    for (key, allowed) in [
        ("UsernsMode", &["", "host"][..]),
        ("Runtime", &["", "runc", "pocky-runtime"][..]),
        ("Isolation", &["", "default"][..]),
    ] {
        if let Some(v) = str_field(host, key)
            && !allowed.contains(&v)
        {
            return Err(ApiError::bad(format!(
                "pocky does not support HostConfig.{key} {v:?} yet"
            )));
        }
    }
    Ok(())
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}` as `-p` strings.
fn port_bindings(m: &Map<String, Value>) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for (port, bindings) in m {
        let list = match bindings {
            Value::Null => continue,
            Value::Array(a) if a.is_empty() => {
                out.push(port.clone());
                continue;
            }
            Value::Array(a) => a,
            _ => return Err(ApiError::bad("PortBindings must map ports to lists")),
        };
        for b in list {
            let b = b
                .as_object()
                .ok_or_else(|| ApiError::bad("a port binding must be an object"))?;
            let ip = str_field(b, "HostIp").unwrap_or("");
            let host_port = str_field(b, "HostPort").unwrap_or("");
            out.push(match (ip, host_port) {
                ("", "") => port.clone(),
                ("", hp) => format!("{hp}:{port}"),
                (ip, hp) if ip.contains(':') => format!("[{ip}]:{hp}:{port}"),
                (ip, hp) => format!("{ip}:{hp}:{port}"),
            });
        }
    }
    Ok(out)
}

/// `Mounts` entries as `--mount` strings.
fn mount_spec(m: &Map<String, Value>) -> ApiResult<String> {
    let typ = str_field(m, "Type").unwrap_or("volume");
    let target = str_field(m, "Target").ok_or_else(|| ApiError::bad("a mount needs a Target"))?;
    let mut parts = vec![format!("type={typ}")];
    if let Some(src) = str_field(m, "Source") {
        parts.push(format!("source={src}"));
    }
    parts.push(format!("target={target}"));
    if bool_field(m, "ReadOnly") {
        parts.push("readonly".into());
    }
    if let Some(v) = object(m, "VolumeOptions")?
        && bool_field(v, "NoCopy")
    {
        parts.push("volume-nocopy".into());
    }
    if let Some(b) = object(m, "BindOptions")?
        && let Some(p) = str_field(b, "Propagation")
    {
        parts.push(format!("bind-propagation={p}"));
    }
    if let Some(t) = object(m, "TmpfsOptions")? {
        let size = int_field(t, "SizeBytes")?;
        if size > 0 {
            parts.push(format!("tmpfs-size={size}"));
        }
        let mode = int_field(t, "Mode")?;
        if mode > 0 {
            parts.push(format!("tmpfs-mode={mode:o}"));
        }
    }
    // Each part is one field of a comma-separated list: a comma or quote
    // inside a value would change its meaning.
    if parts.iter().any(|p| p.contains([',', '"'])) {
        return Err(ApiError::bad(format!(
            "a mount's source or target holds a comma or quote: {target:?}"
        )));
    }
    Ok(parts.join(","))
}

pub(crate) fn host_config(req: &mut RunRequest, host: &Map<String, Value>) -> ApiResult<()> {
    req.volume
        .extend(strings(host, "Binds")?.unwrap_or_default());
    if let Some(mode) = str_field(host, "NetworkMode") {
        req.network = match mode {
            "default" => "bridge".into(),
            m => m.to_owned(),
        };
    }
    if let Some(ports) = object(host, "PortBindings")? {
        req.publish = port_bindings(ports)?;
    }
    req.publish_all = bool_field(host, "PublishAllPorts");
    if let Some(policy) = object(host, "RestartPolicy")?
        && let Some(name) = str_field(policy, "Name")
    {
        let retries = int_field(policy, "MaximumRetryCount")?;
        req.restart = Some(match (name, retries) {
            ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
            (n, _) => n.to_owned(),
        });
    }
    req.rm = bool_field(host, "AutoRemove");
    if let Some(Value::Array(mounts)) = host.get("Mounts") {
        for m in mounts {
            let m = m
                .as_object()
                .ok_or_else(|| ApiError::bad("a mount must be an object"))?;
            req.mount.push(mount_spec(m)?);
        }
    }
    if let Some(tmpfs) = object(host, "Tmpfs")? {
        for (path, opts) in tmpfs {
            req.tmpfs
                .push(match opts.as_str().filter(|o| !o.is_empty()) {
                    Some(o) => format!("{path}:{o}"),
                    None => path.clone(),
                });
        }
    }
    req.cap_add = strings(host, "CapAdd")?.unwrap_or_default();
    req.cap_drop = strings(host, "CapDrop")?.unwrap_or_default();
    req.privileged = bool_field(host, "Privileged");
    req.read_only = bool_field(host, "ReadonlyRootfs");
    req.security_opt = strings(host, "SecurityOpt")?.unwrap_or_default();
    req.add_host = strings(host, "ExtraHosts")?.unwrap_or_default();
    for d in strings(host, "Dns")?.unwrap_or_default() {
        req.dns.push(
            d.parse()
                .map_err(|_| ApiError::bad(format!("invalid DNS server {d:?}")))?,
        );
    }
    // Network settings of issue 16: the engine checks their values.
    req.dns_search = strings(host, "DnsSearch")?.unwrap_or_default();
    req.dns_option = strings(host, "DnsOptions")?.unwrap_or_default();
    req.link = strings(host, "Links")?.unwrap_or_default();
    let memory = int_field(host, "Memory")?;
    if memory < 0 {
        return Err(ApiError::bad("Memory cannot be negative"));
    }
    req.memory = (memory > 0).then(|| memory.to_string());
    let nano = int_field(host, "NanoCpus")?;
    req.cpus = (nano > 0).then(|| nano as f64 / 1e9);
    let shares = int_field(host, "CpuShares")?;
    req.cpu_shares = u64::try_from(shares).ok().filter(|s| *s > 0);
    let pids = int_field(host, "PidsLimit")?;
    req.pids_limit = (pids != 0).then_some(pids);
    if let Some(parent) = str_field(host, "CgroupParent") {
        req.cgroup_parent = parent.to_owned();
    }
    log_config(req, host)?;
    if let Some(Value::Array(devices)) = host.get("Devices") {
        for d in devices {
            let d = d
                .as_object()
                .ok_or_else(|| ApiError::bad("a device must be an object"))?;
            let on_host = str_field(d, "PathOnHost")
                .ok_or_else(|| ApiError::bad("a device needs PathOnHost"))?;
            let inside = str_field(d, "PathInContainer").unwrap_or(on_host);
            let perms = str_field(d, "CgroupPermissions").unwrap_or("rwm");
            req.device.push(format!("{on_host}:{inside}:{perms}"));
        }
    }
    Ok(())
}

/// `LogConfig` (`Type`, `Config` of strings) as `--log-driver` and
/// `--log-opt`, which the engine checks as it checks the flags.
fn log_config(req: &mut RunRequest, host: &Map<String, Value>) -> ApiResult<()> {
    let Some(log) = object(host, "LogConfig")? else {
        return Ok(());
    };
    // "" is the daemon's default driver: json-file.
    req.log_driver = str_field(log, "Type")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    for (k, v) in object(log, "Config")?.into_iter().flatten() {
        let v = v
            .as_str()
            .ok_or_else(|| ApiError::bad(format!("LogConfig.Config[{k:?}] must be a string")))?;
        if k.contains('=') {
            return Err(ApiError::bad(format!("invalid log option name {k:?}")));
        }
        req.log_opt.push(format!("{k}={v}"));
    }
    Ok(())
}

pub(crate) fn endpoint_config(
    req: &mut RunRequest,
    endpoints: &Map<String, Value>,
) -> ApiResult<()> {
    let name = |n: &str| if n == "default" { "bridge" } else { n }.to_owned();
    // HostConfig.NetworkMode names the first network; without one (the
    // bridge) the first endpoint is.
    let primary = endpoints
        .keys()
        .find(|n| name(n) == req.network)
        .or_else(|| {
            (req.network == "bridge")
                .then(|| endpoints.keys().next())
                .flatten()
        })
        .cloned();
    for (net, ep) in endpoints {
        let mut e = pocky_engine::request::Endpoint {
            network: name(net),
            ..Default::default()
        };
        let is_primary = Some(net) == primary.as_ref();
        if let Some(ep) = ep.as_object() {
            e.aliases = strings(ep, "Aliases")?.unwrap_or_default();
            if let Some(ipam) = object(ep, "IPAMConfig")? {
                if let Some(ip) = str_field(ipam, "IPv4Address") {
                    e.ip = Some(
                        ip.parse()
                            .map_err(|_| ApiError::bad(format!("invalid IPv4 address {ip:?}")))?,
                    );
                }
                if let Some(ip) = str_field(ipam, "IPv6Address") {
                    e.ip6 = Some(
                        ip.parse()
                            .map_err(|_| ApiError::bad(format!("invalid IPv6 address {ip:?}")))?,
                    );
                }
            }
            let mac = str_field(ep, "MacAddress");
            let links = strings(ep, "Links")?.unwrap_or_default();
            if !is_primary && (mac.is_some() || !links.is_empty()) {
                return Err(ApiError::bad(format!(
                    "pocky takes MacAddress and Links on a container's first network only, not on {net}"
                )));
            }
            // API 1.44 moved the MAC address here from Config.
            if let Some(mac) = mac {
                req.mac_address = Some(mac.to_owned());
            }
            for l in links {
                if !req.link.contains(&l) {
                    req.link.push(l);
                }
            }
        }
        if is_primary {
            req.network = e.network;
            req.network_alias = e.aliases;
            req.ip = e.ip;
            req.ip6 = e.ip6;
        } else {
            req.more_networks.push(e);
        }
    }
    Ok(())
}
