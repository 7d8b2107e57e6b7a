//! Pushing blobs and manifests to a stub registry, and login checks.

mod support;

use std::io::{Cursor, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pocky_registry::{
    Client, ClientOptions, Credentials, Digest, DockerConfig, Platform, Reference, RegistryError,
};
use support::upload::{Auth, LocStyle, PushRegistry, query, query_all};
use support::*;

fn client(dir: &std::path::Path, chunk: u64) -> Client {
    Client::new(ClientOptions {
        upload_chunk_size: chunk,
        ..options(dir)
    })
    .unwrap()
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// Pushes `data`, counting how often the content is opened and keeping the
/// progress reports.
fn push(c: &Client, r: &Reference, data: &[u8]) -> (Result<(), RegistryError>, usize, Vec<u64>) {
    let opens = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    let d = Digest::sha256_of(data);
    let owned = data.to_vec();
    let open = || -> std::io::Result<Box<dyn Read + Send>> {
        opens.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Cursor::new(owned.clone())))
    };
    let progress = |n: u64| reports.lock().unwrap().push(n);
    let res = c.push_blob(r, &d, data.len() as u64, &open, &progress);
    (
        res,
        opens.load(Ordering::SeqCst),
        reports.into_inner().unwrap(),
    )
}

fn reference(reg: &PushRegistry, repo: &str) -> Reference {
    Reference::parse(&format!("{}/{repo}:v1", reg.host())).unwrap()
}

#[test]
fn monolithic_push_is_one_put_after_the_post() {
    for style in [LocStyle::Rooted, LocStyle::Absolute, LocStyle::Bare] {
        let dir = tempfile::tempdir().unwrap();
        let reg = PushRegistry::start(style, Auth::None);
        let r = reference(&reg, "lib/app");
        let data = content(1000);
        let (res, opens, progress) = push(&client(dir.path(), 4096), &r, &data);
        res.unwrap();
        assert_eq!(opens, 1);
        assert_eq!(progress.last(), Some(&1000));
        let d = Digest::sha256_of(&data);
        assert_eq!(reg.blob("lib/app", &d).as_deref(), Some(&data[..]));
        let reqs = reg.api_requests();
        let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, ["POST", "PUT"], "{style:?}");
        assert_eq!(reqs[0].path(), "/v2/lib/app/blobs/uploads/");
        assert_eq!(reqs[0].header("Content-Length"), Some("0"));
        let put = &reqs[1];
        assert_eq!(put.path(), "/v2/lib/app/blobs/uploads/u1", "{style:?}");
        // The session's own query is kept and the digest added to it.
        assert_eq!(
            query(&put.url).get("_state").map(String::as_str),
            Some("s0")
        );
        assert_eq!(query(&put.url).get("digest"), Some(&d.to_string()));
        assert_eq!(put.header("Content-Length"), Some("1000"));
        assert_eq!(put.header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(put.body, data);
    }
}

#[test]
fn chunked_push_follows_each_location() {
    for style in [LocStyle::Rooted, LocStyle::Absolute, LocStyle::Bare] {
        let dir = tempfile::tempdir().unwrap();
        let reg = PushRegistry::start(style, Auth::None);
        let r = reference(&reg, "lib/app");
        let data = content(1000);
        let (res, _, progress) = push(&client(dir.path(), 400), &r, &data);
        res.unwrap();
        assert_eq!(progress.last(), Some(&1000));
        let d = Digest::sha256_of(&data);
        assert_eq!(reg.blob("lib/app", &d).as_deref(), Some(&data[..]));
        let reqs = reg.api_requests();
        let seen: Vec<(String, Option<String>, Option<String>, usize)> = reqs
            .iter()
            .map(|q| {
                (
                    q.method.clone(),
                    q.header("Content-Range").map(str::to_string),
                    query(&q.url).get("_state").cloned(),
                    q.body.len(),
                )
            })
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            seen,
            [
                ("POST".into(), None, None, 0),
                ("PATCH".into(), s("0-399"), s("s0"), 400),
                ("PATCH".into(), s("400-799"), s("s1"), 400),
                ("PATCH".into(), s("800-999"), s("s2"), 200),
                ("PUT".into(), None, s("s3"), 0),
            ],
            "{style:?}"
        );
        for q in &reqs[1..4] {
            assert_eq!(q.path(), "/v2/lib/app/blobs/uploads/u1");
            assert_eq!(
                q.header("Content-Length"),
                Some(q.body.len().to_string().as_str())
            );
        }
        assert_eq!(query(&reqs[4].url).get("digest"), Some(&d.to_string()));
        assert_eq!(reqs[4].header("Content-Length"), Some("0"));
    }
}

