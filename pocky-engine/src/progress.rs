//! What a pull reports while it runs. The engine says what happens; a
//! front end shows it (the CLI as bars or lines, the API service as
//! Docker's JSON progress messages).

/// Progress of one pull.
pub trait PullProgress: Sync {
    /// A line about the whole pull ("Pulling from ...", "Already exists").
    fn line(&self, msg: &str);
    /// A layer about to be downloaded, `size` bytes compressed.
    fn layer(&self, short_id: &str, size: u64) -> Box<dyn LayerProgress>;
}

/// Progress of one layer; called from the pull's worker threads.
pub trait LayerProgress: Send + Sync {
    /// A new state ("Downloading").
    fn state(&self, msg: &'static str);
    /// The last state ("Pull complete", "Failed").
    fn finish(&self, msg: &'static str);
    /// `n` more bytes of the layer were read.
    fn advance(&self, n: u64);
}

/// Reports nothing: for callers that show no progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl PullProgress for Silent {
    fn line(&self, _: &str) {}
    fn layer(&self, _: &str, _: u64) -> Box<dyn LayerProgress> {
        Box::new(Silent)
    }
}

impl LayerProgress for Silent {
    fn state(&self, _: &'static str) {}
    fn finish(&self, _: &'static str) {}
    fn advance(&self, _: u64) {}
}

/// Counts the bytes read through it onto a layer's progress.
pub(crate) struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a dyn LayerProgress,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
