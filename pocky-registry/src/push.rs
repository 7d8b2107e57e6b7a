//! Pushing: blob existence checks, cross-repository mounts, blob uploads
//! and manifests.
//!
//! An upload is a session on the registry (POST, then PATCHes, then a PUT
//! that names the digest). A transient failure anywhere in it starts a new
//! session and reads the content again from the start: the state of a
//! half-written session after a broken connection is unknowable, and
//! asking the registry for it costs as much as starting over for the
//! blob sizes images have. The registry checks the digest when the upload
//! is committed; pocky also hashes what it sends, so content that does not
//! match the digest is reported as such and not as a registry error.

use std::io::{self, Read};
use std::thread::sleep;

use ureq::Body;
use ureq::http::{Method, Response};

use crate::client::Client;
use crate::digest::{Digest, Hasher};
use crate::error::{RegistryError, Result};
use crate::reference::Reference;
use crate::transport::{Access, Attempt, Call, backoff};
use crate::url::{percent_encode, resolve_location};

const OCTET_STREAM: &str = "application/octet-stream";

/// Opens the content of a blob from its first byte; called once per attempt.
pub type OpenBlob<'a> = &'a dyn Fn() -> io::Result<Box<dyn Read + Send>>;

impl Client {
    /// Whether the repository already holds the blob (HEAD), so that a push
    /// can skip it.
    pub fn blob_exists(&self, r: &Reference, digest: &Digest) -> Result<bool> {
        let path = format!("/v2/{}/blobs/{digest}", r.repository);
        let call = call(r, Method::HEAD, Access::Push, &path, &[]);
        match self.transport.request(&call, None) {
            Ok(_) => Ok(true),
            Err(RegistryError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Asks the registry to link a blob that `from_repository` (on the same
    /// registry) holds into `r`'s repository, without uploading it. True when
    /// mounted. A registry that cannot mount (the source lacks the blob, or
    /// the token does not allow pulling from it) opens an upload session
    /// instead; that session is cancelled here and false returned, so that
    /// the caller pushes the blob with [`Client::push_blob`], which owns the
    /// lifecycle and retries of its own sessions.
    pub fn mount_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        from_repository: &str,
    ) -> Result<bool> {
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            r.repository,
            percent_encode(digest.as_str()),
            percent_encode(from_repository)
        );
        let access = Access::Mount {
            from: from_repository,
        };
        let resp = self
            .transport
            .request(&call(r, Method::POST, access, &path, &[]), None)?;
        match resp.status().as_u16() {
            201 => {
                check_reported(r, &resp, digest).map_err(|a| a.error)?;
                Ok(true)
            }
            202 => {
                let base = self.transport.url_of(Client::target(r), &path);
                if let Ok(location) = next_location(r, digest, &resp, &base) {
                    self.cancel_upload(r, &location);
                }
                Ok(false)
            }
            status => Err(upload_error(
                r,
                digest,
                format!("the mount answered HTTP {status}, expected 201 or 202"),
            )),
        }
    }

    /// Uploads a blob of `size` bytes: in one PUT when it fits in
    /// `ClientOptions::upload_chunk_size`, else in PATCH chunks of that size
    /// followed by a PUT that commits it. `open` is called at the start of
    /// every attempt and must give the content from its first byte;
    /// `progress` gets the bytes sent so far in the current attempt (it
    /// starts again from 0 when an attempt is retried).
    pub fn push_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        open: OpenBlob<'_>,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let retries = self.transport.retries();
        let mut attempt = 0u32;
        loop {
            match self.upload(r, digest, size, open, progress) {
                Ok(()) => return Ok(()),
                Err(a) if a.transient && attempt < retries => {
                    attempt += 1;
                    sleep(backoff(attempt));
                }
                Err(a) if a.transient && retries > 0 => {
                    return Err(RegistryError::RetriesExhausted {
                        url: format!("{}/{}@{digest}", r.registry, r.repository),
                        attempts: attempt + 1,
                        last: a.error.to_string(),
                    });
                }
                Err(a) => return Err(a.error),
            }
        }
    }

    /// One attempt: a fresh session, the content read from its start.
    fn upload(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        open: OpenBlob<'_>,
        progress: &dyn Fn(u64),
    ) -> std::result::Result<(), Attempt> {
        let start = format!("/v2/{}/blobs/uploads/", r.repository);
        let resp = self
            .transport
            .request(&call(r, Method::POST, Access::Push, &start, &[]), None)
            .map_err(Attempt::fatal)?;
        let base = self.transport.url_of(Client::target(r), &start);
        let mut location = next_location(r, digest, &resp, &base).map_err(Attempt::fatal)?;
        let inner = open().map_err(|e| {
            Attempt::fatal(upload_error(r, digest, format!("opening its content: {e}")))
        })?;
        let mut source = Source {
            inner,
            hasher: Some(Hasher::new(digest.algorithm())),
            read: 0,
            failure: None,
            progress,
        };
        let sent = self.send_content(r, digest, size, &mut location, &mut source);
        let sent = match (sent, source.failure.take()) {
            // The content, not the network, failed: another attempt reads the same.
            (Err(_), Some(reason)) => Err(Attempt::fatal(upload_error(r, digest, reason))),
            (res, _) => res,
        };
        if sent.is_err() {
            self.cancel_upload(r, &location);
        }
        sent
    }

    fn send_content(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        location: &mut String,
        source: &mut Source<'_>,
    ) -> std::result::Result<(), Attempt> {
        let chunk = self.opts.upload_chunk_size.max(1);
        let commit_url =
            |loc: &str| with_query(loc, &format!("digest={}", percent_encode(digest.as_str())));
        let content_type = [("Content-Type", OCTET_STREAM.to_string())];
        if size <= chunk {
            let url = commit_url(location);
            let call = call(r, Method::PUT, Access::Push, &url, &content_type);
            let result = {
                let mut body = Chunk {
                    source: &mut *source,
                    remaining: size,
                };
                self.transport.send_once(&call, Some((&mut body, size)))
            };
            // Wrong content makes the registry refuse the commit; say why.
            if source.read == size {
                source.verify(digest)?;
            }
            return check_reported(r, &result?, digest);
        }
        let mut offset = 0u64;
        while offset < size {
            let n = chunk.min(size - offset);
            let last = offset + n - 1;
            let headers = [
                ("Content-Type", OCTET_STREAM.to_string()),
                ("Content-Range", format!("{offset}-{last}")),
            ];
            let call = call(r, Method::PATCH, Access::Push, location, &headers);
            let mut body = Chunk {
                source: &mut *source,
                remaining: n,
            };
            let resp = self.transport.send_once(&call, Some((&mut body, n)))?;
            if let Some(range) = header(&resp, "range") {
                let range = range.trim().trim_start_matches("bytes=");
                if range != format!("0-{last}") {
                    return Err(Attempt {
                        transient: true,
                        error: upload_error(
                            r,
                            digest,
                            format!("after sending bytes 0-{last} the registry holds {range}"),
                        ),
                    });
                }
            }
            *location = next_location(r, digest, &resp, location).map_err(Attempt::fatal)?;
            offset += n;
        }
        source.verify(digest)?;
        let url = commit_url(location);
        let resp = self
            .transport
            .send_once(&call(r, Method::PUT, Access::Push, &url, &[]), None)?;
        check_reported(r, &resp, digest)
    }

    /// Best effort: the registry expires abandoned sessions anyway.
    fn cancel_upload(&self, r: &Reference, location: &str) {
        let _ = self
            .transport
            .send_once(&call(r, Method::DELETE, Access::Push, location, &[]), None);
    }

    /// Uploads a manifest under `r`'s tag (or its digest when it has no
    /// tag) with `media_type` as its Content-Type, and returns its digest.
    /// The blobs it names must be pushed first.
    pub fn put_manifest(&self, r: &Reference, bytes: &[u8], media_type: &str) -> Result<Digest> {
        let max = self.opts.max_manifest_bytes;
        if bytes.len() as u64 > max {
            return Err(RegistryError::ManifestTooLarge {
                reference: r.to_string(),
                max,
            });
        }
        let digest = match &r.digest {
            Some(want) => {
                let got = Digest::of(want.algorithm(), bytes);
                if got != *want {
                    return Err(RegistryError::DigestMismatch {
                        what: "manifest to push",
                        expected: want.to_string(),
                        actual: got.to_string(),
                    });
                }
                got
            }
            None => Digest::sha256_of(bytes),
        };
        let reference = match &r.tag {
            Some(tag) => tag.clone(),
            None => digest.to_string(),
        };
        let path = format!("/v2/{}/manifests/{reference}", r.repository);
        let headers = [("Content-Type", media_type.to_string())];
        let resp = self.transport.request(
            &call(r, Method::PUT, Access::Push, &path, &headers),
            Some(bytes),
        )?;
        if let Some(h) = header(&resp, "docker-content-digest") {
            let reported = Digest::parse(h.trim())?;
            let ours = Digest::of(reported.algorithm(), bytes);
            if reported != ours {
                return Err(RegistryError::DigestMismatch {
                    what: "pushed manifest (registry's Docker-Content-Digest)",
                    expected: ours.to_string(),
                    actual: reported.to_string(),
                });
            }
        }
        Ok(digest)
    }
}

fn call<'a>(
    r: &'a Reference,
    method: Method,
    access: Access<'a>,
    url: &'a str,
    headers: &'a [(&'a str, String)],
) -> Call<'a> {
    Call {
        method,
        target: Client::target(r),
        access,
        url,
        headers,
    }
}

