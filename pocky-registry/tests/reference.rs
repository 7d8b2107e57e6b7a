//! Reference parsing: Docker's normalisation and each class of invalid input.

use pocky_registry::Reference;

/// input, registry, repository, display, tag, has digest, familiar
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    &'static str,
);

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn valid_references_normalise_like_docker() {
    let table: &[Row] = &[
        // input, registry, repository, display, tag, has digest, familiar
        (
            "busybox",
            "docker.io",
            "library/busybox",
            "docker.io/library/busybox:latest",
            None,
            false,
            "busybox",
        ),
        (
            "busybox:1.36",
            "docker.io",
            "library/busybox",
            "docker.io/library/busybox:1.36",
            Some("1.36"),
            false,
            "busybox",
        ),
        (
            "user/app:1",
            "docker.io",
            "user/app",
            "docker.io/user/app:1",
            Some("1"),
            false,
            "user/app",
        ),
        (
            "docker.io/library/busybox",
            "docker.io",
            "library/busybox",
            "docker.io/library/busybox:latest",
            None,
            false,
            "busybox",
        ),
        (
            "index.docker.io/user/app",
            "docker.io",
            "user/app",
            "docker.io/user/app:latest",
            None,
            false,
            "user/app",
        ),
        (
            "host:5000/a/b:tag",
            "host:5000",
            "a/b",
            "host:5000/a/b:tag",
            Some("tag"),
            false,
            "host:5000/a/b",
        ),
        (
            "localhost/x",
            "localhost",
            "x",
            "localhost/x:latest",
            None,
            false,
            "localhost/x",
        ),
        (
            "localhost:5000/x",
            "localhost:5000",
            "x",
            "localhost:5000/x:latest",
            None,
            false,
            "localhost:5000/x",
        ),
        (
            "ghcr.io/o/r-x_y.z__w",
            "ghcr.io",
            "o/r-x_y.z__w",
            "ghcr.io/o/r-x_y.z__w:latest",
            None,
            false,
            "ghcr.io/o/r-x_y.z__w",
        ),
        (
            "[::1]:5000/a",
            "[::1]:5000",
            "a",
            "[::1]:5000/a:latest",
            None,
            false,
            "[::1]:5000/a",
        ),
    ];
    for (input, registry, repo, display, tag, digest, familiar) in table {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(&r.registry, registry, "{input}");
        assert_eq!(&r.repository, repo, "{input}");
        assert_eq!(r.to_string(), *display, "{input}");
        assert_eq!(r.tag.as_deref(), *tag, "{input}");
        assert_eq!(r.digest.is_some(), *digest, "{input}");
        assert_eq!(r.familiar_repository(), *familiar, "{input}");
    }
}

#[test]
fn digests_and_tags_together() {
    let r = Reference::parse(&format!("busybox@{D}")).unwrap();
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
    assert_eq!(r.tag, None);
    let r = Reference::parse(&format!("busybox:1@{D}")).unwrap();
    assert_eq!(r.to_string(), format!("docker.io/library/busybox:1@{D}"));
    assert_eq!(r.digest.unwrap().to_string(), D);
    let r = Reference::parse(&format!("host:5000/a@{D}")).unwrap();
    assert_eq!(r.registry, "host:5000");
}

#[test]
fn api_host_and_latest() {
    let r = Reference::parse("busybox").unwrap();
    assert_eq!(r.api_host(), "registry-1.docker.io");
    assert_eq!(r.tag_or_latest(), "latest");
    assert_eq!(Reference::parse("q.io/a").unwrap().api_host(), "q.io");
}

#[test]
fn two_word_form() {
    let r = Reference::with_tag("hello-world", "latest").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/hello-world:latest");
    assert_eq!(
        Reference::with_tag("a", "v1").unwrap().tag.as_deref(),
        Some("v1")
    );
    assert!(Reference::with_tag("a:v1", "v2").is_err());
    assert!(Reference::with_tag("a", "bad tag").is_err());
}

#[test]
fn invalid_references_name_the_problem() {
    let long_tag = format!("a:{}", "t".repeat(129));
    let long_name = "a".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        ("Busybox".into(), "repository name must be lowercase"),
        ("user/App".into(), "repository name must be lowercase"),
        ("".into(), "empty"),
        ("a//b".into(), "empty path component"),
        ("host:5000/".into(), "empty path component"),
        ("/a".into(), "empty path component"),
        ("a/".into(), "empty path component"),
        ("a:".into(), "tag is empty"),
        ("a:-x".into(), "must start with"),
        ("a:x!y".into(), "may only contain"),
        (long_tag, "longer than 128"),
        (long_name, "longer than 255"),
        ("a@sha256:1234".into(), "bad digest"),
        (
            "a@md5:d41d8cd98f00b204e9800998ecf8427e".into(),
            "bad digest",
        ),
        (
            format!("a@{}", D.to_uppercase().replace("SHA256", "sha256")),
            "bad digest",
        ),
        ("a/b..c".into(), "may only contain"),
        ("a/-b".into(), "may only contain"),
        ("a b".into(), "may only contain"),
        ("host:99999/a".into(), "port"),
        ("ho_st.io/a".into(), "registry host"),
    ];
    for (input, needle) in cases {
        let err = Reference::parse(&input).expect_err(&input).to_string();
        assert!(err.starts_with("invalid reference"), "{input}: {err}");
        assert!(err.contains(needle), "{input}: {err} (wanted {needle:?})");
    }
    assert_eq!(
        Reference::parse("Busybox").unwrap_err().to_string(),
        r#"invalid reference "Busybox": repository name must be lowercase"#
    );
}
