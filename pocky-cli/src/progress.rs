//! Per-layer pull progress: bars on stderr when it is a terminal, otherwise
//! one plain line per state change on stdout, as Docker prints them (logs and
//! CI stay readable, and stderr keeps only errors).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

pub struct LayerProgress {
    bar: Option<ProgressBar>,
    id: String,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { bars, quiet }
    }

    pub fn line(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(b) => {
                let _ = b.println(msg);
            }
            None => println!("{msg}"),
        }
    }

    pub fn layer(&self, short_id: &str, size: u64) -> LayerProgress {
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}: {msg:<16} [{bar:30}] {binary_bytes:>9}/{binary_total_bytes}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(short_id.to_owned());
            bar.set_message("Waiting");
            bar
        });
        LayerProgress {
            bar,
            id: short_id.to_owned(),
            quiet: self.quiet,
        }
    }
}

impl pocky_engine::progress::PullProgress for Progress {
    fn line(&self, msg: &str) {
        Progress::line(self, msg);
    }

    fn layer(&self, short_id: &str, size: u64) -> Box<dyn pocky_engine::progress::LayerProgress> {
        Box::new(Progress::layer(self, short_id, size))
    }
}

impl pocky_engine::progress::LayerProgress for LayerProgress {
    fn state(&self, msg: &'static str) {
        match &self.bar {
            Some(b) => b.set_message(msg),
            None if !self.quiet => println!("{}: {msg}", self.id),
            None => {}
        }
    }

    fn finish(&self, msg: &'static str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg),
            None if !self.quiet => println!("{}: {msg}", self.id),
            None => {}
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
}
