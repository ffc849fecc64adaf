//! Just enough HTTP/1.1 for a static file server: read one request head
//! within a size limit and a deadline, parse it, write a response head.
//! Request bodies are never read: a request that announces one is answered
//! and its connection closed.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Why no request could be read from a connection.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed the connection, or sent nothing before the deadline:
    /// close without an answer.
    Gone,
    /// The head was cut off by the deadline: 408, then close.
    Timeout,
    /// The head is larger than the limit: 431, then close.
    TooLarge,
    /// Reading failed otherwise.
    Io,
}

/// How often a connection idle between requests checks whether it should
/// give its thread up.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// Reads bytes up to and including the blank line that ends a request
/// head, at most `limit` of them, each read bounded by what is left until
/// `deadline`. Before the first byte arrives, `give_up` is asked every
/// [`IDLE_POLL`] whether to stop waiting (an idle keep-alive connection
/// yields its thread to waiting ones). Blank lines before a request are
/// skipped (RFC 9112 §2.2).
pub(crate) fn read_head(
    reader: &mut io::BufReader<TcpStream>,
    limit: usize,
    deadline: Instant,
    give_up: &dyn Fn() -> bool,
) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(if head.is_empty() {
                HeadError::Gone
            } else {
                HeadError::Timeout
            });
        }
        let wait = if head.is_empty() {
            remaining.min(IDLE_POLL)
        } else {
            remaining
        };
        reader
            .get_ref()
            .set_read_timeout(Some(wait))
            .map_err(|_| HeadError::Io)?;
        let available = match reader.fill_buf() {
            Ok([]) => return Err(HeadError::Gone),
            Ok(bytes) => bytes,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if head.is_empty() && give_up() {
                    return Err(HeadError::Gone);
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Gone),
        };
        let mut used = 0;
        let mut done = false;
        for &byte in available {
            used += 1;
            if head.is_empty() && (byte == b'\r' || byte == b'\n') {
                continue;
            }
            head.push(byte);
            if head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n") {
                done = true;
                break;
            }
            if head.len() > limit {
                return Err(HeadError::TooLarge);
            }
        }
        reader.consume(used);
        if done {
            return Ok(head);
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    pub target: String,
    /// HTTP/1.1 (or later 1.x); false for HTTP/1.0.
    pub http11: bool,
    /// Header names lowercased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Parses a head read by [`read_head`].
    pub fn parse(head: &[u8]) -> Result<Request, &'static str> {
        let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
        let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
        let request_line = lines.next().ok_or("empty request")?;
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed request line");
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) || target.is_empty() {
            return Err("malformed request line");
        }
        let http11 = match version {
            "HTTP/1.0" => false,
            v if v.starts_with("HTTP/1.") && v.len() == 8 && v.as_bytes()[7].is_ascii_digit() => true,
            _ => return Err("unsupported HTTP version"),
        };
        let mut headers = Vec::new();
        for line in lines.take_while(|line| !line.is_empty()) {
            if line.starts_with([' ', '\t']) {
                return Err("folded header line");
            }
            let (name, value) = line.split_once(':').ok_or("header line without `:`")?;
            if name.is_empty() || name.ends_with([' ', '\t']) {
                return Err("malformed header name");
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            http11,
            headers,
        })
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the connection may serve another request after this one:
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`, and never after a request with a body
    /// (which is not read, so the next bytes would be that body).
    pub fn keep_alive(&self) -> bool {
        let has_token = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        let has_body = self.header("transfer-encoding").is_some()
            || self.header("content-length").is_some_and(|len| len.trim() != "0");
        let wanted = if self.http11 {
            !has_token("close")
        } else {
            has_token("keep-alive")
        };
        wanted && !has_body
    }
}

/// A response head about to be written.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl ResponseHead {
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the status line, the headers and the blank line.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut text = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        out.write_all(text.as_bytes())
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let request =
            Request::parse(b"GET /config.json HTTP/1.1\r\nHost: x\r\nIf-None-Match:  \"a\" \r\n\r\n").unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/config.json");
        assert!(request.http11 && request.keep_alive());
        assert_eq!(request.header("if-none-match"), Some("\"a\""));
        let old = Request::parse(b"HEAD / HTTP/1.0\n\n").unwrap();
        assert!(!old.http11 && !old.keep_alive());
        let old = Request::parse(b"HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(old.keep_alive());
    }

    #[test]
    fn connections_close_when_asked_or_when_a_body_follows() {
        for head in [
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(!Request::parse(head.as_bytes()).unwrap().keep_alive(), "{head}");
        }
        let empty_body = Request::parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(empty_body.keep_alive());
    }

    #[test]
    fn refuses_malformed_heads() {
        for head in [
            "GET /\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "G3T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n",
        ] {
            assert!(Request::parse(head.as_bytes()).is_err(), "{head:?}");
        }
        assert!(Request::parse(&[b'G', b'E', b'T', b' ', 0xff, b'\n', b'\n']).is_err());
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        ResponseHead::new(304)
            .header("ETag", "\"x\"")
            .write_to(&mut out)
            .unwrap();
        assert_eq!(out, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    }
}
