//! The instructions that change only the image config: ENV, LABEL,
//! WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL,
//! HEALTHCHECK, ONBUILD, MAINTAINER, and ARG's scope.

use pocky_build::{Command, Healthcheck, Instruction};
use serde_json::{Map, Value, json};

use super::args::{self, expand_word};
use super::stage::{Action, Build, Plan, Work};

/// The base image's ONBUILD triggers, parsed, and cleared from the config
/// (a child of the child does not run them again).
pub(super) fn take_triggers(work: &mut Work) -> crate::Result<Vec<(String, Instruction)>> {
    let Some(list) = work.inner().remove("OnBuild") else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for t in list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let parsed = pocky_build::parse(t)
            .map_err(|e| crate::invalid!("the base image's ONBUILD trigger {t:?}: {e}"))?;
        for step in parsed.steps {
            if matches!(step.instruction, Instruction::From { .. }) {
                return Err(crate::invalid!(
                    "ONBUILD trigger {t:?}: FROM is not allowed"
                ));
            }
            out.push((t.to_owned(), step.instruction));
        }
    }
    Ok(out)
}

/// ARG: the build arg's value, else the default, else the global ARG's.
pub(super) fn declare_args(
    b: &mut Build<'_>,
    work: &mut Work,
    pairs: &[(String, Option<String>)],
    line: usize,
) -> crate::Result<()> {
    for (name, default) in pairs {
        let value = match b.build_args.get(name) {
            Some(v) => {
                b.used_args.insert(name.clone());
                Some(v.clone())
            }
            None => match default {
                Some(d) => {
                    let env = work.env();
                    let vars = args::lookup(&env, &work.scope, b.build_args);
                    Some(expand_word(d, &vars, b.escape, line)?)
                }
                None => global_value(b, name, line)?,
            },
        };
        work.scope.declare(name, value);
    }
    Ok(())
}

/// A global ARG's value: its build arg, else its default expanded with the
/// globals before it.
fn global_value(b: &Build<'_>, name: &str, line: usize) -> crate::Result<Option<String>> {
    let mut scope = args::Scope::default();
    for (k, default) in b.global_args {
        let v = match b.build_args.get(k) {
            Some(v) => Some(v.clone()),
            None => match default {
                Some(d) => {
                    let vars = args::lookup(&[], &scope, b.build_args);
                    Some(expand_word(d, &vars, b.escape, line)?)
                }
                None => None,
            },
        };
        scope.declare(k, v);
    }
    Ok(scope.get(name).map(str::to_owned))
}

fn config(descriptor: String, apply: impl FnOnce(&mut Work) + 'static) -> Plan {
    Plan {
        history: descriptor.clone(),
        descriptor,
        action: Action::Config(Box::new(apply)),
    }
}

/// The argv of a CMD, ENTRYPOINT or HEALTHCHECK command: exec form as it
/// is, shell form through the stage's SHELL.
pub(super) fn argv(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

pub(super) fn plan(
    b: &mut Build<'_>,
    work: &mut Work,
    instruction: &Instruction,
    line: usize,
) -> crate::Result<Plan> {
    let env = work.env();
    let vars = args::lookup(&env, &work.scope, b.build_args);
    let ex = |w: &str| expand_word(w, &vars, b.escape, line);
    let pairs = |p: &[(String, String)]| -> crate::Result<Vec<(String, String)>> {
        p.iter().map(|(k, v)| Ok((ex(k)?, ex(v)?))).collect()
    };
    Ok(match instruction {
        Instruction::Env(p) => {
            let p = pairs(p)?;
            let text = join_pairs("ENV", &p);
            config(text, move |w| {
                for (k, v) in p {
                    set_env(w.inner(), &k, &v);
                }
            })
        }
        Instruction::Label(p) => {
            let p = pairs(p)?;
            let text = join_pairs("LABEL", &p);
            config(text, move |w| {
                let labels = object(w.inner(), "Labels");
                for (k, v) in p {
                    labels.insert(k, json!(v));
                }
            })
        }
        Instruction::Workdir(dir) => {
            let dir = ex(dir)?;
            let full = match dir.starts_with('/') {
                true => dir,
                false => format!("{}/{dir}", work.workdir().trim_end_matches('/')),
            };
            let full = clean(&full);
            config(format!("WORKDIR {full}"), move |w| {
                w.inner().insert("WorkingDir".into(), json!(full));
            })
        }
        Instruction::User(u) => {
            let u = ex(u)?;
            config(format!("USER {u}"), move |w| {
                w.inner().insert("User".into(), json!(u));
            })
        }
        Instruction::StopSignal(s) => {
            let s = ex(s)?;
            pocky_runtime::process::parse_signal(&s)
                .map_err(|e| crate::invalid!("Dockerfile line {line}: STOPSIGNAL {s}: {e}"))?;
            config(format!("STOPSIGNAL {s}"), move |w| {
                w.inner().insert("StopSignal".into(), json!(s));
            })
        }
        Instruction::Expose(ports) => {
            let mut keys = Vec::new();
            for p in ports {
                keys.extend(expose_keys(&ex(p)?, line)?);
            }
            config(format!("EXPOSE {}", keys.join(" ")), move |w| {
                let map = object(w.inner(), "ExposedPorts");
                for k in keys {
                    map.insert(k, json!({}));
                }
            })
        }
        Instruction::Volume(paths) => {
            let paths = paths
                .iter()
                .map(|p| ex(p))
                .collect::<crate::Result<Vec<_>>>()?;
            if paths.iter().any(String::is_empty) {
                return Err(crate::invalid!(
                    "Dockerfile line {line}: VOLUME specified can not be an empty string"
                ));
            }
            config(format!("VOLUME {paths:?}"), move |w| {
                let map = object(w.inner(), "Volumes");
                for p in paths {
                    map.insert(p, json!({}));
                }
            })
        }
        Instruction::Cmd(c) => {
            let v = argv(c, &work.shell());
            work.cmd_set = true;
            config(format!("CMD {}", json!(v)), move |w| {
                w.inner().insert("Cmd".into(), json!(v));
            })
        }
        Instruction::Entrypoint(c) => {
            let v = argv(c, &work.shell());
            let reset_cmd = !work.cmd_set;
            config(format!("ENTRYPOINT {}", json!(v)), move |w| {
                w.inner().insert("Entrypoint".into(), json!(v));
                // A base image's CMD was meant for its own entrypoint.
                if reset_cmd {
                    w.inner().insert("Cmd".into(), Value::Null);
                }
            })
        }
        Instruction::Shell(v) => {
            let v = v.clone();
            config(format!("SHELL {}", json!(v)), move |w| {
                w.inner().insert("Shell".into(), json!(v));
            })
        }
        Instruction::Healthcheck(h) => {
            let value = health(h, &work.shell());
            config(format!("HEALTHCHECK {value}"), move |w| {
                w.inner().insert("Healthcheck".into(), value);
            })
        }
        Instruction::Onbuild { text, .. } => {
            let text = text.clone();
            config(format!("ONBUILD {text}"), move |w| {
                let list = w.inner().entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(text));
                }
            })
        }
        Instruction::Maintainer(m) => {
            let m = m.clone();
            config(format!("MAINTAINER {m}"), move |w| {
                w.config["author"] = json!(m);
            })
        }
        Instruction::From { .. } | Instruction::Arg(_) => {
            return Err(crate::invalid!(
                "Dockerfile line {line}: unexpected instruction"
            ));
        }
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) => {
            return Err(crate::invalid!(
                "Dockerfile line {line}: not a config instruction"
            ));
        }
    })
}

