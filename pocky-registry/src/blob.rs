//! Streaming blob download: hashes and counts while reading, verifies at the
//! end, and resumes with a Range request when the connection breaks.

use std::io::{self, Read};
use std::sync::Arc;

use ureq::BodyReader;

use crate::digest::{Digest, Hasher};
use crate::error::{RegistryError, Result};
use crate::transport::{Target, Transport, backoff, redact};

/// Where a blob lives, owned so the reader can outlive the call that opened it.
#[derive(Debug, Clone)]
pub(crate) struct BlobLocation {
    pub(crate) registry: String,
    pub(crate) host: String,
    pub(crate) repository: String,
}

impl BlobLocation {
    fn target(&self) -> Target<'_> {
        Target {
            registry: &self.registry,
            host: &self.host,
            repository: &self.repository,
        }
    }
}

/// A verified blob body. Reading past the expected size is an error, and
/// at the end of the stream it returns an `InvalidData` error instead of
/// `Ok(0)` when the size or the digest is wrong: a caller that reads to EOF
/// without error has exactly the content the digest names.
pub struct BlobReader {
    transport: Arc<Transport>,
    location: BlobLocation,
    digest: Digest,
    size: u64,
    body: Option<BodyReader<'static>>,
    hasher: Option<Hasher>,
    read: u64,
    resumes: u32,
    done: bool,
    /// The error that ended the blob, given again to any later read: a
    /// caller that went on reading after it must never see a clean end.
    failed: Option<(io::ErrorKind, String)>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("read", &self.read)
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn open(
        transport: Arc<Transport>,
        location: BlobLocation,
        digest: Digest,
        size: u64,
    ) -> Result<BlobReader> {
        let mut reader = BlobReader {
            transport,
            location,
            hasher: Some(Hasher::new(digest.algorithm())),
            digest,
            size,
            body: None,
            read: 0,
            resumes: 0,
            done: false,
            failed: None,
        };
        reader.body = Some(reader.request(0)?);
        Ok(reader)
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn path(&self) -> String {
        format!("/v2/{}/blobs/{}", self.location.repository, self.digest)
    }

    /// GETs the blob from byte `offset` on; a server that ignores the Range
    /// and sends it all again is skipped forward.
    fn request(&self, offset: u64) -> Result<BodyReader<'static>> {
        let path = self.path();
        let headers = if offset > 0 {
            vec![("Range", format!("bytes={offset}-"))]
        } else {
            Vec::new()
        };
        let resp = self
            .transport
            .get(self.location.target(), &path, &headers)?;
        let status = resp.status().as_u16();
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let full = status != 206;
        let expected = if full { self.size } else { self.size - offset };
        if let Some(len) = length
            && len != expected
        {
            return Err(RegistryError::SizeMismatch {
                what: "blob",
                digest: self.digest.to_string(),
                expected,
                actual: len,
            });
        }
        if !full {
            let range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !range.starts_with(&format!("bytes {offset}-")) {
                return Err(RegistryError::Transport {
                    url: redact(&path),
                    reason: format!("resume at byte {offset} got Content-Range {range:?}"),
                });
            }
        }
        let mut body = resp.into_body().into_reader();
        if full && offset > 0 {
            let skipped =
                io::copy(&mut (&mut body).take(offset), &mut io::sink()).map_err(|e| {
                    RegistryError::Io {
                        what: "blob",
                        url: path.clone(),
                        source: e,
                    }
                })?;
            if skipped != offset {
                return Err(RegistryError::Transport {
                    url: path,
                    reason: format!("resume: body ended after {skipped} of {offset} bytes"),
                });
            }
        }
        Ok(body)
    }

    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        self.body = None;
        if self.resumes >= self.transport.retries() {
            self.done = true;
            return Err(io::Error::new(
                cause.kind(),
                format!(
                    "blob {}: download failed at byte {} of {} after {} resumes: {cause}",
                    self.digest, self.read, self.size, self.resumes
                ),
            ));
        }
        self.resumes += 1;
        std::thread::sleep(backoff(self.resumes));
        match self.request(self.read) {
            Ok(b) => {
                self.body = Some(b);
                Ok(())
            }
            Err(e) => {
                self.done = true;
                Err(io::Error::other(e))
            }
        }
    }

    fn finish(&mut self) -> io::Result<usize> {
        self.done = true;
        self.body = None;
        let Some(hasher) = self.hasher.take() else {
            return Ok(0);
        };
        let actual = hasher.finish();
        if actual != self.digest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {}: content hashes to {actual}, expected {}",
                    self.digest, self.digest
                ),
            ));
        }
        Ok(0)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.read_inner(buf);
        if let Err(e) = &r
            && self.done
            && self.failed.is_none()
        {
            self.failed = Some((e.kind(), e.to_string()));
        }
        r
    }
}

impl BlobReader {
    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if self.done {
            return Ok(0);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let res = match self.body.as_mut() {
                Some(b) => b.read(buf),
                None => Err(io::Error::other("no response body")),
            };
            match res {
                Ok(0) if self.read < self.size => {
                    self.resume(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before the end of the blob",
                    ))?;
                }
                Ok(0) => return self.finish(),
                Ok(n) => {
                    if self.read + n as u64 > self.size {
                        self.done = true;
                        self.body = None;
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "blob {}: more than the expected {} bytes",
                                self.digest, self.size
                            ),
                        ));
                    }
                    if let Some(h) = self.hasher.as_mut() {
                        h.update(&buf[..n]);
                    }
                    self.read += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e)?,
            }
        }
    }
}
