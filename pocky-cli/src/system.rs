//! `pocky info` (`system info`) and `pocky version`: the engine's Docker
//! documents (`pocky_engine::system_info`), printed as the docker CLI
//! prints them, or through `--format`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use pocky_engine::store::Store;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// `json` or a Go template over Docker's info (`{{.ServerVersion}}`,
    /// `{{json .}}`).
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// `json` or a Go template (`{{.Server.Version}}`, `{{json .}}`).
    #[arg(short, long)]
    pub format: Option<String>,
}

/// The client half of `info` and `version`: pocky is its own client.
fn client_info() -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Context": "default",
        "Debug": crate::log::enabled(crate::cli::LogLevel::Debug),
        "Plugins": [],
        "Warnings": null,
    })
}

fn print_formatted(format: &str, data: &Value) -> Result<ExitCode> {
    if format == "json" {
        println!("{data}");
    } else {
        print!(
            "{}",
            crate::template::render_each(
                &crate::template::parse(format)?,
                std::slice::from_ref(data)
            )?
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn info(root: &Path, args: &InfoArgs) -> Result<ExitCode> {
    let store = Store::open(root)?;
    let mut data = pocky_engine::system_info::info(&store)?;
    data["ClientInfo"] = client_info();
    if let Some(f) = &args.format {
        return print_formatted(f, &data);
    }
    print!("{}", info_text(&data));
    Ok(ExitCode::SUCCESS)
}

/// `docker info`'s text: the client, then the server's lines that apply.
fn info_text(i: &Value) -> String {
    let s = |k: &str| match &i[k] {
        Value::String(v) => v.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let c = &i["ClientInfo"];
    let mut o = String::new();
    let _ = writeln!(o, "Client:");
    let _ = writeln!(o, " Version:    {}", c["Version"].as_str().unwrap_or(""));
    let _ = writeln!(o, " Context:    {}", c["Context"].as_str().unwrap_or(""));
    let _ = writeln!(o, " Debug Mode: {}", c["Debug"]);
    let _ = writeln!(o);
    let _ = writeln!(o, "Server:");
    let _ = writeln!(o, " Containers: {}", s("Containers"));
    let _ = writeln!(o, "  Running: {}", s("ContainersRunning"));
    let _ = writeln!(o, "  Paused: {}", s("ContainersPaused"));
    let _ = writeln!(o, "  Stopped: {}", s("ContainersStopped"));
    let _ = writeln!(o, " Images: {}", s("Images"));
    let _ = writeln!(o, " Server Version: {}", s("ServerVersion"));
    let _ = writeln!(o, " Storage Driver: {}", s("Driver"));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        let p = list(pair);
        if let [k, v] = p.as_slice() {
            let _ = writeln!(o, "  {k}: {v}");
        }
    }
    let _ = writeln!(o, " Logging Driver: {}", s("LoggingDriver"));
    let _ = writeln!(o, " Cgroup Driver: {}", s("CgroupDriver"));
    let _ = writeln!(o, " Cgroup Version: {}", s("CgroupVersion"));
    let _ = writeln!(o, " Plugins:");
    for kind in ["Volume", "Network", "Log"] {
        let _ = writeln!(o, "  {kind}: {}", list(&i["Plugins"][kind]).join(" "));
    }
    let _ = writeln!(
        o,
        " Swarm: {}",
        i["Swarm"]["LocalNodeState"].as_str().unwrap_or("inactive")
    );
    let runtimes: Vec<&String> = i["Runtimes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let _ = writeln!(
        o,
        " Runtimes: {}",
        runtimes
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(o, " Default Runtime: {}", s("DefaultRuntime"));
    let _ = writeln!(o, " Security Options:");
    for opt in list(&i["SecurityOptions"]) {
        // `name=seccomp,profile=builtin` as Docker shows it.
        let mut parts = opt.split(',');
        let name = parts.next().unwrap_or("");
        let _ = writeln!(o, "  {}", name.strip_prefix("name=").unwrap_or(name));
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let mut key = k.to_owned();
                if let Some(first) = key.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                let _ = writeln!(o, "   {key}: {v}");
            }
        }
    }
    let _ = writeln!(o, " Kernel Version: {}", s("KernelVersion"));
    let _ = writeln!(o, " Operating System: {}", s("OperatingSystem"));
    let _ = writeln!(o, " OSType: {}", s("OSType"));
    let _ = writeln!(o, " Architecture: {}", s("Architecture"));
    let _ = writeln!(o, " CPUs: {}", s("NCPU"));
    let _ = writeln!(
        o,
        " Total Memory: {}",
        binary_size(i["MemTotal"].as_u64().unwrap_or(0))
    );
    let _ = writeln!(o, " Name: {}", s("Name"));
    let _ = writeln!(o, " ID: {}", s("ID"));
    let _ = writeln!(o, " Docker Root Dir: {}", s("DockerRootDir"));
    let _ = writeln!(o, " Debug Mode: {}", s("Debug"));
    let _ = writeln!(o, " Experimental: {}", s("ExperimentalBuild"));
    let _ = writeln!(o, " Insecure Registries:");
    for cidr in list(&i["RegistryConfig"]["InsecureRegistryCIDRs"]) {
        let _ = writeln!(o, "  {cidr}");
    }
    let _ = writeln!(o, " Live Restore Enabled: {}", s("LiveRestoreEnabled"));
    for w in list(&i["Warnings"]) {
        let _ = writeln!(o, "{w}");
    }
    o
}

/// Docker's `units.BytesSize` (binary units, `23.45GiB`) for memory.
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    // Go's %.4g: four significant digits.
    let whole = if v >= 1000.0 {
        4
    } else if v >= 100.0 {
        3
    } else if v >= 10.0 {
        2
    } else {
        1
    };
    let digits = 4usize.saturating_sub(whole);
    let s = format!("{v:.digits$}");
    let s = match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.'),
        false => s.as_str(),
    };
    format!("{s}{}", UNITS[u])
}

