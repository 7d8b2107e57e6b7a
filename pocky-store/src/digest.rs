use sha2::{Digest as _, Sha256};

use crate::error::{Result, StoreError};

/// Validates `sha256:<64 lowercase hex>` and returns the hex part. Digests
/// become file names, so anything else (a `/`, `..`, upper case) is refused.
pub fn sha256_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| StoreError::BadDigest(digest.to_owned()))?;
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(hex)
    } else {
        Err(StoreError::BadDigest(digest.to_owned()))
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The chain ids of a stack of layers, bottom first: the first is its diff
/// id, each next one is `sha256("<parent chain id> <diff id>")`, as the OCI
/// image spec defines. Identical stacks share unpacked layers this way.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let id = match out.last() {
            None => diff.clone(),
            Some(parent) => sha256_of(format!("{parent} {diff}").as_bytes()),
        };
        out.push(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_validation() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(sha256_hex(&good).is_ok());
        for bad in [
            "sha256:../../etc",
            "sha512:abc",
            "sha256:ABCDEF",
            &format!("sha256:{}", "a".repeat(63)),
            &format!("sha256:{}/x", "a".repeat(62)),
        ] {
            assert!(sha256_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256_of(b"a");
        let b = sha256_of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256_of(format!("{a} {b}").as_bytes()));
    }
}
