//! Authentication, redirects and retries against stub registries.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use pocky_registry::{Client, ClientOptions, Platform, Reference, RegistryError};
use support::*;

/// A registry that demands a bearer token obtained from its own `/token`.
fn bearer_registry(img: &Image, token_field: &'static str) -> Stub {
    let mut content = HashMap::new();
    img.add_to("lib/app", &mut content);
    content.insert(
        "/v2/lib/app/manifests/latest".into(),
        Resp::ok(img.media_type, img.manifest.clone()),
    );
    Stub::start(move |port| {
        move |req: &Req| {
            if req.path() == "/token" {
                return Resp::ok(
                    "application/json",
                    format!(r#"{{"{token_field}":"tok-123","expires_in":300}}"#),
                );
            }
            if req.header("Authorization") != Some("Bearer tok-123") {
                return Resp::new(401).header(
                    "WWW-Authenticate",
                    &format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="stub-registry",scope="repository:lib/app:pull""#
                    ),
                );
            }
            content
                .get(req.path())
                .cloned()
                .unwrap_or_else(Resp::not_found)
        }
    })
}

#[test]
fn bearer_flow_fetches_one_token_for_a_whole_pull() {
    for field in ["token", "access_token"] {
        let dir = tempfile::tempdir().unwrap();
        let layers: Vec<Vec<u8>> = (0..4).map(|i| vec![i as u8; 1000 + i]).collect();
        let refs: Vec<&[u8]> = layers.iter().map(|l| l.as_slice()).collect();
        let img = Image::new("amd64", &refs, false);
        let stub = bearer_registry(&img, field);
        let client = Arc::new(Client::new(options(dir.path())).unwrap());
        let r = Reference::parse(&format!("{}/lib/app", stub.host())).unwrap();
        let resolved = client
            .resolve(&r, &Platform::parse("linux/amd64").unwrap())
            .unwrap();
        // Download the layers from several threads at once.
        let handles: Vec<_> = resolved
            .layers
            .iter()
            .cloned()
            .map(|l| {
                let (client, r) = (client.clone(), r.clone());
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    client
                        .open_blob(&r, &l.digest, l.size)
                        .unwrap()
                        .read_to_end(&mut out)
                        .unwrap();
                    out.len() as u64 == l.size
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
        let tokens: Vec<Req> = stub
            .requests()
            .into_iter()
            .filter(|r| r.path() == "/token")
            .collect();
        assert_eq!(tokens.len(), 1, "{field}: {:?}", tokens);
        assert!(
            tokens[0].url.contains("service=stub-registry"),
            "{}",
            tokens[0].url
        );
        assert!(
            tokens[0]
                .url
                .contains("scope=repository%3Alib%2Fapp%3Apull"),
            "{}",
            tokens[0].url
        );
        // Only the very first request went out without a token.
        assert_eq!(
            stub.count(|r| r.path() != "/token" && r.header("Authorization").is_none()),
            1
        );
    }
}

fn write_config(dir: &std::path::Path, key: &str, user: &str, pass: &str) -> std::path::PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{key}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    path
}

/// Serves one image behind basic auth; blobs may be redirected elsewhere.
fn basic_registry(img: &Image, expect: String, redirect_to: Option<String>) -> Stub {
    let mut content = HashMap::new();
    img.add_to("a", &mut content);
    content.insert(
        "/v2/a/manifests/latest".into(),
        Resp::ok(img.media_type, img.manifest.clone()),
    );
    Stub::start(move |_| {
        move |req: &Req| {
            if req.header("Authorization") != Some(expect.as_str()) {
                return Resp::new(401)
                    .header("WWW-Authenticate", r#"Basic realm="stub""#)
                    .header("Content-Type", "application/json")
                    .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#);
            }
            match (&redirect_to, req.path().contains("/blobs/")) {
                (Some(base), true) => Resp::new(307).header(
                    "Location",
                    &format!("{base}{}?X-Amz-Signature=secret", req.path()),
                ),
                _ => content
                    .get(req.path())
                    .cloned()
                    .unwrap_or_else(Resp::not_found),
            }
        }
    })
}

#[test]
fn basic_auth_from_docker_config() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new("amd64", &[b"layer"], false);
    let expect = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw")
    );
    let stub = basic_registry(&img, expect, None);
    // Keys may carry a scheme; the host:port decides.
    let path = write_config(
        dir.path(),
        &format!("https://{}", stub.host()),
        "alice",
        "s3cret-pw",
    );
    let client = Client::new(ClientOptions {
        docker_config: Some(path),
        ..options(dir.path())
    })
    .unwrap();
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let got = client
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, img.manifest_digest);
    assert!(!format!("{client:?}").contains("s3cret"));
}