fn join_pairs(kw: &str, p: &[(String, String)]) -> String {
    let body: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{kw} {}", body.join(" "))
}

fn set_env(config: &mut Map<String, Value>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let env = config.entry("Env").or_insert_with(|| json!([]));
    if !env.is_array() {
        *env = json!([]);
    }
    if let Some(list) = env.as_array_mut() {
        let prefix = format!("{key}=");
        match list.iter_mut().find(|e| {
            e.as_str()
                .is_some_and(|s| s.starts_with(&prefix) || s == key)
        }) {
            Some(slot) => *slot = json!(entry),
            None => list.push(json!(entry)),
        }
    }
}

fn object<'m>(config: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = config.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot.as_object_mut() {
        Some(m) => m,
        None => unreachable!("made an object above"),
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` as ExposedPorts keys.
fn expose_keys(spec: &str, line: usize) -> crate::Result<Vec<String>> {
    let bad = || crate::invalid!("Dockerfile line {line}: EXPOSE: invalid port {spec:?}");
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo > hi || hi - lo > 10_000 {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn health(h: &Healthcheck, shell: &[String]) -> Value {
    match h {
        Healthcheck::None => json!({"Test": ["NONE"]}),
        Healthcheck::Cmd { command, options } => {
            let test: Vec<String> = match command {
                Command::Exec(v) => std::iter::once("CMD".to_owned())
                    .chain(v.iter().cloned())
                    .collect(),
                Command::Shell(s) => {
                    let _ = shell;
                    vec!["CMD-SHELL".to_owned(), s.clone()]
                }
            };
            let mut v = json!({"Test": test});
            let ns =
                |d: &std::time::Duration| json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            if let Some(d) = &options.interval {
                v["Interval"] = ns(d);
            }
            if let Some(d) = &options.timeout {
                v["Timeout"] = ns(d);
            }
            if let Some(d) = &options.start_period {
                v["StartPeriod"] = ns(d);
            }
            if let Some(d) = &options.start_interval {
                v["StartInterval"] = ns(d);
            }
            if let Some(r) = options.retries {
                v["Retries"] = json!(r);
            }
            v
        }
    }
}

/// `/a/./b/../c/` as `/a/c`.
pub(super) fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_ranges_and_protocols() {
        assert_eq!(expose_keys("80", 1).unwrap(), vec!["80/tcp"]);
        assert_eq!(expose_keys("53/UDP", 1).unwrap(), vec!["53/udp"]);
        assert_eq!(
            expose_keys("1-3", 1).unwrap(),
            vec!["1/tcp", "2/tcp", "3/tcp"]
        );
        for bad in ["x", "80/icmp", "3-1", "70000"] {
            assert!(expose_keys(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
        assert_eq!(clean("/../x"), "/x");
    }
}