fn upload_error(r: &Reference, digest: &Digest, reason: impl Into<String>) -> RegistryError {
    RegistryError::Upload {
        repository: format!("{}/{}", r.registry, r.repository),
        digest: digest.to_string(),
        reason: reason.into(),
    }
}

fn header<'r>(resp: &'r Response<Body>, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Where the session continues: each answer names the URL of the next
/// step, relative to the URL that gave it or absolute, maybe on another host.
fn next_location(
    r: &Reference,
    digest: &Digest,
    resp: &Response<Body>,
    base: &str,
) -> Result<String> {
    let loc = header(resp, "location")
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| upload_error(r, digest, "the registry's answer has no Location"))?;
    resolve_location(base, loc.trim())
}

/// Adds a query parameter to a URL that may already carry a query (the
/// session state registries keep in `_state=`).
fn with_query(url: &str, param: &str) -> String {
    // A fragment is never sent, so it is dropped rather than kept after the query.
    let url = url.split('#').next().unwrap_or(url);
    let sep = if !url.contains('?') {
        "?"
    } else if url.ends_with('?') || url.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{url}{sep}{param}")
}

/// Refuses a commit whose `Docker-Content-Digest` names other content.
fn check_reported(
    r: &Reference,
    resp: &Response<Body>,
    digest: &Digest,
) -> std::result::Result<(), Attempt> {
    if resp.status().as_u16() == 202 {
        return Err(Attempt::fatal(upload_error(
            r,
            digest,
            "the registry answered 202 Accepted, not 201 Created, to the commit",
        )));
    }
    if let Some(h) = header(resp, "docker-content-digest") {
        let reported = Digest::parse(h.trim()).map_err(Attempt::fatal)?;
        if reported != *digest {
            return Err(Attempt::fatal(RegistryError::DigestMismatch {
                what: "pushed blob (registry's Docker-Content-Digest)",
                expected: digest.to_string(),
                actual: reported.to_string(),
            }));
        }
    }
    Ok(())
}

