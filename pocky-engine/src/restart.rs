//! Restart policies (`--restart`), as Docker runs them: the container's
//! monitor starts it again after an exit the policy covers, waiting 100 ms
//! before the first restart and twice as long before each next one (at
//! most a minute), back to 100 ms after a run of ten seconds or more.
//! `stop`, `kill` and `rm -f` mark the container manually stopped, which
//! ends the loop until the next `start`.

use std::time::Duration;

use anyhow::{Result, bail};

/// What `--restart` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// On a non-zero exit, at most this many times (None: no limit).
    OnFailure(Option<u32>),
}

impl Policy {
    /// Docker's syntax: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<Policy> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match name {
            "no" | "" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => {
                let max = count
                    .map(|c| {
                        c.parse::<u32>().map_err(|_| {
                            anyhow::Error::new(crate::invalid!(
                                "invalid restart policy {s:?}: {c:?} is not a count"
                            ))
                        })
                    })
                    .transpose()?;
                return Ok(Policy::OnFailure(max));
            }
            _ => bail!(crate::invalid!(
                "invalid restart policy {s:?}: use no, always, unless-stopped or on-failure[:max-retries]"
            )),
        };
        if count.is_some() {
            bail!(crate::invalid!(
                "invalid restart policy {s:?}: only on-failure takes a maximum retry count"
            ));
        }
        Ok(policy)
    }

    /// Whether an exit with `code` after `restarts` restarts is followed
    /// by another start.
    pub fn restarts(self, code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// The wait before each restart.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(60);
/// A run this long counts as a success: the wait starts over.
const STEADY: Duration = Duration::from_secs(10);

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The wait after a run that lasted `ran`.
    pub fn after(&mut self, ran: Duration) -> Duration {
        if ran >= STEADY {
            self.next = FIRST;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(LONGEST);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_dockers() {
        assert_eq!(Policy::parse("no").unwrap(), Policy::No);
        assert_eq!(Policy::parse("always").unwrap(), Policy::Always);
        assert_eq!(
            Policy::parse("unless-stopped").unwrap(),
            Policy::UnlessStopped
        );
        assert_eq!(
            Policy::parse("on-failure").unwrap(),
            Policy::OnFailure(None)
        );
        assert_eq!(
            Policy::parse("on-failure:3").unwrap(),
            Policy::OnFailure(Some(3))
        );
        for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn who_restarts() {
        let f = Policy::OnFailure(Some(2));
        assert!(f.restarts(1, 0, false) && f.restarts(1, 1, false));
        assert!(!f.restarts(1, 2, false), "gives up after two restarts");
        assert!(!f.restarts(0, 0, false), "a clean exit is not a failure");
        assert!(Policy::Always.restarts(0, 100, false));
        assert!(!Policy::Always.restarts(0, 0, true), "stopped by hand");
        assert!(!Policy::No.restarts(1, 0, false));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_starts_over_after_a_steady_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(5);
        let waits: Vec<u128> = (0..4).map(|_| b.after(quick).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800]);
        for _ in 0..20 {
            b.after(quick);
        }
        assert_eq!(b.after(quick), LONGEST);
        assert_eq!(b.after(STEADY), FIRST);
    }
}
