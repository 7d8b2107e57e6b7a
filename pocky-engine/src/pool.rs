//! A bounded pool of scoped threads for per-layer work (pull, push): at
//! most `threads` jobs at once, the first failure stops the pool from
//! starting more and is the error reported.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Result;

/// Runs `job(k)` for every `k` in `0..count`.
pub(crate) fn run_each(
    threads: usize,
    count: usize,
    job: impl Fn(usize) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.min(count) {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count {
                        return;
                    }
                    if let Err(e) = job(k) {
                        failed.store(true, Ordering::Relaxed);
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The 12 hex digits a progress line shows of a digest.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex[..hex.len().min(12)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_job_and_stops_at_the_first_failure() {
        let done = AtomicUsize::new(0);
        run_each(3, 10, |_| {
            done.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 10);
        let started = AtomicUsize::new(0);
        let err = run_each(1, 10, |k| {
            started.fetch_add(1, Ordering::Relaxed);
            if k == 2 {
                anyhow::bail!("job {k}")
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "job 2");
        assert_eq!(started.load(Ordering::Relaxed), 3);
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
