//! HTTP/1.1 on one connection: the request head parsed by `httparse`, the
//! body by length or with `chunked_transfer`, responses with a length, as
//! chunks (streams), or none at all after a hijack (attach, exec). Every
//! size a client controls is bounded.
//!
//! Each connection is served by its own single-threaded process (see
//! `server`), so this is plain blocking I/O on one socket.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use serde_json::Value;

/// The head: request line and headers. dockerd takes about 1 MiB; clients
/// send well under 8 KiB.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// A JSON body (create, exec, network create ...). Archives and build
/// contexts are streamed instead.
pub const MAX_JSON_BODY: u64 = 4 * 1024 * 1024;

/// The connection: unix socket or TCP, behind one type.
pub enum Stream {
    Unix(UnixStream),
    Tcp(std::net::TcpStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    /// Ends the writing half: the client sees the end of a hijacked stream.
    pub fn shutdown_write(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

/// The client closed the connection (or it broke): a stream that only
/// writes to it learns of that here rather than at the next write. A
/// client that only ended its input (`CloseWrite` after stdin's end) is
/// still there.
pub fn peer_gone(s: &Stream) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(s), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(n) if n > 0 => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        _ => false,
    }
}

/// Ends the reading half: a thread blocked reading the client returns.
pub fn shutdown_read(s: &Stream) {
    let _ = match s {
        Stream::Unix(s) => s.shutdown(std::net::Shutdown::Read),
        Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Read),
    };
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// A request head, with the body still on the connection.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub method: String,
    /// The path without the query, percent-decoded per segment later.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// HTTP/1.0, or `Connection: close`.
    pub close: bool,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// The client asked for the connection to be hijacked (`Upgrade: tcp`).
    pub fn upgrade(&self) -> bool {
        self.header("upgrade").is_some()
    }
}

/// Why a request could not be read: the connection ends, with a 400 when
/// the client is still there to read it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads the next request head; `Closed` when the client has gone quietly
/// between requests.
pub fn read_head(reader: &mut BufReader<Stream>) -> Result<Head, ReadError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if available.is_empty() {
            return Err(match buf.is_empty() {
                true => ReadError::Closed,
                false => ReadError::Bad("the request head ended early".into()),
            });
        }
        // Take no more than the head: the body stays in the reader.
        let start = buf.len();
        buf.extend_from_slice(available);
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        let taken = end.map_or(buf.len(), |e| e) - start;
        reader.consume(taken);
        if let Some(e) = end
            && e <= MAX_HEAD
        {
            buf.truncate(e);
            return parse_head(&buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(format!(
                "the request head is larger than {MAX_HEAD} bytes"
            )));
        }
    }
}

pub fn parse_head(buf: &[u8]) -> Result<Head, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ReadError::Bad("the request head ended early".into()));
        }
        Err(e) => return Err(ReadError::Bad(format!("a malformed request: {e}"))),
    }
    let method = req.method.unwrap_or_default().to_owned();
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let mut head = Head {
        method,
        path: path.to_owned(),
        query: parse_query(query),
        headers,
        close: req.version == Some(0),
    };
    if let Some(c) = head.header("connection") {
        head.close = c.eq_ignore_ascii_case("close");
    }
    Ok(head)
}

/// `a=1&b=x%20y` into pairs, `+` as a space as Go's url.ParseQuery does.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Percent-decoding; bytes that do not form valid UTF-8 are replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request body as a reader: by `Content-Length`, chunked, or empty.
pub fn body<'a>(head: &Head, reader: &'a mut BufReader<Stream>) -> Result<Body<'a>, ReadError> {
    if head.chunked() {
        return Ok(Body::Chunked(chunked_transfer::Decoder::new(reader), false));
    }
    let len = match head.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ReadError::Bad(format!("a malformed Content-Length: {v:?}")))?,
    };
    Ok(Body::Length(reader.take(len)))
}

pub enum Body<'a> {
    Length(io::Take<&'a mut BufReader<Stream>>),
    /// The decoder, and whether it has reached the last chunk: a read
    /// after that would wait on the connection for a chunk that never comes.
    Chunked(chunked_transfer::Decoder<&'a mut BufReader<Stream>>, bool),
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Length(r) => r.read(buf),
            Body::Chunked(_, true) => Ok(0),
            Body::Chunked(r, done) => {
                let n = r.read(buf)?;
                *done = n == 0 && !buf.is_empty();
                Ok(n)
            }
        }
    }
}

impl Body<'_> {
    /// Reads what is left, so the next request on the connection starts
    /// where it should; false when the body does not end within `limit`.
    pub fn drain(&mut self, limit: u64) -> bool {
        let mut sink = io::sink();
        match io::copy(&mut self.by_ref().take(limit), &mut sink) {
            Ok(n) if n < limit => true,
            Ok(_) => {
                let mut one = [0u8; 1];
                matches!(self.read(&mut one), Ok(0))
            }
            Err(_) => false,
        }
    }

    /// The whole body, up to `limit` bytes.
    pub fn read_limited(&mut self, limit: u64) -> Result<Vec<u8>, crate::ApiError> {
        let mut out = Vec::new();
        self.by_ref()
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| crate::ApiError::bad(format!("reading the request body: {e}")))?;
        if out.len() as u64 > limit {
            return Err(crate::ApiError::new(
                413,
                format!("the request body is larger than {limit} bytes"),
            ));
        }
        Ok(out)
    }
}

