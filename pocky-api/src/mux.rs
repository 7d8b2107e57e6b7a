//! Docker's multiplexed stream: without a terminal, stdout and stderr
//! share one connection as frames of an 8-byte header (the stream: 0 stdin,
//! 1 stdout, 2 stderr, 3 system error; three zero bytes; the length as a
//! big-endian u32) and the payload.

use std::io::{self, Write};

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// The frame header for `len` bytes on `stream`.
pub fn header(stream: u8, len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Writes `data` as frames (split where it exceeds a frame's length).
pub fn write_frame(w: &mut impl Write, stream: u8, data: &[u8]) -> io::Result<()> {
    for chunk in data.chunks(u32::MAX as usize) {
        let mut frame = Vec::with_capacity(8 + chunk.len());
        frame.extend_from_slice(&header(stream, chunk.len() as u32));
        frame.extend_from_slice(chunk);
        // One write per frame: a chunked writer turns it into one chunk.
        w.write_all(&frame)?;
    }
    Ok(())
}

/// Output on the connection: framed without a terminal, raw with one.
pub fn write_output(w: &mut impl Write, tty: bool, stream: u8, data: &[u8]) -> io::Result<()> {
    if tty {
        w.write_all(data)?;
        return w.flush();
    }
    write_frame(w, stream, data)?;
    w.flush()
}

/// Splits a multiplexed byte stream back into (stream, payload) frames;
/// for tests and for clients of our own.
pub fn parse(mut data: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let payload = data.get(8..8 + len)?;
        out.push((data[0], payload.to_vec()));
        data = &data[8 + len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut out = Vec::new();
        write_frame(&mut out, STDOUT, b"hello\n").unwrap();
        write_frame(&mut out, STDERR, b"oops").unwrap();
        assert_eq!(&out[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(
            parse(&out).unwrap(),
            vec![(1, b"hello\n".to_vec()), (2, b"oops".to_vec())]
        );
    }

    #[test]
    fn a_terminal_stream_is_raw() {
        let mut out = Vec::new();
        write_output(&mut out, true, STDOUT, b"raw").unwrap();
        assert_eq!(out, b"raw");
    }

    #[test]
    fn a_truncated_stream_does_not_parse() {
        assert!(parse(&[1, 0, 0, 0, 0, 0, 0, 9, b'x']).is_none());
        assert!(parse(&[1, 0, 0]).is_none());
    }
}
