//! A minimal HTTP/1.1 client over `std::net::TcpStream`, for tests that must
//! see exactly what goes over the wire (keep-alive, 304s, truncated bodies)
//! without pulling another HTTP crate into the test build.
//!
//! It speaks only what the test servers send: `Content-Length` bodies,
//! `Transfer-Encoding: chunked`, or a body up to EOF when the server closes.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long one read may block before the test fails instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names are lowercased; values are trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (panics if it is not).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("response body is not UTF-8")
    }
}

/// One TCP connection to `127.0.0.1:port`, reused for several requests so
/// tests can check keep-alive behaviour.
pub struct HttpConnection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
    /// Set once the server said `Connection: close` (or closed).
    closed: bool,
}

impl HttpConnection {
    /// Connects to `127.0.0.1:port`; panics if nothing listens there.
    pub fn connect(port: u16) -> HttpConnection {
        let stream =
            TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        HttpConnection {
            reader: BufReader::new(stream),
            writer,
            host: format!("127.0.0.1:{port}"),
            closed: false,
        }
    }

    /// Whether the server announced or performed a close.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends one request and reads the response. Errors are returned, not
    /// panicked on, so fault-injection tests can assert on them (a dropped
    /// connection gives `UnexpectedEof` or a reset, a truncated body
    /// `UnexpectedEof`).
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes())?;
        self.writer.flush()?;
        let response = read_response(&mut self.reader, method == "HEAD");
        match &response {
            Ok(r) if r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) => self.closed = true,
            Err(_) => self.closed = true,
            Ok(_) => {}
        }
        response
    }

    /// `GET path` with extra headers; panics on I/O errors.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.request("GET", path, headers)
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.host))
    }
}

/// One-shot `GET http://127.0.0.1:port{path}` on a fresh connection.
pub fn get(port: u16, path: &str) -> HttpResponse {
    HttpConnection::connect(port).get(path, &[("Connection", "close")])
}

fn read_response(reader: &mut impl BufRead, head_request: bool) -> io::Result<HttpResponse> {
    let status_line = read_line(reader)?;
    let status = parse_status_line(&status_line)?;
    let headers = read_headers(reader)?;
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 304 || status == 204 || (100..200).contains(&status) {
        return Ok(response);
    }
    response.body = read_body(reader, &response)?;
    Ok(response)
}

fn parse_status_line(line: &str) -> io::Result<u16> {
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse().ok());
    match code {
        Some(code) if version.starts_with("HTTP/1.") => Ok(code),
        _ => Err(invalid(format!("bad status line {line:?}"))),
    }
}

fn read_headers(reader: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn read_body(reader: &mut impl BufRead, response: &HttpResponse) -> io::Result<Vec<u8>> {
    if let Some(len) = response.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader)?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader)?;
    }
}

/// Reads one CRLF-terminated line without the terminator; EOF before any
/// byte is `UnexpectedEof`, which is how a dropped connection shows up.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by server",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}
