use super::*;
use config::Probe;

fn settings(retries: u32, start_period: u64) -> Settings {
    Settings {
        probe: Probe::Shell("true".into()),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        start_period: Duration::from_secs(start_period),
        start_interval: Duration::from_secs(1),
        retries,
    }
}

fn result(at: f64, code: i32) -> HealthResult {
    HealthResult {
        start: at,
        end: at + 0.1,
        exit_code: code,
        output: format!("run at {at}"),
    }
}

fn starting() -> Health {
    Health {
        status: HealthStatus::Starting,
        failing_streak: 0,
        log: vec![],
    }
}

#[test]
fn retries_failures_in_a_row_make_it_unhealthy_and_a_success_heals() {
    let s = settings(2, 0);
    let mut h = starting();
    record(&mut h, result(1.0, 1), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
    record(&mut h, result(2.0, 1), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
    record(&mut h, result(3.0, 0), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    record(&mut h, result(4.0, -1), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
}

#[test]
fn failures_in_the_start_period_do_not_count_while_starting() {
    let s = settings(1, 10);
    let mut h = starting();
    record(&mut h, result(5.0, 1), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
    record(&mut h, result(6.0, 0), 0.0, &s);
    assert_eq!(h.status, HealthStatus::Healthy);
    // Once healthy, the start period is over for counting.
    record(&mut h, result(7.0, 1), 0.0, &s);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 1));
    let mut h = starting();
    record(&mut h, result(11.0, 1), 0.0, &s);
    assert_eq!(h.status, HealthStatus::Unhealthy, "after the period");
}

#[test]
fn the_log_keeps_the_last_five() {
    let s = settings(3, 0);
    let mut h = starting();
    for i in 0..8 {
        record(&mut h, result(f64::from(i), 0), 0.0, &s);
    }
    let starts: Vec<f64> = h.log.iter().map(|r| r.start).collect();
    assert_eq!(starts, [3.0, 4.0, 5.0, 6.0, 7.0]);
}
