use super::*;

fn opts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn drivers_other_than_json_file_and_none_are_refused_by_name() {
    assert_eq!(parse(None, &[]).unwrap(), LogConfig::default());
    assert_eq!(parse(Some("none"), &[]).unwrap().driver, "none");
    let e = parse(Some("syslog"), &[]).unwrap_err().to_string();
    assert!(e.contains("\"syslog\""), "{e}");
    assert!(
        e.contains("pocky supports the json-file and none log drivers"),
        "{e}"
    );
    assert!(parse(Some("none"), &opts(&["max-size=1m"])).is_err());
}

#[test]
fn rotation_follows_docker_json_file() {
    let c = parse(None, &opts(&["max-size=10m", "max-file=3"])).unwrap();
    assert_eq!(
        rotation(&c),
        Rotation {
            max_size: Some(10_000_000),
            max_file: 3
        }
    );
    // max-file defaults to 1 with a size: the file is replaced.
    let c = parse(None, &opts(&["max-size=1k"])).unwrap();
    assert_eq!(rotation(&c).max_file, 1);
    assert_eq!(rotation(&c).max_size, Some(1000));
    assert_eq!(rotation(&parse(None, &[]).unwrap()).max_size, None);
    for bad in [
        &["max-file=3"][..],
        &["max-size=0"],
        &["max-size=ten"],
        &["max-size=1x"],
        &["max-size=1m", "max-file=0"],
        &["max-size=1m", "max-file=-2"],
        &["max-size=1m", "max-file=3", "compress=true"],
        &["compress=maybe"],
        &["labels-regex=^a"],
        &["mode=non-blocking"],
        &["max-size"],
        &["tag={{.Config.Hostname}}"],
    ] {
        assert!(parse(None, &opts(bad)).is_err(), "{bad:?}");
    }
    assert!(parse(None, &opts(&["compress=false", "max-size=-1"])).is_ok());
}

#[test]
fn attributes_come_from_labels_env_and_tag() {
    let config = parse(
        None,
        &opts(&[
            "labels=team,missing",
            "env=STAGE,NOPE",
            "tag={{.Name}}/{{.ID}}",
        ]),
    )
    .unwrap();
    let mut rec: ContainerRecord = serde_json::from_value(serde_json::json!({
        "id": "0123456789abcdef0123",
        "name": "web",
        "image": "busybox",
        "image_id": "sha256:feed",
        "command": [],
        "created": 0.0,
        "hostname": "h",
        "auto_remove": false,
        "tty": false,
        "interactive": false,
        "detached": true,
        "cgroup": "pocky/x",
        "state": {"status": null, "pid": 0, "pid_start": 0, "started_at": null,
                  "finished_at": null, "exit_code": null, "oom_killed": false, "error": null},
    }))
    .unwrap();
    rec.labels.insert("team".into(), "a b&c".into());
    rec.host.log = config;
    let attrs = attributes(&rec, &opts(&["STAGE=prod", "PATH=/bin"]));
    assert_eq!(attrs.len(), 3);
    assert_eq!(attrs["tag"], "web/0123456789ab");
    assert_eq!(
        details_prefix(&attrs),
        "STAGE=prod,tag=web%2F0123456789ab,team=a+b%26c"
    );
    assert_eq!(details_prefix(&BTreeMap::new()), "");
}
