//! `POST /containers/create`'s body (Docker's container Config with its
//! HostConfig and NetworkingConfig) as the engine's [`RunRequest`]: the
//! same request the CLI's flags make, so both front ends create alike.
//!
//! Zero values are what clients send for "not set". A field that pocky
//! cannot honour yet is refused by name with a 400 rather than ignored,
//! so a compose file never runs with a limit silently dropped.

use pocky_engine::RunRequest;
use serde_json::{Map, Value};

use crate::{ApiError, ApiResult};

/// The request, the image and the command.
#[derive(Debug, Clone)]
pub struct CreateBody {
    pub request: RunRequest,
    pub image: String,
    pub cmd: Vec<String>,
}

fn str_field<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn bool_field(o: &Map<String, Value>, key: &str) -> bool {
    o.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn int_field(o: &Map<String, Value>, key: &str) -> ApiResult<i64> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad(format!("{key} must be an integer"))),
    }
}

/// Cmd and Entrypoint: a list of strings, or (Docker's strslice) one
/// string as a list of one.
pub(crate) fn strslice(o: &Map<String, Value>, key: &str) -> ApiResult<Option<Vec<String>>> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        _ => strings(o, key),
    }
}

pub(crate) fn strings(o: &Map<String, Value>, key: &str) -> ApiResult<Option<Vec<String>>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad(format!("{key} must hold strings")))
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(ApiError::bad(format!("{key} must be a list of strings"))),
    }
}

fn object<'a>(o: &'a Map<String, Value>, key: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::bad(format!("{key} must be an object"))),
    }
}

/// Fields that must stay unset (zero, empty) until pocky supports them.
const REFUSED_HOST: [&str; 22] = [
    "Ulimits",
    "Sysctls",
    "GroupAdd",
    "Links",
    "VolumesFrom",
    "DnsOptions",
    "DnsSearch",
    "CpusetCpus",
    "CpusetMems",
    "CpuQuota",
    "CpuPeriod",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "MemoryReservation",
    "MemorySwappiness",
    "KernelMemory",
    "BlkioWeight",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "DeviceCgroupRules",
    "DeviceRequests",
    "OomScoreAdj",
];

fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn refuse_unsupported(host: &Map<String, Value>) -> ApiResult<()> {
    for key in REFUSED_HOST {
        // -1 is the CLI's "not set" for swappiness.
        let default =
            key == "MemorySwappiness" && host.get(key).and_then(Value::as_i64) == Some(-1);
        if !default && host.get(key).is_some_and(|v| !is_unset(v)) {
            return Err(ApiError::bad(format!(
                "pocky does not support HostConfig.{key} yet"
            )));
        }
    }
    if bool_field(host, "Init") {
        return Err(ApiError::bad("pocky does not support HostConfig.Init yet"));
    }
    if bool_field(host, "OomKillDisable") {
        return Err(ApiError::bad(
            "pocky does not support HostConfig.OomKillDisable yet",
        ));
    }
    // -1 is "unlimited swap", which is what pocky gives.
    let swap = int_field(host, "MemorySwap")?;
    if swap != 0 && swap != -1 && swap != int_field(host, "Memory")? {
        return Err(ApiError::bad(
            "pocky does not support HostConfig.MemorySwap yet",
        ));
    }
    for (key, allowed) in [
        ("PidMode", &["", "private"][..]),
        ("IpcMode", &["", "private", "shareable"][..]),
        ("UTSMode", &[""][..]),
        ("UsernsMode", &["", "host"][..]),
        ("CgroupnsMode", &["", "private", "host"][..]),
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
    if let Some(log) = object(host, "LogConfig")? {
        if let Some(t) = str_field(log, "Type")
            && t != "json-file"
        {
            return Err(ApiError::bad(format!(
                "pocky has no log driver {t:?}: only json-file"
            )));
        }
        if object(log, "Config")?.is_some_and(|c| !c.is_empty()) {
            return Err(ApiError::bad(
                "pocky does not support LogConfig options yet",
            ));
        }
    }
    Ok(())
}

/// `/bin/sh` words for a command given as a list.
fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn duration_ns(o: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    let ns = int_field(o, key)?;
    Ok((ns != 0).then(|| format!("{ns}ns")))
}

fn healthcheck(req: &mut RunRequest, h: &Map<String, Value>) -> ApiResult<()> {
    match strslice(h, "Test")?.as_deref() {
        None | Some([]) => {}
        Some([none]) if none == "NONE" => req.no_healthcheck = true,
        Some([kind, cmd]) if kind == "CMD-SHELL" => req.health_cmd = Some(cmd.clone()),
        Some([kind, args @ ..]) if kind == "CMD" && !args.is_empty() => {
            req.health_cmd = Some(shell_join(args));
        }
        Some(other) => {
            return Err(ApiError::bad(format!(
                "invalid Healthcheck.Test {other:?}: NONE, CMD or CMD-SHELL"
            )));
        }
    }
    req.health_interval = duration_ns(h, "Interval")?;
    req.health_timeout = duration_ns(h, "Timeout")?;
    req.health_start_period = duration_ns(h, "StartPeriod")?;
    req.health_start_interval = duration_ns(h, "StartInterval")?;
    let retries = int_field(h, "Retries")?;
    req.health_retries = (retries != 0).then_some(retries);
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

pub fn parse(body: &Value, name: Option<&str>, platform: Option<&str>) -> ApiResult<CreateBody> {
    let empty = Map::new();
    let config = match body {
        Value::Object(o) => o,
        Value::Null => {
            return Err(ApiError::bad(
                "config cannot be empty in order to create a container",
            ));
        }
        _ => return Err(ApiError::bad("the container config must be a JSON object")),
    };
    let host = object(config, "HostConfig")?.unwrap_or(&empty);
    refuse_unsupported(host)?;
    let image = str_field(config, "Image")
        .ok_or_else(|| ApiError::bad("no image was given (Config.Image)"))?
        .to_owned();
    let mut req = RunRequest {
        name: name.filter(|n| !n.is_empty()).map(str::to_owned),
        platform: platform.filter(|p| !p.is_empty()).map(str::to_owned),
        interactive: bool_field(config, "OpenStdin"),
        stdin_once: bool_field(config, "StdinOnce"),
        tty: bool_field(config, "Tty"),
        env: strings(config, "Env")?.unwrap_or_default(),
        workdir: str_field(config, "WorkingDir").map(str::to_owned),
        user: str_field(config, "User").map(str::to_owned),
        hostname: str_field(config, "Hostname").map(str::to_owned),
        stop_signal: str_field(config, "StopSignal").map(str::to_owned),
        stop_timeout: u64::try_from(int_field(config, "StopTimeout")?)
            .ok()
            .filter(|t| *t > 0),
        network: "bridge".into(),
        cgroup_parent: "pocky".into(),
        ..RunRequest::default()
    };
    if let Some(labels) = object(config, "Labels")? {
        for (k, v) in labels {
            req.label
                .push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(h) = object(config, "Healthcheck")? {
        healthcheck(&mut req, h)?;
    }
    let mut cmd = strslice(config, "Cmd")?.unwrap_or_default();
    // Entrypoint and command make one argv, as in Docker: the words after
    // the entrypoint's first go before the command.
    if let Some(ep) = strslice(config, "Entrypoint")? {
        match ep.split_first() {
            None => req.entrypoint = Some(String::new()),
            Some((first, rest)) => {
                req.entrypoint = Some(first.clone());
                cmd.splice(0..0, rest.iter().cloned());
            }
        }
    }
    if bool_field(config, "NetworkDisabled") {
        req.network = "none".into();
    }
    host_config(&mut req, host)?;
    if let Some(net) = object(body.as_object().unwrap_or(&empty), "NetworkingConfig")?
        && let Some(endpoints) = object(net, "EndpointsConfig")?
    {
        endpoint_config(&mut req, endpoints)?;
    }
    // Config.Volumes: anonymous volumes, unless a bind or mount already
    // puts something there (compose lists every target in both).
    if let Some(vols) = object(config, "Volumes")? {
        let taken: Vec<String> = req
            .volume
            .iter()
            .filter_map(|v| v.split(':').nth(1).map(str::to_owned))
            .chain(req.mount.iter().filter_map(|m| {
                m.split(',')
                    .find_map(|p| p.strip_prefix("target=").map(str::to_owned))
            }))
            .collect();
        for target in vols.keys() {
            if !taken.iter().any(|t| t == target) {
                req.volume.push(target.clone());
            }
        }
    }
    req.image_and_command = std::iter::once(image.clone()).chain(cmd.clone()).collect();
    Ok(CreateBody {
        request: req,
        image,
        cmd,
    })
}

fn host_config(req: &mut RunRequest, host: &Map<String, Value>) -> ApiResult<()> {
    req.volume
        .extend(strings(host, "Binds")?.unwrap_or_default());
    if let Some(mode) = str_field(host, "NetworkMode") {
        if mode.starts_with("container:") {
            return Err(ApiError::bad(
                "pocky does not support the network mode container:NAME yet",
            ));
        }
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

fn endpoint_config(req: &mut RunRequest, endpoints: &Map<String, Value>) -> ApiResult<()> {
    if endpoints.len() > 1 {
        return Err(ApiError::bad(
            "pocky attaches a container to one network at create: connect the others after",
        ));
    }
    let Some((net, ep)) = endpoints.iter().next() else {
        return Ok(());
    };
    let net = if net == "default" {
        "bridge"
    } else {
        net.as_str()
    };
    if req.network == "bridge" && net != "bridge" {
        req.network = net.to_owned();
    }
    let Some(ep) = ep.as_object() else {
        return Ok(());
    };
    req.network_alias = strings(ep, "Aliases")?.unwrap_or_default();
    if let Some(ipam) = object(ep, "IPAMConfig")?
        && let Some(ip) = str_field(ipam, "IPv4Address")
    {
        req.ip = Some(
            ip.parse()
                .map_err(|_| ApiError::bad(format!("invalid IPv4 address {ip:?}")))?,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cli_shape_becomes_a_run_request() {
        // What the docker CLI sends for
        // `run --rm -it -m 64m -p 8080:80 -v data:/data -e A=1 alpine sh`.
        let body = json!({
            "Hostname": "", "User": "", "AttachStdin": true, "Tty": true,
            "OpenStdin": true, "StdinOnce": true, "Env": ["A=1"], "Cmd": ["sh"],
            "Image": "alpine", "Volumes": {}, "WorkingDir": "", "Entrypoint": null,
            "Labels": {"k": "v"},
            "HostConfig": {
                "Binds": ["data:/data"], "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "AutoRemove": true, "Memory": 67108864, "MemorySwap": 0,
                "CpuShares": 0, "Ulimits": null, "IpcMode": "", "Init": null,
                "LogConfig": {"Type": "", "Config": {}}
            },
            "NetworkingConfig": {"EndpointsConfig": {}}
        });
        let c = parse(&body, Some("web"), None).unwrap();
        let r = &c.request;
        assert_eq!(c.image, "alpine");
        assert_eq!(c.cmd, ["sh"]);
        assert!(r.tty && r.interactive && r.rm);
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.memory.as_deref(), Some("67108864"));
        assert_eq!(r.publish, ["8080:80/tcp"]);
        assert_eq!(r.volume, ["data:/data"]);
        assert_eq!(r.network, "bridge");
        assert_eq!(r.label, ["k=v"]);
        assert_eq!(r.restart.as_deref(), Some("no"));
    }

    #[test]
    fn entrypoint_words_go_before_the_command() {
        let c = parse(
            &json!({"Image": "busybox", "Entrypoint": ["sh", "-c"], "Cmd": ["echo hi"]}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.entrypoint.as_deref(), Some("sh"));
        assert_eq!(c.cmd, ["-c", "echo hi"]);
        let cleared = parse(&json!({"Image": "busybox", "Entrypoint": []}), None, None).unwrap();
        assert_eq!(cleared.request.entrypoint.as_deref(), Some(""));
    }

    #[test]
    fn compose_volumes_are_not_mounted_twice() {
        let c = parse(
            &json!({"Image": "busybox", "Volumes": {"/data": {}, "/cache": {}},
                    "HostConfig": {"Binds": ["proj_data:/data:rw"]}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.volume, ["proj_data:/data:rw", "/cache"]);
    }

    #[test]
    fn networking_config_gives_network_aliases_and_address() {
        let c = parse(
            &json!({"Image": "busybox", "HostConfig": {"NetworkMode": "proj_default"},
                    "NetworkingConfig": {"EndpointsConfig": {"proj_default": {
                        "Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}}}}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.network, "proj_default");
        assert_eq!(c.request.network_alias, ["db"]);
        assert_eq!(c.request.ip, Some("10.9.0.5".parse().unwrap()));
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        for host in [
            json!({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}),
            json!({"Init": true}),
            json!({"PidMode": "host"}),
            json!({"CpuQuota": 5000}),
            json!({"LogConfig": {"Type": "syslog"}}),
        ] {
            let e =
                parse(&json!({"Image": "busybox", "HostConfig": host}), None, None).unwrap_err();
            assert_eq!(e.status, 400, "{host}");
            assert!(e.message.contains("pocky"), "{}", e.message);
        }
    }

    #[test]
    fn bad_shapes_are_bad_requests() {
        for body in [
            json!(null),
            json!([1, 2]),
            json!({"Cmd": ["x"]}),
            json!({"Image": "busybox", "Env": "A=1 B"}),
            json!({"Image": "busybox", "Env": [1]}),
            json!({"Image": "busybox", "HostConfig": {"Memory": "lots"}}),
            json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/a,b", "Target": "/x"}]}}),
        ] {
            assert_eq!(parse(&body, None, None).unwrap_err().status, 400, "{body}");
        }
    }

    #[test]
    fn healthchecks_in_both_forms() {
        let c = parse(
            &json!({"Image": "b", "Healthcheck": {"Test": ["CMD", "cat", "/it's"], "Interval": 1_000_000_000i64, "Retries": 2}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.health_cmd.as_deref(), Some(r"'cat' '/it'\''s'"));
        assert_eq!(c.request.health_interval.as_deref(), Some("1000000000ns"));
        assert_eq!(c.request.health_retries, Some(2));
    }
}