#[test]
fn wrong_or_missing_credentials_fail_without_leaking() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new("amd64", &[b"layer"], false);
    let stub = basic_registry(&img, "Basic nobody".into(), None);
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let p = Platform::parse("linux/amd64").unwrap();

    let err = Client::new(options(dir.path()))
        .unwrap()
        .resolve(&r, &p)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("no credentials"), "{err}");

    let path = write_config(dir.path(), &stub.host(), "bob", "hunter2-secret");
    let client = Client::new(ClientOptions {
        docker_config: Some(path),
        ..options(dir.path())
    })
    .unwrap();
    let err = client.resolve(&r, &p).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, RegistryError::Auth { .. }), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("Ym9i"),
        "{text}"
    );
}

#[test]
fn credentials_never_follow_a_redirect_to_another_origin() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new("amd64", &[b"layer one", b"layer two"], false);
    let mut cdn_content = HashMap::new();
    img.add_to("a", &mut cdn_content);
    let cdn = Stub::start(|_| serve_map(cdn_content));
    let expect = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("carol:pw")
    );
    // Same IP, different host name and port: a different origin.
    let registry = basic_registry(
        &img,
        expect.clone(),
        Some(format!("http://localhost:{}", cdn.port)),
    );
    let path = write_config(dir.path(), &registry.host(), "carol", "pw");
    let client = Client::new(ClientOptions {
        docker_config: Some(path),
        ..options(dir.path())
    })
    .unwrap();
    let r = Reference::parse(&format!("{}/a", registry.host())).unwrap();
    let got = client
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    for l in &got.layers {
        let bytes = client.fetch_blob(&r, &l.digest, l.size, 1 << 20).unwrap();
        assert_eq!(bytes.len() as u64, l.size);
    }
    let cdn_reqs = cdn.requests();
    assert_eq!(cdn_reqs.len(), 3, "config and two layers via the CDN");
    for req in &cdn_reqs {
        assert!(
            req.header("Authorization").is_none(),
            "leaked to CDN: {req:?}"
        );
        assert!(
            req.url.contains("X-Amz-Signature"),
            "query kept: {}",
            req.url
        );
    }
    let blob_reqs: Vec<Req> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/blobs/"))
        .collect();
    assert_eq!(blob_reqs.len(), 3);
    assert!(
        blob_reqs
            .iter()
            .all(|r| r.header("Authorization") == Some(expect.as_str()))
    );
}

#[test]
fn too_many_redirects_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let stub =
        Stub::start(|_| |req: &Req| Resp::new(302).header("Location", &format!("{}x", req.path())));
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let err = Client::new(options(dir.path()))
        .unwrap()
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("more than 10 redirects"), "{err}");
    assert_eq!(stub.requests().len(), 11);
}

#[test]
fn transient_errors_are_retried_then_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let img = Image::new("amd64", &[b"layer"], false);
    let mut content = HashMap::new();
    img.add_to("a", &mut content);
    content.insert(
        "/v2/a/manifests/latest".into(),
        Resp::ok(img.media_type, img.manifest.clone()),
    );
    let calls = AtomicUsize::new(0);
    let stub = Stub::start(move |_| {
        move |req: &Req| match calls.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Resp::new(503),
            2 => Resp::new(429).header("Retry-After", "0"),
            _ => content
                .get(req.path())
                .cloned()
                .unwrap_or_else(Resp::not_found),
        }
    });
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let got = Client::new(options(dir.path()))
        .unwrap()
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(got.manifest_digest, img.manifest_digest);
    assert_eq!(stub.count(|r| r.path().contains("/manifests/")), 4);
}

#[test]
fn gives_up_after_the_configured_retries() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(|_| {
        |_: &Req| {
            Resp::new(503)
                .header("Content-Type", "application/json")
                .body(r#"{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}"#)
        }
    });
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let opts = ClientOptions {
        retries: 2,
        ..options(dir.path())
    };
    let err = Client::new(opts)
        .unwrap()
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("UNAVAILABLE: try later"), "{err}");
    assert_eq!(stub.requests().len(), 3);
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    // Bind then drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = Reference::parse(&format!("127.0.0.1:{port}/a")).unwrap();
    let opts = ClientOptions {
        retries: 1,
        ..options(dir.path())
    };
    let err = Client::new(opts)
        .unwrap()
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::RetriesExhausted { attempts: 2, .. }),
        "{err}"
    );
}

#[test]
fn long_retry_after_is_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let stub = Stub::start(|_| |_: &Req| Resp::new(429).header("Retry-After", "3600"));
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let err = Client::new(options(dir.path()))
        .unwrap()
        .resolve(&r, &Platform::parse("linux/amd64").unwrap())
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 429, .. }),
        "{err}"
    );
    assert_eq!(stub.requests().len(), 1);
}
