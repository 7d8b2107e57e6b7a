//! The HostConfig fields of Docker's less common run flags (issue 16's):
//! CPU sets and CFS numbers, memory swap and reservation, block IO,
//! device cgroup rules, ulimits, sysctls, groups, namespaces, `/dev/shm`,
//! annotations, init and volumes-from, as the engine's `RunRequest` takes
//! them (Docker's command-line syntax in strings).

use pocky_engine::RunRequest;
use serde_json::{Map, Value};

use crate::create_body::{bool_field, int_field, object, str_field, strings};
use crate::{ApiError, ApiResult};

/// Fills `req` from `host`; `config` is the create body's Config.
pub(crate) fn more_host_config(
    req: &mut RunRequest,
    host: &Map<String, Value>,
    config: &Map<String, Value>,
) -> ApiResult<()> {
    let positive = |key: &str| -> ApiResult<Option<i64>> {
        Ok(Some(int_field(host, key)?).filter(|v| *v != 0))
    };
    req.cpuset_cpus = str_field(host, "CpusetCpus").map(str::to_owned);
    req.cpuset_mems = str_field(host, "CpusetMems").map(str::to_owned);
    req.cpu_period = positive("CpuPeriod")?.map(|v| v.unsigned_abs());
    req.cpu_quota = positive("CpuQuota")?;
    req.cpu_rt_period = positive("CpuRealtimePeriod")?.map(|v| v.unsigned_abs());
    req.cpu_rt_runtime = positive("CpuRealtimeRuntime")?;
    req.memory_swap = positive("MemorySwap")?.map(|v| v.to_string());
    req.memory_reservation = positive("MemoryReservation")?.map(|v| v.to_string());
    req.kernel_memory = positive("KernelMemory")?.map(|v| v.to_string());
    req.memory_swappiness = match host.get("MemorySwappiness") {
        None | Some(Value::Null) => None,
        Some(_) => Some(int_field(host, "MemorySwappiness")?),
    };
    req.oom_kill_disable = bool_field(host, "OomKillDisable");
    req.oom_score_adj = match int_field(host, "OomScoreAdj")? {
        0 => None,
        v => Some(
            i32::try_from(v).map_err(|_| ApiError::bad(format!("OomScoreAdj {v} out of range")))?,
        ),
    };
    req.blkio_weight = match int_field(host, "BlkioWeight")? {
        0 => None,
        v => Some(
            u16::try_from(v).map_err(|_| ApiError::bad(format!("BlkioWeight {v} out of range")))?,
        ),
    };
    req.blkio_weight_device = device_values(host, "BlkioWeightDevice", "Weight")?;
    req.device_read_bps = device_values(host, "BlkioDeviceReadBps", "Rate")?;
    req.device_write_bps = device_values(host, "BlkioDeviceWriteBps", "Rate")?;
    req.device_read_iops = device_values(host, "BlkioDeviceReadIOps", "Rate")?;
    req.device_write_iops = device_values(host, "BlkioDeviceWriteIOps", "Rate")?;
    req.device_cgroup_rule = strings(host, "DeviceCgroupRules")?.unwrap_or_default();
    if host
        .get("DeviceRequests")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        req.refused.push(("--gpus".into(), "DeviceRequests".into()));
    }
    if let Some(Value::Array(list)) = host.get("Ulimits") {
        for u in list {
            let u = u
                .as_object()
                .ok_or_else(|| ApiError::bad("a ulimit must be an object"))?;
            let name =
                str_field(u, "Name").ok_or_else(|| ApiError::bad("a ulimit needs a Name"))?;
            req.ulimit.push(format!(
                "{name}={}:{}",
                int_field(u, "Soft")?,
                int_field(u, "Hard")?
            ));
        }
    }
    if let Some(sysctls) = object(host, "Sysctls")? {
        for (k, v) in sysctls {
            let v = v
                .as_str()
                .ok_or_else(|| ApiError::bad("Sysctls must map names to strings"))?;
            req.sysctl.push(format!("{k}={v}"));
        }
    }
    req.group_add = strings(host, "GroupAdd")?.unwrap_or_default();
    req.volumes_from = strings(host, "VolumesFrom")?.unwrap_or_default();
    req.shm_size = positive("ShmSize")?.map(|v| v.to_string());
    if let Some(annotations) = object(host, "Annotations")? {
        for (k, v) in annotations {
            let v = v
                .as_str()
                .ok_or_else(|| ApiError::bad("Annotations must map keys to strings"))?;
            req.annotation.push(format!("{k}={v}"));
        }
    }
    req.domainname = str_field(config, "Domainname").map(str::to_owned);
    req.init = bool_field(host, "Init");
    req.pid = str_field(host, "PidMode").map(str::to_owned);
    req.ipc = str_field(host, "IpcMode").map(str::to_owned);
    req.uts = str_field(host, "UTSMode").map(str::to_owned);
    req.cgroupns = str_field(host, "CgroupnsMode").map(str::to_owned);
    Ok(())
}

/// `[{"Path": "/dev/sda", "Rate": 1048576}]` as `/dev/sda:1048576`.
fn device_values(host: &Map<String, Value>, key: &str, value: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    if let Some(Value::Array(list)) = host.get(key) {
        for d in list {
            let d = d
                .as_object()
                .ok_or_else(|| ApiError::bad(format!("{key} must hold objects")))?;
            let path =
                str_field(d, "Path").ok_or_else(|| ApiError::bad(format!("{key} needs a Path")))?;
            out.push(format!("{path}:{}", int_field(d, value)?));
        }
    }
    Ok(out)
}