#[test]
fn an_existing_blob_needs_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
    let r = reference(&reg, "lib/app");
    let have = reg.add_blob("lib/app", b"already there");
    let c = client(dir.path(), 4096);
    assert!(c.blob_exists(&r, &have).unwrap());
    assert!(!c.blob_exists(&r, &Digest::sha256_of(b"missing")).unwrap());
    let reqs = reg.api_requests();
    assert!(reqs.iter().all(|q| q.method == "HEAD"), "{reqs:?}");
    assert_eq!(reqs.len(), 2);
}

#[test]
fn mount_links_or_cancels_the_session_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
    let r = reference(&reg, "lib/app");
    let d = reg.add_blob("lib/base", b"shared layer");
    let c = client(dir.path(), 4096);
    assert!(c.mount_blob(&r, &d, "lib/base").unwrap());
    assert_eq!(
        reg.blob("lib/app", &d).as_deref(),
        Some(&b"shared layer"[..])
    );
    let post = &reg.api_requests()[0];
    assert_eq!(post.method, "POST");
    assert_eq!(query(&post.url).get("mount"), Some(&d.to_string()));
    assert_eq!(
        query(&post.url).get("from").map(String::as_str),
        Some("lib/base")
    );

    // Not in the source: the registry opens a session, which is cancelled.
    let missing = Digest::sha256_of(b"not anywhere");
    assert!(!c.mount_blob(&r, &missing, "lib/base").unwrap());
    let reqs = reg.api_requests();
    let last = reqs.last().unwrap();
    assert_eq!(last.method, "DELETE");
    assert_eq!(last.path(), "/v2/lib/app/blobs/uploads/u1");
    assert!(reg.state.lock().unwrap().sessions.is_empty());
}

#[test]
fn manifest_put_sends_its_media_type_and_returns_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
    let r = reference(&reg, "lib/app");
    let img = Image::new("amd64", &[b"layer"], false);
    let c = client(dir.path(), 4096);
    let d = c.put_manifest(&r, &img.manifest, OCI_MANIFEST).unwrap();
    assert_eq!(d, img.manifest_digest);
    let put = reg.api_requests().pop().unwrap();
    assert_eq!(
        (put.method.as_str(), put.path()),
        ("PUT", "/v2/lib/app/manifests/v1")
    );
    assert_eq!(put.header("Content-Type"), Some(OCI_MANIFEST));
    assert_eq!(put.body, img.manifest);

    // By digest, and the digest must name the bytes.
    let by_digest = Reference::parse(&format!("{}/lib/app@{d}", reg.host())).unwrap();
    assert_eq!(
        c.put_manifest(&by_digest, &img.manifest, OCI_MANIFEST)
            .unwrap(),
        d
    );
    assert_eq!(
        reg.api_requests().last().unwrap().path(),
        format!("/v2/lib/app/manifests/{d}")
    );
    let err = c.put_manifest(&by_digest, b"{}", OCI_MANIFEST).unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_lying_docker_content_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
    let lie = Digest::sha256_of(b"something else").to_string();
    reg.state.lock().unwrap().lie_digest = Some(lie.clone());
    let r = reference(&reg, "lib/app");
    let c = client(dir.path(), 4096);
    let (res, opens, _) = push(&c, &r, &content(100));
    let err = res.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&lie), "{err}");
    assert_eq!(opens, 1, "a lie is not retried");
    let img = Image::new("amd64", &[b"layer"], false);
    let err = c.put_manifest(&r, &img.manifest, OCI_MANIFEST).unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_failed_patch_or_put_starts_over_from_the_first_byte() {
    for (method, chunk) in [("PATCH", 400), ("PUT", 400), ("PUT", 4096)] {
        let dir = tempfile::tempdir().unwrap();
        let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
        reg.fail_next(method, 500);
        let r = reference(&reg, "lib/app");
        let data = content(1000);
        let (res, opens, progress) = push(&client(dir.path(), chunk), &r, &data);
        res.unwrap();
        assert_eq!(opens, 2, "{method} {chunk}");
        assert_eq!(progress.last(), Some(&1000));
        assert_eq!(
            reg.blob("lib/app", &Digest::sha256_of(&data)).as_deref(),
            Some(&data[..])
        );
        let reqs = reg.api_requests();
        // The second attempt is a new session whose first chunk starts at 0.
        let posts = reqs.iter().filter(|q| q.method == "POST").count();
        assert_eq!(posts, 2, "{method} {chunk}");
        let second = reqs.iter().rposition(|q| q.method == "POST").unwrap();
        let next = &reqs[second + 1];
        assert_eq!(next.path(), "/v2/lib/app/blobs/uploads/u2");
        if chunk == 400 {
            assert_eq!(next.header("Content-Range"), Some("0-399"));
        }
        // The failed session was cancelled.
        assert!(
            reqs.iter()
                .any(|q| q.method == "DELETE" && q.path().ends_with("/u1"))
        );
    }
}

