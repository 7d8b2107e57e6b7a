//! Writing the Docker config and the credential-helper protocol.
//!
//! Tests that need a fake helper on PATH run their body in a child process
//! (this test binary, filtered to the one test) whose PATH starts with the
//! helper's directory, so no test changes the environment of the others.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pocky_registry::{Client, Credentials, DockerConfig, Platform, Reference, RegistryError};
use serde_json::{Value, json};
use support::*;

const CHILD: &str = "POCKY_TEST_HELPER_CHILD";

/// A fake `docker-credential-<name>` that logs its calls under `$FAKE_DIR`
/// and answers `get` from `$FAKE_DIR/<name>.reply` (else "not found").
fn write_helper(dir: &Path, name: &str) {
    let script = format!(
        r#"#!/bin/sh
input=$(cat)
echo "$1 $input" >> "$FAKE_DIR/{name}.log"
case "$1" in
get)
    if [ -f "$FAKE_DIR/{name}.reply" ]; then cat "$FAKE_DIR/{name}.reply"; exit 0; fi
    echo "credentials not found in native keychain"; exit 1;;
store) exit 0;;
erase) exit 0;;
esac
exit 2
"#
    );
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `test` again in a child with the helpers first on PATH; true in
/// the child, where the caller does the work.
fn in_child(test: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var(CHILD) {
        return Some(PathBuf::from(dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in ["fake", "other"] {
        write_helper(&bin, name);
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("PATH", path)
        .env("FAKE_DIR", dir.path())
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{test} in a child:\n{text}");
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
    None
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

#[test]
fn store_and_remove_keep_other_keys_and_the_file_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/.docker/config.json");
    DockerConfig::store_login(&path, "127.0.0.1:5000", &Credentials::new("u", "p:w")).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);

    std::fs::write(
        &path,
        r#"{"auths":{"r.example":{"auth":"eDp5"}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"http://p:3128"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    DockerConfig::store_login(&path, "docker.io", &Credentials::new("hub", "s3cret")).unwrap();
    DockerConfig::store_login(&path, "127.0.0.1:5000", &Credentials::new("u", "p:w")).unwrap();
    let doc = read_json(&path);
    assert_eq!(doc["psFormat"], "table {{.ID}}");
    assert_eq!(doc["proxies"]["default"]["httpProxy"], "http://p:3128");
    assert_eq!(doc["auths"]["r.example"]["auth"], "eDp5");
    // docker's keys and encoding.
    assert_eq!(
        doc["auths"]["https://index.docker.io/v1/"]["auth"],
        "aHViOnMzY3JldA=="
    );
    assert_eq!(doc["auths"]["127.0.0.1:5000"]["auth"], "dTpwOnc=");
    assert_eq!(mode(&path), 0o600);
    let cfg = DockerConfig::load(&path).unwrap();
    assert_eq!(cfg.lookup("docker.io").unwrap().username, "hub");
    assert_eq!(
        cfg.lookup("127.0.0.1:5000").unwrap(),
        &Credentials::new("u", "p:w")
    );
    // No temporary files left beside it.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);

    assert!(DockerConfig::remove_login(&path, "index.docker.io").unwrap());
    assert!(!DockerConfig::remove_login(&path, "docker.io").unwrap());
    let doc = read_json(&path);
    assert!(doc["auths"].get("https://index.docker.io/v1/").is_none());
    assert_eq!(doc["psFormat"], "table {{.ID}}");
    assert!(!DockerConfig::remove_login(&dir.path().join("absent.json"), "x.example").unwrap());

    std::fs::write(&path, "[1]").unwrap();
    let err =
        DockerConfig::store_login(&path, "x.example", &Credentials::new("a", "b")).unwrap_err();
    assert!(matches!(err, RegistryError::DockerConfig { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]");
}

#[test]
fn a_store_saves_through_the_helper_and_leaves_an_empty_entry() {
    let Some(dir) = in_child("a_store_saves_through_the_helper_and_leaves_an_empty_entry") else {
        return;
    };
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        r#"{"credsStore":"fake","credHelpers":{"r.example:5000":"other"},"auths":{"127.0.0.1:5000":{"auth":"b2xkOm9sZA=="}},"detachKeys":"ctrl-e"}"#,
    )
    .unwrap();
    DockerConfig::store_login(&path, "127.0.0.1:5000", &Credentials::new("u", "pw")).unwrap();
    let logged = log(&dir, "fake");
    let (action, input) = logged.trim().split_once(' ').unwrap();
    assert_eq!(action, "store");
    let sent: Value = serde_json::from_str(input).unwrap();
    assert_eq!(
        sent,
        json!({"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"pw"})
    );
    let doc = read_json(&path);
    // The old plaintext secret is gone, only docker's empty marker stays.
    assert_eq!(doc["auths"]["127.0.0.1:5000"], json!({}));
    assert_eq!(doc["detachKeys"], "ctrl-e");
    assert_eq!(doc["credsStore"], "fake");

    // credHelpers wins over credsStore for its registry.
    DockerConfig::store_login(&path, "r.example:5000", &Credentials::new("x", "y")).unwrap();
    assert!(log(&dir, "other").starts_with("store "));
    assert!(DockerConfig::remove_login(&path, "r.example:5000").unwrap());
    assert!(log(&dir, "other").contains("erase r.example:5000"));
    assert!(read_json(&path)["auths"].get("r.example:5000").is_none());
}

#[test]
fn lookups_ask_cred_helpers_then_creds_store_then_auths() {
    let Some(dir) = in_child("lookups_ask_cred_helpers_then_creds_store_then_auths") else {
        return;
    };
    std::fs::write(
        dir.join("other.reply"),
        r#"{"ServerURL":"r.example:5000","Username":"ou","Secret":"os"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("fake.reply"),
        r#"{"ServerURL":"","Username":"fu","Secret":"fs"}"#,
    )
    .unwrap();
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        r#"{"credsStore":"fake","credHelpers":{"r.example:5000":"other","gone.example":"missing"},"auths":{"r.example:5000":{"auth":"YTpi"}}}"#,
    )
    .unwrap();
    let cfg = DockerConfig::load(&path).unwrap();
    assert_eq!(
        cfg.credentials("r.example:5000").unwrap(),
        Some(Credentials::new("ou", "os"))
    );
    assert_eq!(log(&dir, "other").trim(), "get r.example:5000");
    assert_eq!(
        cfg.credentials("docker.io").unwrap(),
        Some(Credentials::new("fu", "fs"))
    );
    assert!(log(&dir, "fake").contains("get https://index.docker.io/v1/"));
    let err = cfg.credentials("gone.example").unwrap_err().to_string();
    assert!(
        err.contains("docker-credential-missing") && err.contains("PATH"),
        "{err}"
    );

    // "credentials not found" means anonymous.
    std::fs::remove_file(dir.join("fake.reply")).unwrap();
    assert_eq!(cfg.credentials("s.example").unwrap(), None);

    // An identity token is refused with a message saying so.
    std::fs::write(
        dir.join("fake.reply"),
        r#"{"Username":"<token>","Secret":"refresh"}"#,
    )
    .unwrap();
    let err = cfg.credentials("s.example").unwrap_err().to_string();
    assert!(err.contains("identity token"), "{err}");
    assert!(!err.contains("refresh"), "{err}");

    // Without helpers, auths.
    std::fs::write(&path, r#"{"auths":{"r.example:5000":{"auth":"YTpi"}}}"#).unwrap();
    let cfg = DockerConfig::load(&path).unwrap();
    assert_eq!(
        cfg.credentials("r.example:5000").unwrap(),
        Some(Credentials::new("a", "b"))
    );
}

#[test]
fn a_pull_uses_the_helper_once() {
    let Some(dir) = in_child("a_pull_uses_the_helper_once") else {
        return;
    };
    std::fs::write(
        dir.join("fake.reply"),
        r#"{"Username":"bob","Secret":"pw"}"#,
    )
    .unwrap();
    let img = Image::new("amd64", &[b"l1", b"l2"], false);
    let mut content = std::collections::HashMap::new();
    img.add_to("lib/app", &mut content);
    content.insert(
        "/v2/lib/app/manifests/latest".into(),
        Resp::ok(img.media_type, img.manifest.clone()),
    );
    let want = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "bob:pw")
    );
    let stub = Stub::start(move |_| {
        move |req: &Req| {
            if req.header("Authorization") != Some(want.as_str()) {
                return Resp::new(401).header("WWW-Authenticate", r#"Basic realm="x""#);
            }
            content
                .get(req.path())
                .cloned()
                .unwrap_or_else(Resp::not_found)
        }
    });
    let path = dir.join("config.json");
    std::fs::write(&path, r#"{"credsStore":"fake"}"#).unwrap();
    let client = Client::new(pocky_registry::ClientOptions {
        docker_config: Some(path),
        ..options(&dir)
    })
    .unwrap();
    let r = Reference::parse(&format!("{}/lib/app", stub.host())).unwrap();
    let got = client
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, img.manifest_digest);
    assert_eq!(
        log(&dir, "fake").lines().count(),
        1,
        "{}",
        log(&dir, "fake")
    );
}