pub fn version(args: &VersionArgs) -> Result<ExitCode> {
    let server =
        pocky_engine::system_info::version(pocky_api::API_VERSION, pocky_api::MIN_API_VERSION);
    let data = json!({
        "Client": {
            "Platform": {"Name": "pocky"},
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": pocky_api::API_VERSION,
            "DefaultAPIVersion": pocky_api::API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": pocky_engine::system_info::go_arch(),
            "BuildTime": "",
            "Context": "default",
        },
        "Server": server,
    });
    if let Some(f) = &args.format {
        return print_formatted(f, &data);
    }
    let c = &data["Client"];
    let sv = &data["Server"];
    let t = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut o = String::new();
    let _ = writeln!(o, "Client:");
    let _ = writeln!(o, " Version:           {}", t(&c["Version"]));
    let _ = writeln!(o, " API version:       {}", t(&c["ApiVersion"]));
    let _ = writeln!(o, " OS/Arch:           {}/{}", t(&c["Os"]), t(&c["Arch"]));
    let _ = writeln!(o, " Context:           {}", t(&c["Context"]));
    let _ = writeln!(o);
    let _ = writeln!(o, "Server: {}", t(&sv["Platform"]["Name"]));
    let _ = writeln!(o, " Engine:");
    let _ = writeln!(o, "  Version:          {}", t(&sv["Version"]));
    let _ = writeln!(
        o,
        "  API version:      {} (minimum version {})",
        t(&sv["ApiVersion"]),
        t(&sv["MinAPIVersion"])
    );
    let _ = writeln!(o, "  OS/Arch:          {}/{}", t(&sv["Os"]), t(&sv["Arch"]));
    let _ = writeln!(o, "  Kernel version:   {}", t(&sv["KernelVersion"]));
    let _ = writeln!(o, "  Experimental:     false");
    let _ = writeln!(o, " pocky-runtime:");
    let _ = writeln!(o, "  Version:          {}", t(&sv["Version"]));
    print!("{o}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_in_binary_units() {
        assert_eq!(binary_size(25_179_000_000), "23.45GiB");
        assert_eq!(binary_size(1024), "1KiB");
        assert_eq!(binary_size(0), "0B");
    }
}
