use super::*;

fn request() -> RunRequest {
    RunRequest::default()
}

#[test]
fn durations_parse_as_gos() {
    let ok = |s: &str| parse_go_duration(s).unwrap();
    assert_eq!(ok("1s"), 1_000_000_000);
    assert_eq!(ok("500ms"), 500_000_000);
    assert_eq!(ok("1m30s"), 90_000_000_000);
    assert_eq!(ok("1.5h"), 5_400_000_000_000);
    assert_eq!(ok(".5s"), 500_000_000);
    assert_eq!(ok("0"), 0);
    assert_eq!(ok("-2s"), -2_000_000_000);
    assert_eq!(ok("3us"), 3_000);
    assert_eq!(ok("3µs"), 3_000);
    assert_eq!(ok("10ns"), 10);
    for bad in ["", "1", "s", "1x", "1.2.3s", "-", ".s", "9999999999h"] {
        assert!(parse_go_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn durations_print_as_gos() {
    let s = |ns: u64| go_duration_string(Duration::from_nanos(ns));
    assert_eq!(s(1_000_000_000), "1s");
    assert_eq!(s(500_000_000), "500ms");
    assert_eq!(s(90_000_000_000), "1m30s");
    assert_eq!(s(3_600_000_000_000), "1h0m0s");
    assert_eq!(s(1_500_000_000), "1.5s");
}

#[test]
fn flags_make_a_partial_config() {
    assert_eq!(from_flags(&request()).unwrap(), None);
    let mut r = request();
    r.health_cmd = Some("curl -f localhost".into());
    r.health_interval = Some("1s".into());
    r.health_retries = Some(2);
    let cfg = from_flags(&r).unwrap().unwrap();
    assert_eq!(cfg.test, ["CMD-SHELL", "curl -f localhost"]);
    assert_eq!(cfg.interval, 1_000_000_000);
    assert_eq!(cfg.retries, 2);
    assert_eq!(cfg.timeout, 0, "left to the image or the default");

    let mut r = request();
    r.no_healthcheck = true;
    assert_eq!(from_flags(&r).unwrap().unwrap().test, ["NONE"]);
    r.health_timeout = Some("2s".into());
    let e = from_flags(&r).unwrap_err();
    assert!(e.to_string().contains("conflicts"), "{e}");

    for (set, value) in [(0, "-1s"), (1, "10us"), (2, "soon"), (3, "-5m")] {
        let mut r = request();
        let v = Some(value.to_owned());
        match set {
            0 => r.health_interval = v,
            1 => r.health_timeout = v,
            2 => r.health_start_period = v,
            _ => r.health_start_interval = v,
        }
        assert!(from_flags(&r).is_err(), "{value}");
    }
    let mut r = request();
    r.health_retries = Some(-1);
    assert!(from_flags(&r).is_err());
}

const IMAGE: &str = r#"{
  "architecture": "amd64", "os": "linux",
  "config": {
    "Cmd": ["nginx"],
    "Healthcheck": {
      "Test": ["CMD", "/bin/check", "--quick"],
      "Interval": 10000000000,
      "Timeout": 3000000000,
      "StartPeriod": 5000000000,
      "Retries": 4
    }
  },
  "rootfs": {"type": "layers", "diff_ids": []}
}"#;

#[test]
fn an_image_healthcheck_is_read_from_its_config() {
    let cfg = from_image_config(IMAGE.as_bytes()).unwrap().unwrap();
    assert_eq!(cfg.test, ["CMD", "/bin/check", "--quick"]);
    assert_eq!(cfg.interval, 10_000_000_000);
    assert_eq!(cfg.start_interval, 0);
    assert_eq!(cfg.retries, 4);
    let none = r#"{"config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": []}}"#;
    assert_eq!(from_image_config(none.as_bytes()).unwrap(), None);
    assert_eq!(from_image_config(b"{}").unwrap(), None);
    assert!(from_image_config(b"[").is_err());
}

#[test]
fn flags_override_the_image_field_by_field() {
    let image = from_image_config(IMAGE.as_bytes()).unwrap();
    let mut r = request();
    r.health_interval = Some("1s".into());
    let merged = merge(from_flags(&r).unwrap(), image.clone()).unwrap();
    assert_eq!(merged.test, ["CMD", "/bin/check", "--quick"], "kept");
    assert_eq!(merged.interval, 1_000_000_000, "overridden");
    assert_eq!(merged.timeout, 3_000_000_000, "kept");
    assert_eq!(merged.retries, 4, "kept");

    let mut r = request();
    r.health_cmd = Some("true".into());
    let merged = merge(from_flags(&r).unwrap(), image.clone()).unwrap();
    assert_eq!(merged.test, ["CMD-SHELL", "true"]);
    assert_eq!(merged.interval, 10_000_000_000);

    let mut r = request();
    r.no_healthcheck = true;
    let merged = merge(from_flags(&r).unwrap(), image.clone());
    assert_eq!(Settings::of(merged.as_ref()), None, "NONE switches it off");
    assert_eq!(merge(None, image.clone()), image);
    assert_eq!(merge(None, None), None);
}

#[test]
fn settings_fill_dockers_defaults() {
    let s = Settings::of(Some(&HealthConfig {
        test: vec!["CMD-SHELL".into(), "exit 0".into()],
        ..HealthConfig::default()
    }))
    .unwrap();
    assert_eq!(s.probe.argv(), ["/bin/sh", "-c", "exit 0"]);
    assert_eq!(
        (
            s.interval,
            s.timeout,
            s.start_period,
            s.start_interval,
            s.retries
        ),
        (
            Duration::from_secs(30),
            Duration::from_secs(30),
            Duration::ZERO,
            Duration::from_secs(5),
            3
        )
    );
    let image = from_image_config(IMAGE.as_bytes()).unwrap();
    let s = Settings::of(image.as_ref()).unwrap();
    assert_eq!(
        s.probe,
        Probe::Exec(vec!["/bin/check".into(), "--quick".into()])
    );
    assert_eq!(s.retries, 4);
    for test in [vec![], vec!["NONE"], vec!["CMD"], vec!["WHAT", "x"]] {
        let cfg = HealthConfig {
            test: test.iter().map(|t| t.to_string()).collect(),
            ..HealthConfig::default()
        };
        assert_eq!(Settings::of(Some(&cfg)), None, "{test:?}");
    }
}
