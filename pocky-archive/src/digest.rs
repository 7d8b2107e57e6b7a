//! sha256 digests: parsing, formatting, hashing while copying.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{ArchiveError, shown};

/// The hex part of a `sha256:<64 lowercase hex>` digest. Only sha256 is
/// accepted: it is what every producer writes, and a digest we cannot
/// compute is a digest we cannot verify.
pub(crate) fn sha256_hex(digest: &str) -> Result<&str, ArchiveError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_hex64(hex) => Ok(hex),
        _ => Err(ArchiveError::InvalidDigest {
            digest: shown(digest),
        }),
    }
}

pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn of_bytes(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Copies `r` to `w`, returning the byte count and the sha256 of what
/// passed.
pub(crate) fn copy_hashing(r: &mut impl Read, w: &mut impl Write) -> io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
    Ok((n, format!("sha256:{}", hex::encode(h.finalize()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_strict() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(sha256_hex(&ok).unwrap(), "a".repeat(64));
        for bad in [
            "sha256:abc".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            "a".repeat(64),
        ] {
            assert!(sha256_hex(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            of_bytes(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
