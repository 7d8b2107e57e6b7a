//! Docker's credential-helper protocol: `docker-credential-<name> get|store|erase`
//! with the request on stdin and JSON on stdout.
//!
//! Running the helper is the one process pocky-registry starts: the protocol
//! is defined as a program on PATH, so there is no library to call instead.
//! It is run without a shell, its output is bounded and it gets a deadline,
//! so a hung or chatty helper cannot hang or flood a pull.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::auth::Credentials;
use crate::error::{RegistryError, Result};

/// Enough for any credential; more means the helper is misbehaving.
const MAX_OUTPUT: u64 = 1024 * 1024;
/// Desktop keychains may ask the user to unlock them, so this is generous.
const DEADLINE: Duration = Duration::from_secs(60);
/// Helpers print this (as a message or an error) when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";

/// One configured helper, by the `<name>` of `docker-credential-<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Helper {
    name: String,
}

#[derive(serde::Deserialize)]
struct GetReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

#[derive(serde::Serialize)]
struct StoreRequest<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

struct Output {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    /// What the helper said, for an error message: helpers write their
    /// errors on stdout, some on stderr.
    fn message(&self) -> String {
        let text = if self.stdout.iter().all(u8::is_ascii_whitespace) {
            &self.stderr
        } else {
            &self.stdout
        };
        let text: String = String::from_utf8_lossy(text)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        let text = text.trim();
        if text.is_empty() {
            "(no message)".into()
        } else {
            text.to_string()
        }
    }

    fn says_not_found(&self) -> bool {
        let has = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .to_ascii_lowercase()
                .contains(NOT_FOUND)
        };
        has(&self.stdout) || has(&self.stderr)
    }
}

impl Helper {
    /// A helper named in the config; names with path separators or odd
    /// characters are refused so a config cannot point at an arbitrary program.
    pub(crate) fn new(name: &str) -> Result<Helper> {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(RegistryError::CredentialHelper {
                helper: format!("docker-credential-{name}"),
                reason: "not a valid credential helper name".into(),
            });
        }
        Ok(Helper {
            name: name.to_string(),
        })
    }

    pub(crate) fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    fn fail(&self, reason: impl Into<String>) -> RegistryError {
        RegistryError::CredentialHelper {
            helper: self.program(),
            reason: reason.into(),
        }
    }

    /// The credentials for `server_url`, or `None` when the helper has none.
    pub(crate) fn get(&self, server_url: &str) -> Result<Option<Credentials>> {
        let out = self.run("get", server_url.as_bytes())?;
        if !out.success {
            if out.says_not_found() {
                return Ok(None);
            }
            return Err(self.fail(format!("get failed: {}", out.message())));
        }
        let reply: GetReply = serde_json::from_slice(&out.stdout)
            .map_err(|e| self.fail(format!("get answered malformed JSON: {e}")))?;
        if reply.username.is_empty() && reply.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials::new(reply.username, reply.secret)))
    }

    pub(crate) fn store(&self, server_url: &str, creds: &Credentials) -> Result<()> {
        let request = serde_json::to_vec(&StoreRequest {
            server_url,
            username: &creds.username,
            secret: creds.secret(),
        })
        .map_err(|e| self.fail(format!("encoding the store request: {e}")))?;
        let out = self.run("store", &request)?;
        if !out.success {
            return Err(self.fail(format!("store failed: {}", out.message())));
        }
        Ok(())
    }

    /// Erases the credentials for `server_url`; false when there were none.
    pub(crate) fn erase(&self, server_url: &str) -> Result<bool> {
        let out = self.run("erase", server_url.as_bytes())?;
        if !out.success {
            if out.says_not_found() {
                return Ok(false);
            }
            return Err(self.fail(format!("erase failed: {}", out.message())));
        }
        Ok(true)
    }

    fn run(&self, action: &str, input: &[u8]) -> Result<Output> {
        let program = self.program();
        let mut child = Command::new(&program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    self.fail("not found in PATH (it is named by credsStore or credHelpers in the docker config)")
                } else {
                    self.fail(format!("cannot start it: {e}"))
                }
            })?;
        let readers = (child.stdout.take(), child.stderr.take());
        let (Some(stdout), Some(stderr)) = readers else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(self.fail("no pipes to the helper"));
        };
        let out_thread = thread::spawn(move || read_bounded(stdout));
        let err_thread = thread::spawn(move || read_bounded(stderr));
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input is answered by
            // its exit status, not by this write's broken pipe.
            let _ = stdin.write_all(input);
        }
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.fail(format!(
                        "{action} did not finish within {}s",
                        DEADLINE.as_secs()
                    )));
                }
                Err(e) => return Err(self.fail(format!("waiting for it: {e}"))),
            }
        };
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        Ok(Output {
            success: status.success(),
            stdout,
            stderr,
        })
    }
}

/// Reads at most `MAX_OUTPUT` bytes, then drains the rest so the helper
/// does not block on a full pipe.
fn read_bounded(mut r: impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = (&mut r).take(MAX_OUTPUT).read_to_end(&mut buf);
    let _ = std::io::copy(&mut r, &mut std::io::sink());
    buf
}