#[test]
fn content_that_is_not_the_digest_is_reported_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Rooted, Auth::None);
    let r = reference(&reg, "lib/app");
    let c = client(dir.path(), 400);
    let wrong = Digest::sha256_of(b"other");
    let open =
        || -> std::io::Result<Box<dyn Read + Send>> { Ok(Box::new(Cursor::new(content(1000)))) };
    let err = c.push_blob(&r, &wrong, 1000, &open, &|_| {}).unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    // A short source is an error about the content.
    let short =
        || -> std::io::Result<Box<dyn Read + Send>> { Ok(Box::new(Cursor::new(content(10)))) };
    let d = Digest::sha256_of(&content(1000));
    let err = c.push_blob(&r, &d, 1000, &short, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("ended after 10 bytes"), "{err}");
}

#[test]
fn push_asks_for_pull_push_tokens_and_mount_for_the_source_too() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Absolute, Auth::Bearer);
    let r = reference(&reg, "lib/app");
    let c = client(dir.path(), 400);
    let data = content(1000);
    let (res, _, _) = push(&c, &r, &data);
    res.unwrap();
    let img = Image::new("amd64", &[b"layer"], false);
    c.put_manifest(&r, &img.manifest, OCI_MANIFEST).unwrap();
    let tokens: Vec<Req> = reg
        .stub
        .requests()
        .into_iter()
        .filter(|q| q.path() == "/token")
        .collect();
    assert_eq!(tokens.len(), 1, "one token serves the whole push");
    assert_eq!(
        query_all(&tokens[0].url, "scope"),
        ["repository:lib/app:pull,push"]
    );
    assert_eq!(
        query(&tokens[0].url).get("service").map(String::as_str),
        Some("stub")
    );
    // Every upload request carried it, the Locations being on the same origin.
    for q in reg.api_requests().iter().skip(1) {
        assert_eq!(q.header("Authorization"), Some("Bearer tok-1"), "{q:?}");
    }

    let d = reg.add_blob("lib/base", b"shared");
    assert!(c.mount_blob(&r, &d, "lib/base").unwrap());
    let token = reg
        .stub
        .requests()
        .into_iter()
        .rfind(|q| q.path() == "/token")
        .unwrap();
    assert_eq!(
        query_all(&token.url, "scope"),
        ["repository:lib/app:pull,push", "repository:lib/base:pull"]
    );
}

#[test]
fn upload_locations_on_another_origin_get_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    // The storage host accepts anything; the registry hands out Locations on it.
    let storage = PushRegistry::start(LocStyle::Absolute, Auth::None);
    let storage_port = storage.stub.port;
    let registry = Stub::start(move |port| {
        move |req: &Req| {
            if req.path() == "/token" {
                return Resp::ok("application/json", r#"{"token":"secret-tok"}"#);
            }
            if req.header("Authorization") != Some("Bearer secret-tok") {
                return Resp::new(401).header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="http://127.0.0.1:{port}/token""#),
                );
            }
            Resp::new(202).header(
                "Location",
                &format!("http://localhost:{storage_port}/v2/lib/app/blobs/uploads/u1?_state=s0"),
            )
        }
    });
    storage
        .state
        .lock()
        .unwrap()
        .sessions
        .insert("u1".into(), Vec::new());
    let r = Reference::parse(&format!("{}/lib/app:v1", registry.host())).unwrap();
    let data = content(100);
    let (res, _, _) = push(&client(dir.path(), 4096), &r, &data);
    res.unwrap();
    let put = storage.stub.requests().pop().unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.header("Authorization"), None);
}

