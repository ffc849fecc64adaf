//! Git's smart HTTP protocol spoken through this crate's one HTTP client
//! ([`http::new_agent`]): a git index over http(s) keeps the same `[net]`
//! timeouts and redirect bound, proxies and TLS roots as a sparse index and
//! the archive downloads.
//!
//! gix drives the protocol (`GET info/refs?service=git-upload-pack`, then
//! `POST git-upload-pack`) through its [`Http`] trait; [`SmartHttp`] is that
//! trait over `ureq`. What a fetch posts is small (the commits it wants and
//! the ones it has), so the body is gathered in memory and sent when the
//! answer is first read; answers, packs included, stream.
//!
//! Only the first request may be redirected (git's default
//! `http.followRedirects = initial`), never from https to http; the
//! requests after it go to where it was redirected. A failure is reported
//! when the answer's headers are read, as gix expects: a 401 as
//! `PermissionDenied` (gix then asks the credential helpers), anything else
//! with the method, the URL and what the server said.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

use gix::protocol::transport::Protocol;
use gix::protocol::transport::client::AuthenticationRequired;
use gix::protocol::transport::client::blocking_io::http::{
    GetResponse, Http, PostBodyDataKind, PostResponse, Transport,
};
use ureq::ResponseExt;
use ureq::http::{Response, StatusCode, header};

use crate::sources::http::{self, HttpError, HttpLimits};

/// gix's HTTP transport over this crate's `ureq` agent.
pub(super) struct SmartHttp {
    agent: ureq::Agent,
    /// Where the first request was redirected to, as the base of the rest.
    redirected_base: Option<String>,
}

/// Connects to the repository at `url` (http or https) over smart HTTP,
/// keeping `limits`.
pub(super) fn connect(url: gix::Url, version: Protocol, limits: &HttpLimits) -> Transport<SmartHttp> {
    let http = SmartHttp {
        agent: http::new_agent(1, limits),
        redirected_base: None,
    };
    Transport::new_http(http, url, version, false)
}

