//! `push`, `login` and `logout` against the sandbox's real registry: what
//! is pushed pulls back into a fresh root with the same digests.

mod common;

use std::process::{Command, Stdio};

use common::{Ctx, fails, id_and_digest, ok, one};

#[test]
fn pushed_images_pull_back_with_equal_digests() {
    let Some(c) = Ctx::new("image_push", &["busybox", "layered", "busybox-v2s2"]) else {
        return;
    };
    let r = c.root();
    let reg = c.image("");
    let reg = reg.trim_end_matches('/');

    // An OCI image under a new name: its layers are mounted from the
    // repository it came from, the manifest is the same bytes.
    let target = format!("{reg}/pushed/layered:v1");
    ok(r, &["tag", &c.image("layered"), &target]);
    let out = ok(r, &["push", &target]);
    let want = id_and_digest(r, &c.image("layered"));
    assert!(
        out.contains(&format!("v1: digest: {} size:", want.1)),
        "{out}"
    );
    assert!(out.contains("Mounted from"), "{out}");
    // A second push finds every blob there.
    let again = ok(r, &["push", &target]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert_eq!(
        one(
            r,
            &[
                "images",
                "--digests",
                "--format",
                "{{.Digest}}",
                &format!("{reg}/pushed/layered")
            ]
        ),
        want.1
    );

    // A Docker schema2 image keeps its media type.
    let v2 = format!("{reg}/pushed/v2s2:1");
    ok(r, &["tag", &c.image("busybox-v2s2"), &v2]);
    ok(r, &["push", "-q", &v2]);

    // A committed image: its new layer is uploaded.
    ok(
        r,
        &[
            "run",
            "--name",
            "wk",
            &c.busybox(),
            "sh",
            "-c",
            "echo pushed > /msg",
        ],
    );
    let made = format!("{reg}/pushed/made:1");
    ok(r, &["commit", "-c", "CMD [\"cat\", \"/msg\"]", "wk", &made]);
    let out = ok(r, &["push", &made]);
    assert!(out.contains("Pushed"), "{out}");
    ok(r, &["rm", "wk"]);
    let made_ids = id_and_digest(r, &made);

    let fresh = tempfile::tempdir().unwrap();
    let f = fresh.path();
    ok(f, &["pull", "-q", &target]);
    assert_eq!(id_and_digest(f, &target), want);
    ok(f, &["pull", "-q", &v2]);
    assert_eq!(
        id_and_digest(f, &v2),
        id_and_digest(r, &c.image("busybox-v2s2"))
    );
    let inspect = one(
        f,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Manifest.MediaType}}",
            &v2,
        ],
    );
    assert_eq!(
        inspect,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    ok(f, &["pull", "-q", &made]);
    assert_eq!(id_and_digest(f, &made), made_ids);
    assert_eq!(one(f, &["run", "--rm", &made]), "pushed");
    ok(f, &["system", "reset", "--force"]);

    // --all-tags pushes each tag of the repository.
    ok(r, &["tag", &c.busybox(), &format!("{reg}/pushed/all:a")]);
    ok(r, &["tag", &c.busybox(), &format!("{reg}/pushed/all:b")]);
    let out = ok(r, &["push", "--all-tags", &format!("{reg}/pushed/all")]);
    assert!(
        out.contains("a: digest:") && out.contains("b: digest:"),
        "{out}"
    );

    // Failures: one line, exit 125, nothing changed.
    let err = fails(r, &["push", "nosuch:1"]);
    assert!(err.contains("no such image"), "{err}");
    ok(r, &["tag", &c.busybox(), "127.0.0.1:1/nowhere:1"]);
    let err = fails(r, &["push", "127.0.0.1:1/nowhere:1"]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A layer blob the store lacks (an image pulled by an earlier pocky).
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            r.join("blobs/sha256")
                .join(want.1.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let first = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    std::fs::remove_file(r.join("blobs/sha256").join(first)).unwrap();
    let err = fails(r, &["push", &format!("{reg}/pushed/layered:v2")]);
    assert!(
        err.contains("no such image") || err.contains("pull it again"),
        "{err}"
    );
    ok(r, &["tag", &target, &format!("{reg}/pushed/layered:v2")]);
    let err = fails(r, &["push", &format!("{reg}/pushed/layered:v2")]);
    assert!(err.contains("pull it again"), "{err}");
    // Pulling again fetches the missing blob only.
    ok(r, &["pull", "-q", &c.image("layered")]);
    assert!(r.join("blobs/sha256").join(first).exists());
    ok(r, &["push", "-q", &format!("{reg}/pushed/layered:v2")]);
}

fn pocky_with_config(
    root: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pocky"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn login_writes_docker_config_and_logout_removes_it() {
    let Some(c) = Ctx::new("image_login", &[]) else {
        return;
    };
    let r = c.root();
    let reg = c.image("");
    let reg = reg.trim_end_matches('/');
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"experimental":"keep me"}"#,
    )
    .unwrap();
    let out = pocky_with_config(
        r,
        dir.path(),
        &["login", "-u", "tester", "--password-stdin", reg],
        "s3cret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["experimental"], "keep me");
    // base64("tester:s3cret")
    assert_eq!(config["auths"][reg]["auth"], "dGVzdGVyOnMzY3JldA==");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = pocky_with_config(r, dir.path(), &["logout", reg], "");
    assert!(out.status.success());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(reg).is_none(), "{config}");
    assert_eq!(config["experimental"], "keep me");

    let out = pocky_with_config(
        r,
        dir.path(),
        &["login", "-u", "x", "--password-stdin", "127.0.0.1:1"],
        "p\n",
    );
    assert_eq!(out.status.code(), Some(125));
    let out = pocky_with_config(
        r,
        dir.path(),
        &["login", "-u", "x", "--password-stdin", reg],
        "",
    );
    assert_eq!(out.status.code(), Some(125), "an empty password");
}

/// The token-auth registry of tests/tokenauth/serve.py, killed on drop.
struct TokenRegistry {
    child: std::process::Child,
    _work: tempfile::TempDir,
    addr: String,
}

impl TokenRegistry {
    fn start() -> TokenRegistry {
        use std::io::BufRead;
        let work = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tokenauth/serve.py");
        let mut child = Command::new("/usr/bin/python3")
            .args([script, work.path().to_str().unwrap(), "5600", "5601"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the token registry did not start");
        TokenRegistry {
            child,
            _work: work,
            addr: "127.0.0.1:5600".into(),
        }
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_and_pull_through_a_token_auth_registry() {
    let Some(c) = Ctx::new("image_push_token", &["layered"]) else {
        return;
    };
    let r = c.root();
    let reg = TokenRegistry::start();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let target = format!("{}/tok/layered:1", reg.addr);
    ok(r, &["tag", &c.image("layered"), &target]);

    // Without credentials the registry refuses the push.
    let out = pocky_with_config(r, cfg, &["push", &target], "");
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth") || err.contains("denied") || err.contains("unauthorized"),
        "{err}"
    );
    let out = pocky_with_config(
        r,
        cfg,
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "wrong\n",
    );
    assert_eq!(out.status.code(), Some(125), "a wrong password");
    let out = pocky_with_config(
        r,
        cfg,
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "s3cret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = pocky_with_config(r, cfg, &["push", &target], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = id_and_digest(r, &c.image("layered"));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&want.1));

    let fresh = tempfile::tempdir().unwrap();
    let out = pocky_with_config(fresh.path(), cfg, &["pull", "-q", &target], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(id_and_digest(fresh.path(), &target), want);
    ok(fresh.path(), &["system", "reset", "--force"]);
}
