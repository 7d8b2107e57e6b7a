//! Helpers for end-to-end tests of the `pocky` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn pocky(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("POCKY_ROOT")
        .output()
        .expect("running pocky")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs pocky and asserts success, returning stdout.
pub fn ok(root: &Path, args: &[&str]) -> String {
    let o = pocky(root, args);
    assert!(
        o.status.success(),
        "pocky {args:?} failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs pocky and asserts Docker's engine-failure code and a one-line error.
pub fn fails(root: &Path, args: &[&str]) -> String {
    let o = pocky(root, args);
    assert_eq!(o.status.code(), Some(125), "pocky {args:?}: {}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err}"
    );
    assert!(err.starts_with("pocky: "), "{err}");
    err
}

pub fn images_json(root: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(root, &["images", "--format", "json"])).expect("images json")
}

pub fn inspect(root: &Path, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&ok(root, &["image", "inspect", name])).expect("inspect json");
    v[0].clone()
}

/// Every file name below `dir`, relative, sorted: a fingerprint of a store.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
