//! The HostConfig fields of the less common run flags, read back from the
//! bundle's spec, which is where create put them (`run_flags.rs`,
//! `ns_share.rs`): one owner for each fact.

use serde_json::{Value, json};

/// Adds them to `v`, a container inspect document built from `spec`.
pub fn fill(spec: &Value, v: &mut Value) {
    let res = spec.pointer("/linux/resources").unwrap_or(&Value::Null);
    let num = |p: &str| res.pointer(p).cloned().unwrap_or(json!(0));
    let text = |p: &str| res.pointer(p).cloned().unwrap_or(json!(""));
    let annotations = spec["annotations"].as_object().cloned().unwrap_or_default();
    let pocky = |k: &str| annotations.get(k).and_then(Value::as_str);
    let namespaces: Vec<&str> = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|n| n["type"].as_str()).collect())
        .unwrap_or_default();
    let mode = |ns: &str, file: &str, own: &str| -> String {
        match pocky(&format!("io.pocky.ns.{file}")) {
            Some(id) => format!("container:{id}"),
            None if !namespaces.contains(&ns) => "host".into(),
            None => own.into(),
        }
    };
    let ulimits: Vec<Value> = spec
        .pointer("/process/rlimits")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|r| {
                    let name = r["type"].as_str().unwrap_or("");
                    json!({
                        "Name": name.trim_start_matches("RLIMIT_").to_ascii_lowercase(),
                        "Soft": r["soft"], "Hard": r["hard"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut groups: Vec<String> = spec
        .pointer("/process/user/additionalGids")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    if let Some(names) = pocky(pocky_runtime::user::GROUP_ADD_ANNOTATION) {
        groups.extend(names.split(',').map(str::to_owned));
    }
    let shm = spec["mounts"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["destination"] == "/dev/shm"))
        .and_then(|m| m["options"].as_array())
        .and_then(|o| o.iter().find_map(|o| o.as_str()?.strip_prefix("size=")))
        .and_then(|s| s.strip_suffix('k')?.parse::<u64>().ok())
        .map_or(0, |k| k * 1024);
    let users: serde_json::Map<String, Value> = annotations
        .iter()
        .filter(|(k, _)| !k.starts_with("io.pocky."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The user's rules: those beyond Docker's defaults, which every
    // container gets.
    let defaults: Vec<String> = pocky_cgroup::DeviceRule::docker_defaults()
        .iter()
        .map(ToString::to_string)
        .collect();
    let rules: Vec<String> = res["devices"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|d| d["allow"] == true && d["access"].is_string())
                .map(|d| {
                    let n = |k: &str| d[k].as_i64().map_or("*".to_owned(), |n| n.to_string());
                    format!(
                        "{} {}:{} {}",
                        d["type"].as_str().unwrap_or("a"),
                        n("major"),
                        n("minor"),
                        d["access"].as_str().unwrap_or("")
                    )
                })
                .filter(|r| !defaults.contains(r))
                .collect()
        })
        .unwrap_or_default();
    let hc = &mut v["HostConfig"];
    hc["CpusetCpus"] = text("/cpu/cpus");
    hc["CpusetMems"] = text("/cpu/mems");
    hc["CpuPeriod"] = num("/cpu/period");
    hc["CpuQuota"] = num("/cpu/quota");
    hc["CpuRealtimePeriod"] = num("/cpu/realtimePeriod");
    hc["CpuRealtimeRuntime"] = num("/cpu/realtimeRuntime");
    hc["MemorySwap"] = num("/memory/swap");
    hc["MemoryReservation"] = num("/memory/reservation");
    hc["MemorySwappiness"] = res
        .pointer("/memory/swappiness")
        .cloned()
        .unwrap_or(Value::Null);
    hc["OomKillDisable"] = json!(res.pointer("/memory/disableOOMKiller") == Some(&json!(true)));
    hc["BlkioWeight"] = num("/blockIO/weight");
    hc["OomScoreAdj"] = spec
        .pointer("/process/oomScoreAdj")
        .cloned()
        .unwrap_or(json!(0));
    hc["Ulimits"] = json!(ulimits);
    hc["Sysctls"] = spec.pointer("/linux/sysctl").cloned().unwrap_or(json!({}));
    hc["GroupAdd"] = json!(groups);
    hc["ShmSize"] = json!(shm);
    hc["Annotations"] = json!(users);
    hc["DeviceCgroupRules"] = json!(rules);
    hc["Init"] = json!(pocky(pocky_runtime::init::INIT_ANNOTATION) == Some("true"));
    hc["PidMode"] = json!(mode("pid", "pid", ""));
    hc["IpcMode"] = json!(mode("ipc", "ipc", "private"));
    hc["UTSMode"] = json!(mode("uts", "uts", ""));
    hc["CgroupnsMode"] = json!(mode("cgroup", "cgroup", "private"));
    v["Config"]["Domainname"] = spec.get("domainname").cloned().unwrap_or(json!(""));
}
