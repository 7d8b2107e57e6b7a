//! Picks the decompressor from the stream's magic bytes.
//!
//! Media types lie (and Docker's own tooling ships `tar.gzip` layers under
//! plain `tar` types now and then), so the first bytes decide, as containerd
//! and moby do.

use std::io::{self, BufReader, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

type Prefixed<R> = Chain<Cursor<Vec<u8>>, R>;

/// A decompressing reader over a layer blob.
pub enum Decoder<R: Read> {
    Plain(Prefixed<R>),
    // Gzip layers are often several concatenated members (pigz, docker's
    // own writer on flush), so the multi-member decoder is required.
    Gzip(Box<MultiGzDecoder<Prefixed<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<Prefixed<R>>>>),
}

impl<R: Read> Decoder<R> {
    /// Reads the magic bytes off `reader` and wraps it in the matching
    /// decoder. The bytes read are replayed, so nothing is lost.
    pub fn detect(mut reader: R) -> io::Result<Self> {
        let mut prefix = vec![0u8; ZSTD_MAGIC.len()];
        let mut filled = 0;
        while filled < prefix.len() {
            match reader.read(&mut prefix[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        prefix.truncate(filled);
        let is_gzip = prefix.starts_with(&GZIP_MAGIC);
        let is_zstd = prefix.starts_with(&ZSTD_MAGIC);
        let stream = Cursor::new(prefix).chain(reader);
        Ok(if is_gzip {
            Decoder::Gzip(Box::new(MultiGzDecoder::new(stream)))
        } else if is_zstd {
            // zstd's default decoder reads concatenated frames to EOF and
            // caps the window at 128 MiB, which bounds its memory.
            Decoder::Zstd(Box::new(zstd::stream::read::Decoder::new(stream)?))
        } else {
            Decoder::Plain(stream)
        })
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

/// A reader of the tar inside `reader`, whether it is plain, gzip or zstd
/// (told by its magic bytes).
pub fn decompress<R: Read>(reader: R) -> io::Result<Decoder<R>> {
    Decoder::detect(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Decoder::detect(blob)
            .and_then(|mut d| d.read_to_end(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn plain_short_and_empty_streams_pass_through() {
        assert_eq!(roundtrip(b""), b"");
        assert_eq!(roundtrip(b"ab"), b"ab");
        assert_eq!(roundtrip(b"hello world"), b"hello world");
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut blob = Vec::new();
        for part in [&b"first "[..], b"second"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            blob.extend(enc.finish().unwrap());
        }
        assert_eq!(roundtrip(&blob), b"first second");
    }

    #[test]
    fn zstd_is_detected() {
        let blob = zstd::encode_all(&b"zstd data"[..], 3).unwrap();
        assert_eq!(roundtrip(&blob), b"zstd data");
    }
}
