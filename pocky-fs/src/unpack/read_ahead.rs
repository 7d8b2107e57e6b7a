//! A layer's decompression on a thread of its own: the download, the
//! compressed digest's check and the inflate on one core, the diff id's
//! hash, the tar parse and the writes on another. A pull of one large
//! layer is otherwise one core's work from end to end.
//!
//! The channel between them is bounded, so the inflater runs at most a few
//! chunks ahead of what the unpacker has accepted: a decompression bomb
//! stops where the unpacker's byte budget stops it, a few MiB later at
//! most, and an unpacker that fails stops the inflater at its next send.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::compression::Decoder;

/// Bytes the inflater hands over at a time, and how many such chunks may
/// wait.
const CHUNK: usize = 256 << 10;
const QUEUE: usize = 8;

/// Runs `consume` over the decompressed stream of `reader` while another
/// thread decompresses it.
pub(crate) fn decompressed_ahead<R, T>(reader: R, consume: impl FnOnce(&mut ChunkReader) -> T) -> T
where
    R: Read + Send,
{
    let (tx, rx) = sync_channel(QUEUE);
    // Spent chunks go back to the inflater, which would otherwise allocate
    // and zero a fresh one for every 256 KiB of the layer.
    let (spent_tx, spent_rx) = sync_channel(QUEUE + 2);
    std::thread::scope(|scope| {
        scope.spawn(move || inflate(reader, tx, spent_rx));
        let mut chunks = ChunkReader {
            rx,
            spent: spent_tx,
            current: Vec::new(),
            at: 0,
            done: false,
        };
        let out = consume(&mut chunks);
        // Dropped before the scope waits for the inflater: its next send
        // fails and it stops.
        drop(chunks);
        out
    })
}

fn inflate<R: Read>(reader: R, tx: SyncSender<io::Result<Vec<u8>>>, spent: Receiver<Vec<u8>>) {
    let mut decoder = match Decoder::detect(reader) {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    loop {
        let mut buf = spent.try_recv().unwrap_or_default();
        // A recycled chunk is zeroed only where it was cut short.
        buf.resize(CHUNK, 0);
        match decoder.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// The unpacker's side: the decompressed bytes, chunk after chunk; the
/// inflater's error where it failed; the end when it finished.
pub(crate) struct ChunkReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.current, chunk);
                    // A full return queue only means one more allocation.
                    let _ = self.spent.try_send(spent);
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The inflater finished: the stream's end.
                Err(_) => self.done = true,
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_and_its_error_come_through() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let got = decompressed_ahead(&data[..], |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        })
        .unwrap();
        assert_eq!(got, data);

        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad digest"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let err = decompressed_ahead(Failing(CHUNK + 5), |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "bad digest");
    }

    #[test]
    fn a_consumer_that_stops_stops_the_inflater() {
        // An endless stream: only the consumer's early end finishes this.
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(b'y');
                Ok(buf.len())
            }
        }
        let got = decompressed_ahead(Endless, |r| {
            let mut buf = [0u8; 100];
            r.read_exact(&mut buf).map(|()| buf)
        })
        .unwrap();
        assert_eq!(got, [b'y'; 100]);
    }
}
