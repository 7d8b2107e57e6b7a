//! The decompressed stream's tap: sha256 for the diff_id and a byte budget.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// Hashes and counts every byte read through it, and fails once more than
/// `max` bytes have come through (decompression bombs).
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    max: u64,
    exceeded: bool,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, max: u64) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            max,
            exceeded: false,
        }
    }

    /// True once the byte budget was overrun; any error seen after that is
    /// a consequence of it.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    pub(crate) fn total(&self) -> u64 {
        self.bytes
    }

    /// `sha256:<hex>` of everything read so far.
    pub(crate) fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(limit_error());
        }
        // Never ask for much more than the budget allows, so a bomb is
        // caught without inflating a large buffer past it.
        let room = self.max.saturating_sub(self.bytes).saturating_add(1);
        let want = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        self.bytes += n as u64;
        if self.bytes > self.max {
            self.exceeded = true;
            return Err(limit_error());
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn limit_error() -> io::Error {
    io::Error::other("decompressed layer exceeds the size limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_counts() {
        let mut r = HashingReader::new(&b"abc"[..], 10);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(r.total(), 3);
        assert_eq!(
            r.digest(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn exactly_at_limit_is_fine_one_more_fails() {
        let mut ok = HashingReader::new(&[0u8; 8][..], 8);
        ok.read_to_end(&mut Vec::new()).unwrap();
        let mut over = HashingReader::new(&[0u8; 9][..], 8);
        assert!(over.read_to_end(&mut Vec::new()).is_err());
        assert!(over.exceeded());
    }
}