#[test]
fn push_with_basic_auth_from_the_docker_config() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Bare, Auth::Basic("bob".into(), "pw".into()));
    let config = dir.path().join("config.json");
    DockerConfig::store_login(&config, &reg.host(), &Credentials::new("bob", "pw")).unwrap();
    let c = Client::new(ClientOptions {
        docker_config: Some(config),
        upload_chunk_size: 400,
        ..options(dir.path())
    })
    .unwrap();
    let r = reference(&reg, "lib/app");
    let (res, _, _) = push(&c, &r, &content(1000));
    res.unwrap();
    // Without credentials, a clear error naming the registry.
    let (res, _, _) = push(&client(dir.path(), 400), &r, &content(1000));
    let err = res.unwrap_err().to_string();
    assert!(err.contains(&reg.host()) && err.contains("login"), "{err}");
}

#[test]
fn denied_push_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(|_| {
        |_: &Req| {
            Resp::new(403)
                .header("Content-Type", "application/json")
                .body(r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#)
        }
    });
    let r = Reference::parse(&format!("{}/lib/app:v1", stub.host())).unwrap();
    let (res, _, _) = push(&client(dir.path(), 4096), &r, b"x");
    let err = res.unwrap_err().to_string();
    assert!(
        err.contains("403") && err.contains("DENIED: requested access"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn a_refused_token_is_unauthorized_naming_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    // Hands out tokens that it then refuses.
    let stub = Stub::start(|port| {
        move |req: &Req| {
            if req.path() == "/token" {
                return Resp::ok("application/json", r#"{"token":"useless"}"#);
            }
            Resp::new(401)
                .header(
                    "WWW-Authenticate",
                    &format!(r#"Bearer realm="http://127.0.0.1:{port}/token""#),
                )
                .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
        }
    });
    let r = Reference::parse(&format!("{}/lib/app:v1", stub.host())).unwrap();
    let err = client(dir.path(), 4096)
        .put_manifest(&r, b"{}", OCI_MANIFEST)
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RegistryError::Auth { .. }), "{text}");
    assert!(
        text.contains(&stub.host()) && text.contains("unauthorized: authentication required"),
        "{text}"
    );
}

#[test]
fn login_check_basic_and_bearer() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), 4096);
    let basic = PushRegistry::start(LocStyle::Rooted, Auth::Basic("bob".into(), "pw".into()));
    c.check_login(&basic.host(), &Credentials::new("bob", "pw"))
        .unwrap();
    let err = c
        .check_login(&basic.host(), &Credentials::new("bob", "nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&basic.host()) && err.contains("unauthorized"),
        "{err}"
    );

    // A token server that only gives tokens for the right password.
    let bearer = Stub::start(|port| {
        move |req: &Req| {
            if req.path() == "/token" {
                let want = format!(
                    "Basic {}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "bob:pw")
                );
                if req.header("Authorization") != Some(want.as_str()) {
                    return Resp::new(401).body(r#"{"details":"incorrect username or password"}"#);
                }
                return Resp::ok("application/json", r#"{"token":"t"}"#);
            }
            if req.header("Authorization") == Some("Bearer t") {
                return Resp::ok("application/json", "{}");
            }
            Resp::new(401).header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="stub""#),
            )
        }
    });
    c.check_login(&bearer.host(), &Credentials::new("bob", "pw"))
        .unwrap();
    let token_req = bearer
        .requests()
        .into_iter()
        .find(|q| q.path() == "/token")
        .unwrap();
    assert!(
        query_all(&token_req.url, "scope").is_empty(),
        "{}",
        token_req.url
    );
    let err = c
        .check_login(&bearer.host(), &Credentials::new("bob", "nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&bearer.host()) && err.contains("incorrect username or password"),
        "{err}"
    );
}

#[test]
fn pushed_image_pulls_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = PushRegistry::start(LocStyle::Bare, Auth::Bearer);
    let r = reference(&reg, "lib/app");
    let img = Image::new("amd64", &[b"layer one"], false);
    let c = client(dir.path(), 4);
    for blob in [&img.config, &img.layers[0].1] {
        let (res, _, _) = push(&c, &r, blob);
        res.unwrap();
    }
    let d = c.put_manifest(&r, &img.manifest, OCI_MANIFEST).unwrap();
    let got = c
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, d);
    assert_eq!(got.config_digest, img.config_digest);
}
