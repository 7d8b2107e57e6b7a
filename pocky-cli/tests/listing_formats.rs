//! `--format` of network and volume listings and inspects, `network ls
//! --no-trunc`, `network rm -f`, and the refused `images --tree` and
//! `network inspect --verbose`.

mod common;

use common::{fails, ok, one};

#[test]
fn network_and_volume_formats() {
    if pocky_testkit::sandbox("listing_formats").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(
        root,
        &["network", "create", "--subnet", "10.93.0.0/24", "fmtnet"],
    );
    let id = one(root, &["network", "inspect", "-f", "{{.Id}}", "fmtnet"]);
    assert_eq!(id.len(), 64, "{id}");
    let full = ok(
        root,
        &[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Name}}",
        ],
    );
    assert!(full.lines().any(|l| l == format!("{id} fmtnet")), "{full}");
    let short = ok(
        root,
        &[
            "network",
            "ls",
            "--format",
            "{{.ID}}:{{.Subnet}}",
            "-f",
            "name=fmtnet",
        ],
    );
    assert_eq!(short, format!("{}:10.93.0.0/24\n", &id[..12]));
    let table = ok(
        root,
        &["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"],
    );
    assert!(table.starts_with("NAME"), "{table}");
    let json = ok(
        root,
        &["network", "ls", "--format", "json", "-f", "name=fmtnet"],
    );
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "fmtnet");
    fails(root, &["network", "inspect", "--verbose", "fmtnet"]);
    ok(root, &["network", "rm", "fmtnet"]);
    ok(root, &["network", "rm", "-f", "fmtnet"]);
    assert!(
        !common::pocky(root, &["network", "rm", "fmtnet"])
            .status
            .success()
    );

    ok(root, &["volume", "create", "--label", "a=b", "fmtvol"]);
    let mp = one(
        root,
        &["volume", "inspect", "--format", "{{.Mountpoint}}", "fmtvol"],
    );
    assert!(mp.ends_with("volumes/fmtvol/_data"), "{mp}");
    let listed = ok(root, &["volume", "ls", "--format", "{{.Name}} {{.Labels}}"]);
    assert_eq!(listed, "fmtvol a=b\n");
    ok(root, &["volume", "rm", "fmtvol"]);
    let err = fails(root, &["images", "--tree"]);
    assert!(err.contains("--tree"), "{err}");
    ok(root, &["system", "reset", "--force"]);
}
