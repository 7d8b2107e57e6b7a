//! ARG and ENV scope: what `$VAR` means in an instruction, and what a
//! RUN's environment holds beyond the image's.
//!
//! Docker's rules: a build arg is visible in a stage only once an ARG
//! declares it there (a global ARG must be redeclared to be seen past
//! FROM); `--build-arg` overrides an ARG's default; ENV wins over an ARG
//! of the same name; the predefined proxy args need no declaration and
//! are left out of the image's history. ARG values reach RUN's
//! environment but never the image config.

use std::collections::BTreeMap;

use serde_json::Value;

/// Args every build knows without an ARG (Docker's list).
pub const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// `--build-arg K=V`, or `K` for the caller's own environment's value (an
/// unset one is dropped, as Docker does).
pub fn parse_build_args(args: &[String]) -> crate::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (a.clone(), std::env::var(a).ok()),
        };
        if k.is_empty() {
            return Err(crate::invalid!(
                "invalid build arg {a:?}: the name is empty"
            ));
        }
        if let Some(v) = v {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// The args in scope in one stage, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub args: Vec<(String, String)>,
}

impl Scope {
    /// Declares `name`: the build arg's value, else the default (already
    /// expanded), else the global ARG's value, else nothing in scope
    /// (an ARG without a value is unset, not empty, in RUN's env).
    pub fn declare(&mut self, name: &str, value: Option<String>) {
        self.args.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.args.push((name.to_owned(), v));
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `Env` of an image config, as pairs.
pub fn env_pairs(config: &Value) -> Vec<(String, String)> {
    config
        .pointer("/config/Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (e.to_owned(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A lookup for `expand`: the config's ENV first, then the args.
pub fn lookup<'a>(
    env: &'a [(String, String)],
    scope: &'a Scope,
    predefined: &'a BTreeMap<String, String>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| scope.get(name).map(str::to_owned))
            .or_else(|| {
                PREDEFINED
                    .contains(&name)
                    .then(|| predefined.get(name).cloned())
                    .flatten()
            })
    }
}

/// Expands one word of an instruction, naming the line on error.
pub fn expand_word(
    word: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    escape: char,
    line: usize,
) -> crate::Result<String> {
    pocky_build::expand(word, vars, escape)
        .map_err(|e| crate::invalid!("Dockerfile: {}", e.at_line(line)))
}

/// RUN's extra environment: the args in scope the config's Env does not
/// set, and the predefined ones given with `--build-arg`.
pub fn run_env(
    env: &[(String, String)],
    scope: &Scope,
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out: Vec<String> = scope
        .args
        .iter()
        .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for p in PREDEFINED {
        if let Some(v) = build_args.get(*p)
            && scope.get(p).is_none()
        {
            out.push(format!("{p}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_args_and_undeclared_args_are_unset() {
        let mut scope = Scope::default();
        scope.declare("A", Some("arg".into()));
        scope.declare("B", Some("b".into()));
        let env = vec![("A".to_owned(), "env".to_owned())];
        let pre = BTreeMap::from([("HTTP_PROXY".to_owned(), "p".to_owned())]);
        let f = lookup(&env, &scope, &pre);
        assert_eq!(f("A").as_deref(), Some("env"));
        assert_eq!(f("B").as_deref(), Some("b"));
        assert_eq!(f("C"), None);
        assert_eq!(f("HTTP_PROXY").as_deref(), Some("p"));
        assert_eq!(run_env(&env, &scope, &pre), vec!["B=b", "HTTP_PROXY=p"]);
    }

    #[test]
    fn build_args_parse() {
        let a = parse_build_args(&["X=1".into(), "Y=".into()]).unwrap();
        assert_eq!(a.get("X").map(String::as_str), Some("1"));
        assert_eq!(a.get("Y").map(String::as_str), Some(""));
        assert!(parse_build_args(&["=1".into()]).is_err());
    }
}
