//! Bounds on what a hostile archive may make us read, store or hash.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Limits applied while reading an archive. Every one is checked before
/// the bytes it bounds are buffered, so an oversize entry is refused
/// without being read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// An image manifest (OCI or Docker schema 2).
    pub max_manifest_bytes: u64,
    /// An image config.
    pub max_config_bytes: u64,
    /// `index.json`, `manifest.json`, `repositories`, `oci-layout` and
    /// nested indexes.
    pub max_index_bytes: u64,
    /// Tar entries of any kind.
    pub max_entries: u64,
    /// Layers of one image.
    pub max_layers: usize,
    /// The uncompressed tar stream: bounds what lands in scratch, and what
    /// an outer gzip or zstd can expand to.
    pub max_total_bytes: u64,
    /// All layers together once decompressed for diff_id checks: layers are
    /// only hashed, never stored expanded, but a gzip bomb still costs time.
    pub max_expanded_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_manifest_bytes: 4 * MIB,
            max_config_bytes: 8 * MIB,
            max_index_bytes: 4 * MIB,
            max_entries: 100_000,
            max_layers: 500,
            max_total_bytes: 64 * GIB,
            max_expanded_bytes: 256 * GIB,
        }
    }
}

/// A reader that fails once more than `limit` bytes have passed. The flag
/// is shared because the tar crate rewraps our I/O error into its own, and
/// the caller needs to tell "too large" from "broken".
pub(crate) struct Bounded<R> {
    inner: R,
    left: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Bounded<R> {
    pub(crate) fn new(inner: R, limit: u64) -> (Bounded<R>, Rc<Cell<bool>>) {
        let tripped = Rc::new(Cell::new(false));
        let r = Bounded {
            inner,
            left: limit,
            tripped: Rc::clone(&tripped),
        };
        (r, tripped)
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more than allowed tells EOF-at-the-limit from excess.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.tripped.set(true);
                    Err(io::Error::other("size limit exceeded"))
                }
            };
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_allows_exactly_the_limit_and_trips_past_it() {
        let (mut r, t) = Bounded::new(&b"abcd"[..], 4);
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"abcd");
        assert!(!t.get());

        let (mut r, t) = Bounded::new(&b"abcde"[..], 4);
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert!(t.get());
    }
}
