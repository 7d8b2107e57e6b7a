//! Listings with Docker's filters: images, volumes, networks.

mod common;

use common::*;

fn repos(root: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["images", "--format", "{{.Repository}}"];
    all.extend_from_slice(args);
    let mut out: Vec<String> = ok(root, &all).lines().map(str::to_owned).collect();
    out.sort();
    out
}

#[test]
fn images_filter_and_show_digests_as_docker() {
    let Some(c) = Ctx::new("images_filter", &["busybox", "config"]) else {
        return;
    };
    let r = c.root();
    let (busybox, config) = (c.image("busybox"), c.image("config"));
    assert_eq!(repos(r, &[]), [busybox.as_str(), config.as_str()]);
    assert_eq!(
        repos(r, &["-f", "label=io.pocky.fixture=config"]),
        [config.as_str()]
    );
    assert_eq!(
        repos(r, &["-f", "label=io.pocky.fixture"]),
        [config.as_str()]
    );
    assert!(repos(r, &["-f", "label=io.pocky.fixture=other"]).is_empty());
    assert_eq!(repos(r, &["-f", "reference=*/busybox"]), [busybox.as_str()]);
    assert_eq!(
        repos(r, &["-f", "reference=*/busy*:latest"]),
        [busybox.as_str()]
    );
    // `*` does not cross a `/`, as Docker's path.Match.
    assert!(repos(r, &["-f", "reference=*"]).is_empty());
    assert!(repos(r, &["-f", "dangling=true"]).is_empty());
    assert_eq!(repos(r, &["-f", "dangling=false", "-a"]).len(), 2);

    let table = ok(r, &["images", "--digests"]);
    assert!(table.lines().next().unwrap().contains("DIGEST"), "{table}");
    assert_eq!(table.matches("sha256:").count(), 2, "{table}");

    let err = fails(r, &["images", "-f", "colour=red"]);
    assert!(err.contains("invalid filter"), "{err}");
    let err = fails(r, &["images", "-f", "dangling=maybe"]);
    assert!(err.contains("true or false"), "{err}");
    let err = fails(r, &["images", "-f", "before=nosuch:1"]);
    assert!(err.contains("no such image"), "{err}");
}

fn lines(root: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = ok(root, args).lines().map(str::to_owned).collect();
    out.sort();
    out
}

#[test]
fn volumes_and_networks_filter_as_docker() {
    let Some(c) = Ctx::new("listings", &["busybox"]) else {
        return;
    };
    let r = c.root();
    ok(r, &["volume", "create", "--label", "team=web", "vol-used"]);
    ok(r, &["volume", "create", "vol-free"]);
    ok(
        r,
        &[
            "create",
            "--name",
            "user",
            "-v",
            "vol-used:/d",
            &c.busybox(),
            "true",
        ],
    );
    let vols = |f: &[&str]| {
        let mut args = vec!["volume", "ls", "-q"];
        for x in f {
            args.extend(["-f", x]);
        }
        lines(r, &args)
    };
    assert_eq!(vols(&[]), ["vol-free", "vol-used"]);
    assert_eq!(vols(&["dangling=true"]), ["vol-free"]);
    assert_eq!(vols(&["dangling=false"]), ["vol-used"]);
    assert_eq!(vols(&["label=team=web"]), ["vol-used"]);
    assert_eq!(vols(&["name=free", "name=used"]), ["vol-free", "vol-used"]);
    assert!(vols(&["name=free", "label=team"]).is_empty());
    let err = fails(r, &["volume", "ls", "-f", "size=1"]);
    assert!(err.contains("invalid filter"), "{err}");

    let id = ok(r, &["network", "create", "lst-net"]);
    let id = id.trim();
    let nets = |f: &[&str]| {
        let mut args = vec!["network", "ls", "-q"];
        for x in f {
            args.extend(["-f", x]);
        }
        lines(r, &args)
    };
    let short = id[..12].to_owned();
    assert!(nets(&[]).contains(&short));
    assert_eq!(nets(&["name=lst"]), [short.as_str()]);
    let by_id = format!("id={}", &short[..6]);
    assert_eq!(nets(&[by_id.as_str()]), [short.as_str()]);
    assert_eq!(nets(&["type=custom"]), [short.as_str()]);
    assert!(!nets(&["type=builtin"]).contains(&short));
    assert!(nets(&["label=x"]).is_empty());
    let err = fails(r, &["network", "ls", "-f", "type=odd"]);
    assert!(err.contains("custom or builtin"), "{err}");

    // ps filters by network and by volume (name or mount point).
    ok(
        r,
        &[
            "create",
            "--name",
            "netuser",
            "--network",
            "lst-net",
            &c.busybox(),
            "true",
        ],
    );
    let ps = |f: &str| lines(r, &["ps", "-a", "--format", "{{.Names}}", "-f", f]);
    assert_eq!(ps("network=lst-net"), ["netuser"]);
    assert_eq!(ps(&format!("network={}", &short[..8])), ["netuser"]);
    assert_eq!(ps("volume=vol-used"), ["user"]);
    assert_eq!(ps("volume=/d"), ["user"]);
    assert!(ps("volume=vol-free").is_empty());
    ok(r, &["rm", "netuser"]);

    ok(r, &["rm", "user"]);
    ok(r, &["volume", "rm", "vol-used", "vol-free"]);
    ok(r, &["network", "rm", "lst-net"]);
}
