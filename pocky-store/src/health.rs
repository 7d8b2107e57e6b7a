//! A container's healthcheck as configured and as last observed. The
//! configuration has Docker's shape (`Test`, and durations in nanoseconds,
//! 0 meaning "Docker's default"), so the same type reads an image config's
//! `Healthcheck` and is shown by `inspect` as `Config.Healthcheck`.

use serde::{Deserialize, Serialize};

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Docker's `HealthConfig`. `Test` is `["CMD", arg...]`,
/// `["CMD-SHELL", command]`, `["NONE"]` (no check) or empty (inherit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// Docker's three health states (`none` is the absence of a [`Health`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe: Unix seconds of its start and end, its exit code (-1 when
/// it could not run or exceeded its timeout) and the start of its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: f64,
    pub end: f64,
    pub exit_code: i32,
    pub output: String,
}

/// What the probes found since the container's last start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Consecutive failures counted (not those in the start period).
    pub failing_streak: u32,
    /// The last few probes, oldest first.
    #[serde(default)]
    pub log: Vec<HealthResult>,
}