impl Http for SmartHttp {
    type Headers = AnswerHeaders;
    type ResponseBody = AnswerBody;
    type PostBody = RequestBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::Result<GetResponse<AnswerHeaders, AnswerBody>> {
        let mut request = self.agent.get(url).config().timeout_global(None).build();
        for (name, value) in header_fields(headers) {
            request = request.header(name, value);
        }
        let answer = match request.call() {
            Ok(response) => match redirected_base(url, base_url, &response.get_uri().to_string()) {
                Ok(base) => {
                    self.redirected_base = base.or(self.redirected_base.take());
                    Answer::from_response("GET", url, response, &self.agent)
                }
                Err(refusal) => Answer::failed(refusal),
            },
            Err(error) => Answer::failed(request_failed("GET", url, error, &self.agent)),
        };
        Ok(answer_readers(Exchange::answered(answer)))
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::Result<PostResponse<AnswerHeaders, AnswerBody, RequestBody>> {
        let request = UnsentPost {
            agent: self.agent.clone(),
            url: url.to_owned(),
            headers: header_fields(headers),
            body: Vec::new(),
        };
        let exchange = Arc::new(Mutex::new(Exchange {
            unsent: Some(request),
            answer: Answer::default(),
        }));
        let GetResponse { headers, body } = answer_readers(exchange.clone());
        Ok(PostResponse {
            post_body: RequestBody(exchange),
            headers,
            body,
        })
    }

    /// gix hands over options from git's `http.*` configuration only to its
    /// own backends; ours are the `[net]` limits it was connected with.
    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::Result {
        Ok(())
    }

    fn redirected_base_url(&self) -> Option<String> {
        self.redirected_base.clone()
    }
}

/// `Name: value` header lines as gix gives them, split (lines without a
/// colon are dropped).
fn header_fields(lines: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<(String, String)> {
    lines
        .into_iter()
        .filter_map(|line| {
            let (name, value) = line.as_ref().split_once(':')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The base URL the rest of the interaction uses after the request for
/// `url` (`base_url` + a tail such as `info/refs?service=…`) ended at
/// `final_url`: `None` when it was not redirected. A redirect from https
/// to http, or to a URL that does not end with the same tail, is refused.
fn redirected_base(url: &str, base_url: &str, final_url: &str) -> io::Result<Option<String>> {
    if final_url == url {
        return Ok(None);
    }
    if http::is_downgrade(url, final_url) {
        return Err(io::Error::other(HttpError::Downgrade {
            url: url.to_owned(),
            to: final_url.to_owned(),
        }));
    }
    let tail = url.strip_prefix(base_url).unwrap_or_default();
    match final_url.strip_suffix(tail) {
        Some(base) if !tail.is_empty() => Ok(Some(base.to_owned())),
        _ => Err(io::Error::other(format!(
            "GET {url} was redirected to {final_url}, which is not a git repository's `{tail}`; use the repository's own URL"
        ))),
    }
}

/// The io error a request that got no answer is reported as: its kind
/// (gix retries some), and a message naming the request and the `[net]`
/// setting to raise when one would help.
fn request_failed(method: &str, url: &str, error: ureq::Error, agent: &ureq::Agent) -> io::Error {
    let kind = match &error {
        ureq::Error::Io(error) => error.kind(),
        ureq::Error::Timeout(_) => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, http::failure_message(method, url, error, agent))
}

/// One request and its answer, shared by the request body (written first)
/// and the answer's headers and body (read after).
struct Exchange {
    /// A POST not sent yet.
    unsent: Option<UnsentPost>,
    answer: Answer,
}

type SharedExchange = Arc<Mutex<Exchange>>;

impl Exchange {
    fn answered(answer: Answer) -> SharedExchange {
        Arc::new(Mutex::new(Exchange { unsent: None, answer }))
    }

    /// The answer, sending the request first if it was not sent yet.
    fn answer(&mut self) -> &mut Answer {
        if let Some(post) = self.unsent.take() {
            self.answer = post.send();
        }
        &mut self.answer
    }
}

/// The readers of the answer to `exchange`: its headers, then its body.
fn answer_readers(exchange: SharedExchange) -> GetResponse<AnswerHeaders, AnswerBody> {
    GetResponse {
        headers: AnswerHeaders {
            exchange: exchange.clone(),
            lines: None,
        },
        body: AnswerBody { exchange, bytes: None },
    }
}

fn lock(exchange: &SharedExchange) -> std::sync::MutexGuard<'_, Exchange> {
    exchange.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A POST whose body is still being written.
struct UnsentPost {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl UnsentPost {
    fn send(self) -> Answer {
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(None)
            .max_redirects(0)
            .build();
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match request.send(&self.body[..]) {
            Ok(response) if response.status().is_redirection() => {
                let to = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|location| location.to_str().ok())
                    .unwrap_or("elsewhere");
                Answer::failed(io::Error::other(format!(
                    "POST {}: the server redirected it to {to}, which git only allows for the first request of an interaction; use the repository's final URL",
                    self.url
                )))
            }
            Ok(response) => Answer::from_response("POST", &self.url, response, &self.agent),
            Err(error) => Answer::failed(request_failed("POST", &self.url, error, &self.agent)),
        }
    }
}

/// What the server answered, the parts not yet taken by the readers.
#[derive(Default)]
struct Answer {
    /// `name: value` lines, or why there is no answer to read.
    headers: Option<io::Result<Vec<u8>>>,
    body: Option<StreamedBody>,
}

impl Answer {
    fn failed(error: io::Error) -> Self {
        Answer {
            headers: Some(Err(error)),
            body: None,
        }
    }

    /// A 2xx answer's headers and body; any other status is a failure (a
    /// 401 one that gix answers with credentials).
    fn from_response(method: &'static str, url: &str, response: Response<ureq::Body>, agent: &ureq::Agent) -> Self {
        let status = response.status();
        if status.is_success() {
            let mut lines = Vec::new();
            for (name, value) in response.headers() {
                lines.extend_from_slice(name.as_str().as_bytes());
                lines.extend_from_slice(b": ");
                lines.extend_from_slice(value.as_bytes());
                lines.push(b'\n');
            }
            return Answer {
                headers: Some(Ok(lines)),
                body: Some(StreamedBody {
                    reader: response.into_body().into_reader(),
                    method,
                    url: url.to_owned(),
                    agent: agent.clone(),
                }),
            };
        }
        if status == StatusCode::UNAUTHORIZED {
            let www_authenticate = response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .map(|value| value.as_bytes().into())
                .collect();
            return Answer::failed(io::Error::new(
                io::ErrorKind::PermissionDenied,
                AuthenticationRequired { www_authenticate },
            ));
        }
        // A server error may pass; gix may retry what is `ConnectionAborted`.
        let kind = if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            io::ErrorKind::ConnectionAborted
        } else {
            io::ErrorKind::Other
        };
        Answer::failed(io::Error::new(
            kind,
            format!(
                "{method} {url}: the server answered {}; is it a git repository served over smart HTTP (`git http-backend`)?",
                http::status_text(status.as_u16())
            ),
        ))
    }
}

/// An answer's body as it arrives; a failure to read it names the request
/// and, for a stall, the `[net]` setting to raise.
struct StreamedBody {
    reader: ureq::BodyReader<'static>,
    method: &'static str,
    url: String,
    agent: ureq::Agent,
}

impl Read for StreamedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader
            .read(buf)
            .map_err(|error| request_failed(self.method, &self.url, ureq::Error::from(error), &self.agent))
    }
}

/// What gix writes as the body of a POST, gathered until the answer is read.
pub(super) struct RequestBody(SharedExchange);

impl Write for RequestBody {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut lock(&self.0).unsent {
            Some(post) => {
                post.body.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            None => Err(io::Error::other("the request was already sent")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The answer's header lines; reading them sends a POST.
pub(super) struct AnswerHeaders {
    exchange: SharedExchange,
    lines: Option<Cursor<Vec<u8>>>,
}

impl AnswerHeaders {
    fn lines(&mut self) -> io::Result<&mut Cursor<Vec<u8>>> {
        let lines = match self.lines.take() {
            Some(lines) => lines,
            None => Cursor::new(lock(&self.exchange).answer().headers.take().unwrap_or(Ok(Vec::new()))?),
        };
        Ok(self.lines.insert(lines))
    }
}

impl Read for AnswerHeaders {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lines()?.read(buf)
    }
}

impl BufRead for AnswerHeaders {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.lines()?.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Some(lines) = &mut self.lines {
            lines.consume(amount);
        }
    }
}

/// The answer's body, streamed; empty if there is no answer (the headers
/// say why).
pub(super) struct AnswerBody {
    exchange: SharedExchange,
    bytes: Option<BufReader<Box<dyn Read + Send>>>,
}

impl AnswerBody {
    fn bytes(&mut self) -> &mut BufReader<Box<dyn Read + Send>> {
        let bytes = self.bytes.take().unwrap_or_else(|| {
            let body: Box<dyn Read + Send> = match lock(&self.exchange).answer().body.take() {
                Some(body) => Box::new(body),
                None => Box::new(io::empty()),
            };
            BufReader::with_capacity(64 * 1024, body)
        });
        self.bytes.insert(bytes)
    }
}

impl Read for AnswerBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.bytes().read(buf)
    }
}

impl BufRead for AnswerBody {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.bytes().fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.bytes().consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_are_split_at_the_first_colon() {
        let fields = header_fields(["Git-Protocol: version=2", "Authorization: Basic a:b", "junk"]);
        assert_eq!(
            fields,
            [
                ("Git-Protocol".to_owned(), "version=2".to_owned()),
                ("Authorization".to_owned(), "Basic a:b".to_owned()),
            ]
        );
    }

    #[test]
    fn a_redirect_moves_the_base_and_keeps_the_tail() {
        let base = "http://a.test/index.git";
        let url = "http://a.test/index.git/info/refs?service=git-upload-pack";
        assert_eq!(redirected_base(url, base, url).unwrap(), None);
        let moved = "https://b.test/mirror/index.git/info/refs?service=git-upload-pack";
        assert_eq!(
            redirected_base(url, base, moved).unwrap().as_deref(),
            Some("https://b.test/mirror/index.git")
        );
        let elsewhere = redirected_base(url, base, "http://b.test/login").unwrap_err();
        assert!(elsewhere.to_string().contains("not a git repository's"), "{elsewhere}");
    }

    #[test]
    fn a_redirect_from_https_to_http_is_refused() {
        let url = "https://a.test/i.git/info/refs?service=git-upload-pack";
        let error = redirected_base(
            url,
            "https://a.test/i.git",
            "http://a.test/i.git/info/refs?service=git-upload-pack",
        )
        .unwrap_err();
        assert!(error.to_string().contains("from https to plain http"), "{error}");
    }

    #[test]
    fn a_redirected_post_is_refused_naming_where_it_was_sent() {
        // A real server on loopback that answers every request with a 307.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut head = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
                let mut body = [0u8; 4];
                let _ = reader.read_exact(&mut body);
                let _ = stream.write_all(
                    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n",
                );
            }
        });
        let mut http = SmartHttp {
            agent: http::new_agent(1, &HttpLimits::default()),
            redirected_base: None,
        };
        let base = format!("http://127.0.0.1:{port}/i.git");
        let url = format!("{base}/git-upload-pack");
        let PostResponse {
            mut post_body,
            mut headers,
            ..
        } = http
            .post(
                &url,
                &base,
                ["Git-Protocol: version=2"],
                PostBodyDataKind::BoundedAndFitsIntoMemory,
            )
            .unwrap();
        post_body.write_all(b"0000").unwrap();
        let error = headers.fill_buf().unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("POST {url}: the server redirected it to http://127.0.0.1:9/x")),
            "{error}"
        );
    }

    #[test]
    fn a_post_is_sent_once_its_answer_is_read_and_takes_no_more_body() {
        let limits = HttpLimits::default();
        // Nothing listens on port 9 of loopback: the send fails, and the
        // failure arrives with the headers.
        let mut http = SmartHttp {
            agent: http::new_agent(1, &limits),
            redirected_base: None,
        };
        let url = "http://127.0.0.1:9/i.git/git-upload-pack";
        let PostResponse {
            mut post_body,
            mut headers,
            mut body,
        } = http
            .post(
                url,
                "http://127.0.0.1:9/i.git",
                ["Git-Protocol: version=2"],
                PostBodyDataKind::BoundedAndFitsIntoMemory,
            )
            .unwrap();
        post_body.write_all(b"0000").unwrap();
        let error = headers.fill_buf().unwrap_err();
        assert!(error.to_string().starts_with(&format!("POST {url}: ")), "{error}");
        assert!(post_body.write_all(b"more").is_err(), "written after the send");
        assert_eq!(body.fill_buf().unwrap(), b"", "no answer, no body");
    }
}
