//! `POST /containers/create`'s body (Docker's container Config with its
//! HostConfig and NetworkingConfig) as the engine's [`RunRequest`]: the
//! same request the CLI's flags make, so both front ends create alike.
//!
//! Zero values are what clients send for "not set". A field that pocky
//! cannot honour yet is refused by name with a 400 rather than ignored,
//! so a compose file never runs with a limit silently dropped.

use pocky_engine::RunRequest;
use serde_json::{Map, Value};

use crate::host_config::{endpoint_config, host_config, refuse_unsupported};
use crate::{ApiError, ApiResult};

/// The request, the image and the command.
#[derive(Debug, Clone)]
pub struct CreateBody {
    pub request: RunRequest,
    pub image: String,
    pub cmd: Vec<String>,
}

pub(crate) fn str_field<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub(crate) fn bool_field(o: &Map<String, Value>, key: &str) -> bool {
    o.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(crate) fn int_field(o: &Map<String, Value>, key: &str) -> ApiResult<i64> {
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

pub(crate) fn object<'a>(
    o: &'a Map<String, Value>,
    key: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::bad(format!("{key} must be an object"))),
    }
}

/// `/bin/sh` words for a command given as a list.
pub(crate) fn shell_join(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn duration_ns(o: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    let ns = int_field(o, key)?;
    Ok((ns != 0).then(|| format!("{ns}ns")))
}

pub(crate) fn healthcheck(req: &mut RunRequest, h: &Map<String, Value>) -> ApiResult<()> {
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
    // Before API 1.44 the MAC address was the container's, in Config.
    req.mac_address = str_field(config, "MacAddress").map(str::to_owned);
    if let Some(ports) = object(config, "ExposedPorts")? {
        req.expose = ports.keys().cloned().collect();
    }
    host_config(&mut req, host)?;
    crate::host_config_more::more_host_config(&mut req, host, config)?;
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
    fn network_settings_of_issue_16() {
        let c = parse(
            &json!({"Image": "b", "MacAddress": "02:42:ac:11:00:09",
                    "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                    "HostConfig": {"NetworkMode": "app", "DnsSearch": ["example.com"],
                        "DnsOptions": ["ndots:2"], "Links": ["db:database"]},
                    "NetworkingConfig": {"EndpointsConfig": {"app": {
                        "IPAMConfig": {"IPv6Address": "fd00::9"}, "Links": ["cache"]}}}}),
            None,
            None,
        )
        .unwrap();
        let r = &c.request;
        assert_eq!(r.mac_address.as_deref(), Some("02:42:ac:11:00:09"));
        assert_eq!(r.expose, ["53/udp", "80/tcp"]);
        assert_eq!(r.dns_search, ["example.com"]);
        assert_eq!(r.dns_option, ["ndots:2"]);
        assert_eq!(r.link, ["db:database", "cache"]);
        assert_eq!(r.ip6, Some("fd00::9".parse().unwrap()));
        let e = parse(
            &json!({"Image": "b", "NetworkingConfig": {"EndpointsConfig": {"app": {
                "IPAMConfig": {"IPv6Address": "10.0.0.1"}}}}}),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        for host in [json!({"Runtime": "kata"}), json!({"Isolation": "hyperv"})] {
            let e =
                parse(&json!({"Image": "busybox", "HostConfig": host}), None, None).unwrap_err();
            assert_eq!(e.status, 400, "{host}");
            assert!(e.message.contains("pocky"), "{}", e.message);
        }
    }

    #[test]
    fn the_less_common_host_fields_become_flags() {
        let c = parse(
            &json!({"Image": "b", "Domainname": "example.org", "HostConfig": {
                "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                "Sysctls": {"net.ipv4.ip_forward": "1"},
                "Init": true, "PidMode": "host", "IpcMode": "container:db",
                "CpuQuota": 5000, "CpuPeriod": 10000, "CpusetCpus": "0",
                "MemorySwap": -1, "MemorySwappiness": 10, "OomScoreAdj": 100,
                "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1024}],
                "GroupAdd": ["audio"], "ShmSize": 1048576, "VolumesFrom": ["db:ro"],
                "DeviceRequests": [{"Count": -1}], "Annotations": {"a": "b"}}}),
            None,
            None,
        )
        .unwrap();
        let r = c.request;
        assert_eq!(r.ulimit, ["nofile=10:20"]);
        assert_eq!(r.sysctl, ["net.ipv4.ip_forward=1"]);
        assert!(r.init);
        assert_eq!(r.pid.as_deref(), Some("host"));
        assert_eq!(r.ipc.as_deref(), Some("container:db"));
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(5000), Some(10000)));
        assert_eq!(r.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(r.memory_swap.as_deref(), Some("-1"));
        assert_eq!(r.memory_swappiness, Some(10));
        assert_eq!(r.oom_score_adj, Some(100));
        assert_eq!(r.device_read_bps, ["/dev/sda:1024"]);
        assert_eq!(r.group_add, ["audio"]);
        assert_eq!(r.shm_size.as_deref(), Some("1048576"));
        assert_eq!(r.volumes_from, ["db:ro"]);
        assert_eq!(r.refused[0].0, "--gpus");
        assert_eq!(r.annotation, ["a=b"]);
        assert_eq!(r.domainname.as_deref(), Some("example.org"));
    }

    #[test]
    fn log_config_becomes_the_log_flags() {
        let c = parse(
            &json!({"Image": "b", "HostConfig": {"LogConfig": {"Type": "json-file",
                    "Config": {"max-size": "1m", "max-file": "2"}}}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.log_driver.as_deref(), Some("json-file"));
        assert_eq!(c.request.log_opt, ["max-file=2", "max-size=1m"]);
        // The CLI's unset driver is "": the default.
        let c = parse(
            &json!({"Image": "b", "HostConfig": {"LogConfig": {"Type": "", "Config": {}}}}),
            None,
            None,
        )
        .unwrap();
        assert_eq!(c.request.log_driver, None);
        let bad = json!({"Image": "b", "HostConfig": {"LogConfig": {"Config": {"max-size": 1}}}});
        assert_eq!(parse(&bad, None, None).unwrap_err().status, 400);
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