/// The caller's content, hashed and counted as the HTTP client reads it.
struct Source<'p> {
    inner: Box<dyn Read + Send>,
    hasher: Option<Hasher>,
    read: u64,
    /// Set when the content itself failed (short, unreadable): retrying
    /// would read the same, so the attempt is not transient.
    failure: Option<String>,
    progress: &'p dyn Fn(u64),
}

impl Source<'_> {
    fn verify(&mut self, digest: &Digest) -> std::result::Result<(), Attempt> {
        let Some(h) = self.hasher.take() else {
            return Ok(());
        };
        let actual = h.finish();
        if actual != *digest {
            return Err(Attempt::fatal(RegistryError::DigestMismatch {
                what: "blob content to push",
                expected: digest.to_string(),
                actual: actual.to_string(),
            }));
        }
        Ok(())
    }
}

/// The next `remaining` bytes of the source; ending early is an error, so
/// the request never leaves the registry waiting for bytes that will not come.
struct Chunk<'s, 'p> {
    source: &'s mut Source<'p>,
    remaining: u64,
}

impl Read for Chunk<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let s = &mut *self.source;
        let n = match s.inner.read(&mut buf[..want]) {
            Ok(0) => {
                let msg = format!("its content ended after {} bytes", s.read);
                s.failure = Some(msg.clone());
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                s.failure = Some(format!("reading its content: {e}"));
                return Err(e);
            }
        };
        if let Some(h) = s.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        s.read += n as u64;
        self.remaining -= n as u64;
        (s.progress)(s.read);
        Ok(n)
    }
}
