//! `--change` of `commit` and `import`: the Dockerfile instructions that
//! only set image configuration (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
//! ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL), applied to the `config`
//! object of an image config, as Docker applies them.

use serde_json::{Map, Value, json};

use crate::{Result, invalid};

/// Applies one instruction, e.g. `CMD ["sh"]` or `ENV A=1 B=2`.
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(w, r)| (w, r.trim()));
    let needs = |what: &str| -> Result<()> {
        match rest.is_empty() {
            true => Err(invalid!("{word} requires {what}")),
            false => Ok(()),
        }
    };
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            needs("at least one argument")?;
            config.insert("Cmd".into(), json!(command(rest)?));
        }
        "ENTRYPOINT" => {
            needs("at least one argument")?;
            config.insert("Entrypoint".into(), json!(command(rest)?));
        }
        "ENV" => {
            needs("a name")?;
            for (k, v) in pairs(rest, "ENV")? {
                set_env(config, &k, &v);
            }
        }
        "LABEL" => {
            needs("a label")?;
            let labels = object(config, "Labels");
            for (k, v) in pairs(rest, "LABEL")? {
                labels.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            needs("a port")?;
            let ports = object(config, "ExposedPorts");
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(invalid!("EXPOSE: invalid port {p:?}"));
                }
                ports.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            needs("a path")?;
            let paths = match rest.starts_with('[') {
                true => json_list(rest)?,
                false => rest.split_whitespace().map(str::to_owned).collect(),
            };
            let vols = object(config, "Volumes");
            for p in paths {
                vols.insert(p, json!({}));
            }
        }
        "USER" => {
            needs("a user")?;
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            needs("a path")?;
            let dir = match rest.starts_with('/') {
                true => rest.to_owned(),
                false => {
                    let base = config
                        .get("WorkingDir")
                        .and_then(Value::as_str)
                        .unwrap_or("/");
                    format!("{}/{rest}", base.trim_end_matches('/'))
                }
            };
            config.insert("WorkingDir".into(), json!(dir));
        }
        "STOPSIGNAL" => {
            needs("a signal")?;
            config.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            needs("an instruction")?;
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(a) = list.as_array_mut() {
                a.push(json!(rest));
            }
        }
        "" => return Err(invalid!("empty --change")),
        other => {
            return Err(invalid!(
                "{other} is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL)"
            ));
        }
    }
    Ok(())
}

/// JSON form as it is, shell form through `/bin/sh -c`.
fn command(rest: &str) -> Result<Vec<String>> {
    match rest.starts_with('[') {
        true => json_list(rest),
        false => Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()]),
    }
}

fn json_list(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| invalid!("invalid JSON list {s:?}: {e}"))
}

/// `K=V K2="v 2"` or the old `K V` form (one pair, the rest is the value).
fn pairs(rest: &str, what: &str) -> Result<Vec<(String, String)>> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid!("{what} {rest:?} needs a value"))?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    let mut out = Vec::new();
    for word in words(rest)? {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| invalid!("{what}: {word:?} is not KEY=VALUE"))?;
        if k.is_empty() {
            return Err(invalid!("{what}: a name is empty"));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// Splits at unquoted whitespace; double and single quotes group, a
/// backslash escapes the next character (outside single quotes).
fn words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(invalid!("unterminated quote in {s:?}"));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

pub(crate) fn set_env(config: &mut Map<String, Value>, key: &str, value: &str) {
    let env = config.entry("Env").or_insert_with(|| json!([]));
    if !env.is_array() {
        *env = json!([]);
    }
    if let Value::Array(list) = env {
        let entry = format!("{key}={value}");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Value {
        let mut m = Map::new();
        m.insert("Env".into(), json!(["PATH=/bin", "A=0"]));
        for c in changes {
            apply(&mut m, c).unwrap();
        }
        Value::Object(m)
    }

    #[test]
    fn instructions_set_config_as_docker() {
        let v = applied(&[
            r#"CMD ["echo", "hi"]"#,
            "ENTRYPOINT top -b",
            r#"ENV A=1 B="two words""#,
            "ENV OLD style value",
            "LABEL team=web",
            "EXPOSE 80 53/udp",
            "VOLUME /data /cache",
            "USER app",
            "WORKDIR /srv",
            "WORKDIR www",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN true",
        ]);
        assert_eq!(v["Cmd"], json!(["echo", "hi"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "top -b"]));
        assert_eq!(
            v["Env"],
            json!(["PATH=/bin", "A=1", "B=two words", "OLD=style value"])
        );
        assert_eq!(v["Labels"], json!({"team": "web"}));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Volumes"], json!({"/data": {}, "/cache": {}}));
        assert_eq!(v["WorkingDir"], json!("/srv/www"));
        assert_eq!(v["StopSignal"], json!("SIGQUIT"));
        assert_eq!(v["OnBuild"], json!(["RUN true"]));
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut m = Map::new();
        for bad in [
            "RUN true",
            "CMD",
            "EXPOSE http",
            "ENV",
            "CMD [oops",
            "LABEL a=\"x",
            "",
        ] {
            assert!(apply(&mut m, bad).is_err(), "{bad}");
        }
    }
}
