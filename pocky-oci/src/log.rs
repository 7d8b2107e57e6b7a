//! Errors and warnings as runc reports them: on stderr, and in the --log
//! file as JSON lines (`{"level":"error","msg":...,"time":...}`) that
//! containerd and conmon read back to show users.

use std::io::Write;
use std::path::Path;

use crate::cli::LogFormat;

#[derive(Debug)]
pub struct Logger {
    file: Option<std::fs::File>,
    format: LogFormat,
    debug: bool,
}

/// One log line in the given format.
pub fn line(format: LogFormat, level: &str, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    }
}

impl Logger {
    pub fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Logger {
            file,
            format,
            debug,
        }
    }

    fn write(&mut self, level: &str, msg: &str) {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        if let Some(f) = &mut self.file {
            // Logging must never turn a success into a failure.
            let _ = f.write_all(line(self.format, level, msg, &time).as_bytes());
        }
    }

    pub fn error(&mut self, msg: &str) {
        self.write("error", msg);
        eprintln!("pocky-runtime: {msg}");
    }

    pub fn warn(&mut self, msg: &str) {
        self.write("warning", msg);
        eprintln!("pocky-runtime: warning: {msg}");
    }

    pub fn debug(&mut self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_what_callers_parse() {
        let l = line(
            LogFormat::Json,
            "error",
            "no \"such\" thing",
            "2024-01-01T00:00:00Z",
        );
        assert!(l.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "no \"such\" thing");
        assert_eq!(v["time"], "2024-01-01T00:00:00Z");
        let t = line(LogFormat::Text, "error", "x", "T");
        assert_eq!(t, "time=\"T\" level=error msg=\"x\"\n");
    }
}
