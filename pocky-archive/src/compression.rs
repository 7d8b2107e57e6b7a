//! Compression detected by magic bytes, for the archive itself and for
//! layers named by `manifest.json` (which carries no media types).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
    /// Formats other tools accept but we refuse, named for the message.
    Other(&'static str),
}

impl Compression {
    pub(crate) fn detect(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Other("xz"),
            [b'B', b'Z', b'h', ..] => Compression::Other("bzip2"),
            _ => Compression::None,
        }
    }

    /// The OCI layer media type for a layer stored this way.
    pub(crate) fn layer_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None | Compression::Other(_) => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// A stream whose first bytes were read to sniff them, put back in front.
pub(crate) type Sniffed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads the first bytes of `r` without losing them: returns what they
/// say and a reader that yields the whole stream again.
pub(crate) fn sniff<R: Read>(mut r: R) -> io::Result<(Compression, Sniffed<R>)> {
    let mut head = vec![0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    let c = Compression::detect(&head);
    Ok((c, io::Cursor::new(head).chain(r)))
}

/// Wraps `r` in the decoder `c` calls for. Multi-member gzip is accepted
/// because Go's reader (Docker, containers/image) accepts it.
pub(crate) fn decoder<'a, R: Read + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::Other(name) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} compression is not supported"),
            ));
        }
    })
}