/// A body as JSON; an empty body is `null`.
pub fn parse_json(data: &[u8]) -> Result<Value, crate::ApiError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(data)
        .map_err(|e| crate::ApiError::bad(format!("the request body is not valid JSON: {e}")))
}

/// Docker's reason phrases for the statuses the API sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "UPGRADED",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "",
    }
}

/// Headers every response carries, as dockerd sends them.
pub fn common_headers() -> Vec<(String, String)> {
    vec![
        ("Api-Version".into(), crate::API_VERSION.into()),
        ("Docker-Experimental".into(), "false".into()),
        ("Ostype".into(), "linux".into()),
        (
            "Server".into(),
            format!("pocky/{} (linux)", env!("CARGO_PKG_VERSION")),
        ),
    ]
}

/// Writes a status line and headers (and the blank line).
pub fn write_head(w: &mut impl Write, status: u16, headers: &[(String, String)]) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in common_headers().iter().chain(headers) {
        // A header value never carries a line break: no response
        // splitting through a name or path echoed back.
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    w.write_all(out.as_bytes())
}

/// How a complete response goes out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Framing {
    /// The answer to a HEAD: headers only.
    pub head_only: bool,
    /// The connection closes after it: said in `Connection: close`, so a
    /// client does not send its next request on it.
    pub close: bool,
}

/// A complete response with a body of known length.
pub fn write_full(
    w: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
    framing: Framing,
) -> io::Result<()> {
    let head_only = framing.head_only;
    let mut headers = vec![("Content-Length".to_owned(), body.len().to_string())];
    if !content_type.is_empty() {
        headers.push(("Content-Type".into(), content_type.into()));
    }
    // 204 and 304 carry no body and no length.
    if status == 204 || status == 304 {
        headers.clear();
    }
    if framing.close {
        headers.push(("Connection".into(), "close".into()));
    }
    write_head(w, status, &headers)?;
    if !head_only && status != 204 && status != 304 {
        w.write_all(body)?;
    }
    w.flush()
}

/// A chunked body being written: one chunk per `write` that is flushed
/// straight away, so a follower sees each line as it comes.
pub struct Chunked<W: Write> {
    inner: W,
}

impl<W: Write> Chunked<W> {
    /// Writes the head and takes `inner` (a `&mut` writer, or one of its own).
    pub fn start(
        mut inner: W,
        status: u16,
        content_type: &str,
        mut headers: Vec<(String, String)>,
    ) -> io::Result<Chunked<W>> {
        headers.push(("Content-Type".into(), content_type.into()));
        headers.push(("Transfer-Encoding".into(), "chunked".into()));
        write_head(&mut inner, status, &headers)?;
        inner.flush()?;
        Ok(Chunked { inner })
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()
    }
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // One write per chunk: size line, data and end in one syscall.
        let mut chunk = Vec::with_capacity(buf.len() + 12);
        chunk.extend_from_slice(format!("{:x}\r\n", buf.len()).as_bytes());
        chunk.extend_from_slice(buf);
        chunk.extend_from_slice(b"\r\n");
        self.inner.write_all(&chunk)?;
        self.inner.flush()?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_with_query_and_headers() {
        let h = parse_head(
            b"POST /v1.43/containers/create?name=web%201&x=a+b HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/v1.43/containers/create");
        assert_eq!(
            h.query,
            vec![
                ("name".to_owned(), "web 1".to_owned()),
                ("x".to_owned(), "a b".to_owned())
            ]
        );
        assert_eq!(h.header("content-length"), Some("2"));
        assert!(!h.close);
    }

    #[test]
    fn http_1_0_and_connection_close_close() {
        assert!(parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().close);
        assert!(
            parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap()
                .close
        );
    }

    #[test]
    fn garbage_is_a_bad_request() {
        assert!(matches!(
            parse_head(b"\x00\x01 nonsense\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
    }

    #[test]
    fn percent_decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%", false), "a/b%zz%");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }

    #[test]
    fn header_values_cannot_split_the_response() {
        let mut out = Vec::new();
        write_head(&mut out, 200, &[("X".into(), "a\r\nSet-Cookie: b".into())]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("X: aSet-Cookie: b\r\n"));
    }

    #[test]
    fn chunks_are_framed() {
        let mut out = Vec::new();
        let mut c = Chunked::start(&mut out, 200, "application/json", Vec::new()).unwrap();
        c.write_all(b"hello").unwrap();
        c.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "{text}");
        assert!(text.contains("Transfer-Encoding: chunked"));
    }
}
