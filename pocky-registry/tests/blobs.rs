//! BlobReader: verification at EOF, size limits and Range resume.

mod support;

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::sync::{Arc, Mutex};

use pocky_registry::{Client, Digest, Reference, RegistryError};
use support::*;

fn blob() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

fn range_start(head: &str) -> Option<u64> {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().trim_end_matches('-').parse().ok())
}

/// First connection sends half the body and hangs up; the second answers
/// the Range request with 206 or, when `ignore_range`, the whole body.
fn dropping_server(data: Vec<u8>, ignore_range: bool) -> RawStub {
    RawStub::start(2, move |i, head, stream| {
        let len = data.len();
        if i == 0 {
            write_raw(
                stream,
                "200 OK",
                &[("Content-Length", len.to_string())],
                &data[..len / 2],
            );
            return;
        }
        match range_start(head) {
            Some(start) if !ignore_range => {
                let start = start as usize;
                write_raw(
                    stream,
                    "206 Partial Content",
                    &[
                        ("Content-Length", (len - start).to_string()),
                        ("Content-Range", format!("bytes {start}-{}/{len}", len - 1)),
                    ],
                    &data[start..],
                );
            }
            _ => write_raw(
                stream,
                "200 OK",
                &[("Content-Length", len.to_string())],
                &data,
            ),
        }
    })
}

fn read_all(port: u16, data: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(options(dir.path())).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{port}/a")).unwrap();
    let mut reader = client
        .open_blob(&r, &Digest::sha256_of(data), data.len() as u64)
        .unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map(|_| out)
}

#[test]
fn resumes_with_range_after_a_dropped_connection() {
    let data = blob();
    let server = dropping_server(data.clone(), false);
    let out = read_all(server.port, &data).unwrap();
    assert_eq!(out, data);
    let heads = server.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2);
    assert_eq!(range_start(&heads[0]), None);
    assert_eq!(range_start(&heads[1]), Some(data.len() as u64 / 2));
}

#[test]
fn resume_skips_ahead_when_the_server_ignores_range() {
    let data = blob();
    let server = dropping_server(data.clone(), true);
    assert_eq!(read_all(server.port, &data).unwrap(), data);
}

#[test]
fn resumes_are_limited() {
    let data = blob();
    let len = data.len();
    let d = data.clone();
    // retries = 3 in the test options: 1 first try + 3 resumes, all cut short.
    let server = RawStub::start(4, move |_, _, stream| {
        write_raw(
            stream,
            "200 OK",
            &[("Content-Length", len.to_string())],
            &d[..10],
        );
    });
    let err = read_all(server.port, &data).unwrap_err();
    assert!(err.to_string().contains("after 3 resumes"), "{err}");
}

fn serve_blob(digest: &Digest, body: Vec<u8>) -> Stub {
    let mut content = HashMap::new();
    content.insert(
        format!("/v2/a/blobs/{digest}"),
        Resp::ok("application/octet-stream", body),
    );
    Stub::start(|_| serve_map(content))
}

#[test]
fn digest_mismatch_is_an_error_at_eof() {
    let dir = tempfile::tempdir().unwrap();
    let claimed = Digest::sha256_of(b"the real content");
    let served = b"the fake content".to_vec();
    let stub = serve_blob(&claimed, served.clone());
    let client = Client::new(options(dir.path())).unwrap();
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    let mut reader = client.open_blob(&r, &claimed, served.len() as u64).unwrap();
    let mut out = Vec::new();
    let err = reader.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(msg.contains(claimed.as_str()), "{msg}");
    assert!(msg.contains(Digest::sha256_of(&served).as_str()), "{msg}");
    // A caller that reads on after the error never sees a clean end: a
    // copy of the blob that trusted the reader must not be kept.
    let again = reader.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::InvalidData);

    let err = client
        .fetch_blob(&r, &claimed, served.len() as u64, 1024)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Io { .. }), "{err}");
}

#[test]
fn size_mismatch_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"0123456789".to_vec();
    let d = Digest::sha256_of(&data);
    let stub = serve_blob(&d, data.clone());
    let client = Client::new(options(dir.path())).unwrap();
    let r = Reference::parse(&format!("{}/a", stub.host())).unwrap();
    // The registry announces more bytes than the manifest said.
    let err = client.open_blob(&r, &d, 5).unwrap_err();
    assert!(matches!(err, RegistryError::SizeMismatch { .. }), "{err}");
    // fetch_blob refuses anything above its cap before asking.
    let err = client.fetch_blob(&r, &d, 10, 9).unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");
    assert_eq!(client.fetch_blob(&r, &d, 10, 10).unwrap(), data);
}

#[test]
fn reading_past_the_expected_size_is_an_error() {
    // Chunked body, no Content-Length: only the running count can catch it.
    let data = b"0123456789".to_vec();
    let d = Digest::sha256_of(&data[..5]);
    let seen = Arc::new(Mutex::new(0));
    let s = seen.clone();
    let server = RawStub::start(1, move |_, _, stream| {
        *s.lock().unwrap() += 1;
        write_raw(
            stream,
            "200 OK",
            &[("Transfer-Encoding", "chunked".into())],
            b"a\r\n0123456789\r\n0\r\n\r\n",
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(options(dir.path())).unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{}/a", server.port)).unwrap();
    let mut out = Vec::new();
    let err = client
        .open_blob(&r, &d, 5)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string().contains("more than the expected 5 bytes"),
        "{err}"
    );
    assert_eq!(*seen.lock().unwrap(), 1);
}
