//! The one way this crate GETs a file over HTTP: a pooled `ureq` agent and a
//! GET that revalidates with `If-None-Match` / `If-Modified-Since` and
//! retries what may pass (connection failures, stalls, 408, 429, 5xx,
//! bodies cut short) with exponential backoff and a bounded number of tries.
//! The sparse index fetches its files with it and the installer its archives.
//!
//! Nothing waits or reads without bound ([`HttpLimits`], the `[net]` table
//! of `GGEN_HOME/config.toml`): connecting, each wait for the next bytes and
//! the whole request have their timeouts, a body larger than its cap is
//! refused as soon as it is seen to be (an endless body included), and a
//! bounded number of redirects is followed, never from https to http.
//!
//! ```no_run
//! use ggen_marketplace::sources::http::{self, HttpLimits, Validators};
//! let limits = HttpLimits::default();
//! let agent = http::new_agent(16, &limits);
//! let response = http::get_with_retries(
//!     &agent,
//!     "http://127.0.0.1:8080/config.json",
//!     &Validators::default(),
//!     &limits.retry,
//!     limits.index_file_cap(),
//! )?;
//! assert!(response.is_ok());
//! # Ok::<(), http::HttpError>(())
//! ```

use std::hash::{BuildHasher, RandomState};
use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ureq::ResponseExt;
use ureq::http::{HeaderMap, StatusCode, header};
use ureq::tls::{RootCerts, TlsConfig};

/// Where the limits are set, for messages.
const SETTINGS: &str = "the [net] table of GGEN_HOME/config.toml";

/// How long to wait, how often to retry, how far to follow redirects and
/// how much to read: the `[net]` table of `GGEN_HOME/config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest wait for a connection (`connect-timeout`).
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes once connected
    /// (`read-timeout`): a stalled server is given up on, a slow but steady
    /// one is not.
    pub read_timeout: Duration,
    /// The longest one request may take, redirects and body included
    /// (`total-timeout`); each retry has its own.
    pub total_timeout: Duration,
    /// How transient failures are retried (`retries`).
    pub retry: RetryPolicy,
    /// Redirects followed before giving up (`max-redirects`).
    pub max_redirects: u32,
    /// The largest index file read (`max-index-file-size`, bytes).
    pub max_index_file_size: u64,
    /// The largest archive read (`max-archive-size`, bytes).
    pub max_archive_size: u64,
}

impl Default for HttpLimits {
    /// Connect 10 s, read 30 s, total 300 s, [`RetryPolicy::default`],
    /// 5 redirects, index files up to 32 MiB, archives up to 1 GiB.
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            max_redirects: 5,
            max_index_file_size: 32 << 20,
            max_archive_size: 1 << 30,
        }
    }
}

impl HttpLimits {
    /// The cap on an index file (`config.json`, a package or owner-keys file).
    pub fn index_file_cap(&self) -> BodyCap {
        BodyCap {
            bytes: self.max_index_file_size,
            setting: "max-index-file-size",
        }
    }

    /// The cap on an archive.
    pub fn archive_cap(&self) -> BodyCap {
        BodyCap {
            bytes: self.max_archive_size,
            setting: "max-archive-size",
        }
    }
}

/// The most bytes a body may have, and the setting that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCap {
    /// The limit in bytes.
    pub bytes: u64,
    /// The `[net]` key that sets it, for messages.
    pub setting: &'static str,
}

/// Statuses that mean "no such file" (Cargo's rule for sparse indexes):
/// they are answers, not failures, and are never retried.
pub const MISSING_STATUSES: [u16; 3] = [404, 410, 451];

/// How often and how patiently a GET is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub max_tries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub base_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four tries (Cargo's `net.retry = 3` retries), waiting about 0.25 s,
    /// 0.5 s, 1 s.
    fn default() -> Self {
        RetryPolicy {
            max_tries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The longest wait before retry number `retry` (1 for the first retry):
    /// `base_delay · 2^(retry-1)`, capped at `max_delay`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ggen_marketplace::sources::http::RetryPolicy;
    /// let policy = RetryPolicy { max_tries: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(300) };
    /// assert_eq!(policy.backoff(1), Duration::from_millis(100));
    /// assert_eq!(policy.backoff(2), Duration::from_millis(200));
    /// assert_eq!(policy.backoff(3), Duration::from_millis(300));
    /// ```
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait actually used: between half of [`backoff`](Self::backoff)
    /// and all of it, at random, so that many clients failing together do
    /// not retry together.
    pub(crate) fn jittered(&self, retry: u32) -> Duration {
        let full = self.backoff(retry);
        // A fresh RandomState is randomly seeded: enough randomness for
        // jitter without a dependency.
        let random = RandomState::new().hash_one(retry);
        let fraction = 0.5 + (random % 1024) as f64 / 2048.0;
        full.mul_f64(fraction)
    }
}

/// What makes a GET conditional: the validators the server gave with the
/// copy we hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag` header, sent back as `If-None-Match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` header, sent back as `If-Modified-Since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to revalidate with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Validators {
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
        }
    }
}

/// A final answer from the server: a body (2xx), "not modified" (304, only
/// to a conditional GET) or "no such file" ([`MISSING_STATUSES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The whole body of a 2xx answer (empty otherwise), checked against
    /// `Content-Length`.
    pub body: Vec<u8>,
    /// The validators of a 2xx answer, to revalidate with next time.
    pub validators: Validators,
    /// How many requests it took (1 if the first try succeeded).
    pub attempts: u32,
    /// The server's clock, from its `Date` header (`doctor` compares it
    /// with ours).
    pub date: Option<std::time::SystemTime>,
}

impl HttpResponse {
    /// A 2xx answer with a body.
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A 304: the copy revalidated with is current.
    pub fn is_not_modified(&self) -> bool {
        self.status == 304
    }

    /// 404, 410 or 451: there is no such file.
    pub fn is_missing(&self) -> bool {
        MISSING_STATUSES.contains(&self.status)
    }
}

/// Why one try failed in a way that may pass on the next.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum TransientError {
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Transport(ureq::Error),
    /// No connection, or no next bytes, within a timeout.
    #[error("{} within {} s (raise `{setting}` in {SETTINGS} for a slow network)", stall_text(setting), limit.as_secs_f64())]
    Stalled { setting: &'static str, limit: Duration },
    /// The server answered 408, 429 or 5xx.
    #[error("the server answered {}", status_text(*status))]
    Status { status: u16 },
    /// The connection ended before the whole body arrived.
    #[error("the body was cut short after {received} of {expected} bytes")]
    Truncated { received: u64, expected: u64 },
    /// Reading the body failed.
    #[error("reading the body failed after {received} bytes: {source}")]
    Body { received: u64, source: std::io::Error },
}

/// A GET that did not produce an answer.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum HttpError {
    /// Every try failed with a transient error.
    #[error(
        "GET {url} failed {tries} time(s); the last error: {last}. Check the network and the registry URL, try again later, or work from the cache with --offline"
    )]
    GaveUp {
        url: String,
        tries: u32,
        #[source]
        last: TransientError,
    },
    /// The server refused in a way retrying will not change (a 4xx other than
    /// 404/410/451, or a 304 to an unconditional GET).
    #[error("GET {url}: the server answered {}; {}", status_text(*status), status_advice(*status))]
    Status { url: String, status: u16 },
    /// The request could not be made at all (a malformed URL, a TLS failure).
    #[error("GET {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: ureq::Error,
    },
    /// The whole request took longer than `total-timeout`: not retried, a
    /// second try of a transfer that long would take as long.
    #[error(
        "GET {url} took longer than {} s, the `total-timeout` in {SETTINGS}; raise it to fetch large files over a slow network",
        limit.as_secs_f64()
    )]
    TotalTimeout { url: String, limit: Duration },
    /// The body is larger than its cap: refused when the `Content-Length`
    /// says so, or once that many bytes arrived (an endless body too).
    #[error(
        "GET {url}: the body is larger than {limit} bytes, the `{setting}` in {SETTINGS}; the server is misbehaving, or raise the limit if the file really is that large"
    )]
    TooLarge {
        url: String,
        limit: u64,
        setting: &'static str,
    },
    /// More redirects than `max-redirects` (a loop, usually).
    #[error(
        "GET {url}: more than {limit} redirects (a redirect loop?); fix the URL, or raise `max-redirects` in {SETTINGS}"
    )]
    TooManyRedirects { url: String, limit: u32 },
    /// A redirect from https to plain http.
    #[error(
        "GET {url} was redirected to {to}, from https to plain http; refused: use a registry URL that stays on https"
    )]
    Downgrade { url: String, to: String },
    /// TLS failed: a certificate nothing trusted, a failed handshake.
    #[error(
        "GET {url}: TLS failed: {reason}. https is checked against this system's trusted roots: if the server's certificate comes from an internal CA, install that CA on the system or name its PEM file in SSL_CERT_FILE"
    )]
    Tls { url: String, reason: String },
}

impl HttpError {
    /// How many requests were sent before giving up.
    pub fn attempts(&self) -> u32 {
        match self {
            HttpError::GaveUp { tries, .. } => *tries,
            _ => 1,
        }
    }
}

fn stall_text(setting: &str) -> &'static str {
    if setting == "connect-timeout" {
        "no connection"
    } else {
        "no data arrived"
    }
}

pub(crate) fn status_text(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn status_advice(status: u16) -> &'static str {
    match status {
        401 | 403 => "the registry refuses anonymous access; check the URL or the credentials",
        304 => "the server answered an unconditional request with 304; it is misconfigured",
        _ => "check the URL",
    }
}

/// An agent for up to `max_connections` simultaneous requests whose
/// connections are all kept for reuse, with the timeouts and redirect bound
/// of `limits`. HTTP error statuses are answers here, not errors. https is
/// checked against the system's trusted roots (as cargo and git do), which
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` can replace: an internal CA is trusted
/// once the system, or those variables, trust it.
pub fn new_agent(max_connections: usize, limits: &HttpLimits) -> ureq::Agent {
    let max_connections = max_connections.max(1);
    let system_roots = TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(system_roots)
        .max_idle_connections(max_connections)
        .max_idle_connections_per_host(max_connections)
        .timeout_connect(Some(limits.connect_timeout))
        .timeout_per_read(Some(limits.read_timeout))
        .timeout_per_write(Some(limits.read_timeout))
        .timeout_global(Some(limits.total_timeout))
        .max_redirects(limits.max_redirects)
        .max_redirects_will_error(true)
        .user_agent(concat!("ggen-market/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// GETs `url`, conditionally if `validators` holds any, retrying transient
/// failures as `policy` says and reading at most `cap` bytes. Returns the
/// final answer (2xx, 304, or a missing status), or the reason there is
/// none, naming the URL.
pub fn get_with_retries(
    agent: &ureq::Agent,
    url: &str,
    validators: &Validators,
    policy: &RetryPolicy,
    cap: BodyCap,
) -> Result<HttpResponse, HttpError> {
    let max_tries = policy.max_tries.max(1);
    let mut tries = 0;
    loop {
        tries += 1;
        let failure = match try_once(agent, url, validators, cap) {
            Ok(Attempt::Answer(mut response)) => {
                if response.is_not_modified() && validators.is_empty() {
                    return Err(HttpError::Status {
                        url: url.to_owned(),
                        status: response.status,
                    });
                }
                response.attempts = tries;
                return Ok(response);
            }
            Ok(Attempt::Refused(status)) => {
                return Err(HttpError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
            Ok(Attempt::Failed { error, retry_after }) => (error, retry_after),
            Err(error) => return Err(error.for_url(url, agent)),
        };
        let (last, retry_after) = failure;
        if tries >= max_tries {
            return Err(HttpError::GaveUp {
                url: url.to_owned(),
                tries,
                last,
            });
        }
        let wait = retry_after.map_or_else(|| policy.jittered(tries), |d| d.min(policy.max_delay));
        std::thread::sleep(wait);
    }
}

/// The outcome of one request.
enum Attempt {
    /// A final answer.
    Answer(HttpResponse),
    /// A status that retrying will not change.
    Refused(u16),
    /// Something that may pass; the server may have said when to come back.
    Failed {
        error: TransientError,
        retry_after: Option<Duration>,
    },
}

/// What no retry can fix, before the URL is attached.
enum Permanent {
    Transport(ureq::Error),
    TooLarge(BodyCap),
    Downgrade(String),
}

impl Permanent {
    fn for_url(self, url: &str, agent: &ureq::Agent) -> HttpError {
        let url = url.to_owned();
        match self {
            Permanent::Transport(ureq::Error::Timeout(_)) => HttpError::TotalTimeout {
                url,
                limit: agent.config().timeouts().global.unwrap_or_default(),
            },
            Permanent::Transport(ureq::Error::TooManyRedirects) => HttpError::TooManyRedirects {
                url,
                limit: agent.config().max_redirects(),
            },
            Permanent::Transport(source) => match tls_failure(&source) {
                Some(reason) => HttpError::Tls { url, reason },
                None => HttpError::Request { url, source },
            },
            Permanent::TooLarge(cap) => HttpError::TooLarge {
                url,
                limit: cap.bytes,
                setting: cap.setting,
            },
            Permanent::Downgrade(to) => HttpError::Downgrade { url, to },
        }
    }
}

/// What went wrong with a request that failed before an answer, as a
/// message naming `method`, `url` and, for a stall or a redirect loop, the
/// `[net]` setting to raise (for requests made without retries, such as
/// git's smart HTTP).
pub(crate) fn failure_message(method: &str, url: &str, error: ureq::Error, agent: &ureq::Agent) -> String {
    match classify(error, agent) {
        Ok(transient) => format!("{method} {url}: {transient}"),
        Err(permanent) => match permanent.for_url(url, agent) {
            HttpError::Request { source, .. } => format!("{method} {url}: {source}"),
            named => named.to_string(),
        },
    }
}

/// Sorts a transport error into one that may pass (a stall is named by
/// its setting) and one that will not.
fn classify(error: ureq::Error, agent: &ureq::Agent) -> Result<TransientError, Permanent> {
    let config = agent.config();
    let stalled = |setting, limit: Option<Duration>| TransientError::Stalled {
        setting,
        limit: limit.unwrap_or_default(),
    };
    match error {
        ureq::Error::Timeout(ureq::Timeout::Global) => Err(Permanent::Transport(error)),
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Ok(stalled("connect-timeout", config.timeouts().connect))
        }
        ureq::Error::Timeout(_) => Ok(stalled("read-timeout", config.timeout_per_read())),
        error if is_transient(&error) => Ok(TransientError::Transport(error)),
        error => Err(Permanent::Transport(error)),
    }
}

/// One request. `Err` is an error no retry can fix.
fn try_once(agent: &ureq::Agent, url: &str, validators: &Validators, cap: BodyCap) -> Result<Attempt, Permanent> {
    let mut request = agent.get(url);
    if let Some(etag) = &validators.etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = &validators.last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, last_modified);
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(error) => {
            return Ok(Attempt::Failed {
                error: classify(error, agent)?,
                retry_after: None,
            });
        }
    };
    if is_downgrade(url, &response.get_uri().to_string()) {
        return Err(Permanent::Downgrade(response.get_uri().to_string()));
    }
    let status = response.status().as_u16();
    let date = response
        .headers()
        .get(header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::util::time::parse_http_date);
    let answer = |body, validators| {
        Attempt::Answer(HttpResponse {
            status,
            body,
            validators,
            attempts: 1,
            date,
        })
    };
    match status {
        200..=299 => {
            let validators = Validators::from_headers(response.headers());
            Ok(match read_body(response.into_body(), cap, agent)? {
                Ok(body) => answer(body, validators),
                Err(error) => Attempt::Failed {
                    error,
                    retry_after: None,
                },
            })
        }
        304 => Ok(answer(Vec::new(), Validators::default())),
        s if MISSING_STATUSES.contains(&s) => {
            discard_body(response);
            Ok(answer(Vec::new(), Validators::default()))
        }
        408 | 429 | 500..=599 => {
            let retry_after = retry_after(response.headers());
            discard_body(response);
            Ok(Attempt::Failed {
                error: TransientError::Status { status },
                retry_after,
            })
        }
        _ => Ok(Attempt::Refused(status)),
    }
}

/// Reads and drops a small body (a 404 page, a 503 message): a connection
/// is only reused once its answer has been read to the end.
fn discard_body(response: ureq::http::Response<ureq::Body>) {
    const SMALL_BODY: u64 = 64 * 1024;
    let _ = response.into_body().into_with_config().limit(SMALL_BODY).read_to_vec();
}

/// Reads the whole body, refusing one shorter than its `Content-Length`
/// (ureq checks this too; checking here names the byte counts) and one
/// longer than `cap` — before reading, if its `Content-Length` says so,
/// else once a byte more than the cap has arrived. The outer `Err` is what
/// no retry can fix.
fn read_body(
    body: ureq::Body,
    cap: BodyCap,
    agent: &ureq::Agent,
) -> Result<Result<Vec<u8>, TransientError>, Permanent> {
    let expected = body.content_length();
    if expected.is_some_and(|length| length > cap.bytes) {
        return Err(Permanent::TooLarge(cap));
    }
    // Preallocate what the server announced, but never more than the cap
    // nor so much that a lying Content-Length costs memory up front.
    let capacity = expected.unwrap_or(0).min(cap.bytes).min(64 << 20) as usize;
    let mut bytes = Vec::with_capacity(capacity);
    let mut reader = body
        .into_with_config()
        .limit(u64::MAX)
        .reader()
        .take(cap.bytes.saturating_add(1));
    if let Err(source) = reader.read_to_end(&mut bytes) {
        let received = bytes.len() as u64;
        let error = ureq::Error::from(source);
        if let ureq::Error::Timeout(_) = error {
            return classify(error, agent).map(Err);
        }
        return Ok(Err(match expected {
            Some(expected) if received < expected => TransientError::Truncated { received, expected },
            _ => TransientError::Body {
                received,
                source: error.into_io(),
            },
        }));
    }
    if bytes.len() as u64 > cap.bytes {
        return Err(Permanent::TooLarge(cap));
    }
    Ok(match expected {
        Some(expected) if (bytes.len() as u64) != expected => Err(TransientError::Truncated {
            received: bytes.len() as u64,
            expected,
        }),
        _ => Ok(bytes),
    })
}

/// Whether a request to `from` ended at `to` over plain http although it
/// began over https.
pub(crate) fn is_downgrade(from: &str, to: &str) -> bool {
    from.starts_with("https://") && !to.starts_with("https://")
}

/// Whether a transport error may pass on its own: network trouble does,
/// a malformed URL or a refused certificate does not.
fn is_transient(error: &ureq::Error) -> bool {
    tls_failure(error).is_none()
        && matches!(
            error,
            ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::HostNotFound
                | ureq::Error::ConnectionFailed
                | ureq::Error::Protocol(_)
                | ureq::Error::Decompress(..)
        )
}

/// What went wrong in TLS, if that is what `error` is: rustls reports a
/// certificate it cannot trust, or a failed handshake, through the
/// connection's io error.
fn tls_failure(error: &ureq::Error) -> Option<String> {
    let tls = match error {
        ureq::Error::Rustls(error) => error,
        ureq::Error::Io(error) => error.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    Some(tls.to_string())
}

/// A `Retry-After` given in seconds (the HTTP-date form is rare for 429/503
/// and falls back to our own backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_tries: 10,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        };
        let waits: Vec<u128> = (1..=6).map(|r| policy.backoff(r).as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
        assert_eq!(policy.backoff(200), Duration::from_millis(100), "no overflow");
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let policy = RetryPolicy::default();
        for retry in 1..=5 {
            let full = policy.backoff(retry);
            for _ in 0..50 {
                let wait = policy.jittered(retry);
                assert!(wait >= full / 2 && wait <= full, "{wait:?} vs {full:?}");
            }
        }
    }

    #[test]
    fn reads_validators_and_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, "\"5d-1a\"".parse().unwrap());
        headers.insert(header::RETRY_AFTER, " 2 ".parse().unwrap());
        let validators = Validators::from_headers(&headers);
        assert_eq!(validators.etag.as_deref(), Some("\"5d-1a\""));
        assert_eq!(validators.last_modified, None);
        assert!(!validators.is_empty());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn status_messages_name_the_reason() {
        let error = HttpError::Status {
            url: "http://h/x".into(),
            status: 403,
        };
        let text = error.to_string();
        assert!(text.contains("http://h/x") && text.contains("403 Forbidden"), "{text}");
    }

    #[test]
    fn a_malformed_url_fails_at_once() {
        let limits = HttpLimits::default();
        let agent = new_agent(1, &limits);
        let error = get_with_retries(
            &agent,
            "not a url",
            &Validators::default(),
            &limits.retry,
            limits.index_file_cap(),
        )
        .unwrap_err();
        assert!(matches!(error, HttpError::Request { .. }), "{error:?}");
        assert_eq!(error.attempts(), 1);
    }

    #[test]
    fn only_https_to_http_is_a_downgrade() {
        assert!(is_downgrade("https://a.test/x", "http://a.test/x"));
        assert!(!is_downgrade("https://a.test/x", "https://b.test/y"));
        assert!(!is_downgrade("http://a.test/x", "https://a.test/x"));
        assert!(!is_downgrade("http://a.test/x", "http://b.test/x"));
    }

    #[test]
    fn limit_messages_name_the_url_and_the_setting() {
        let limits = HttpLimits::default();
        let cap = limits.archive_cap();
        let error = Permanent::TooLarge(cap).for_url("http://h/a.tar.gz", &new_agent(1, &limits));
        let text = error.to_string();
        assert!(
            text.contains("http://h/a.tar.gz") && text.contains("`max-archive-size`") && text.contains("1073741824"),
            "{text}"
        );
        let stalled = TransientError::Stalled {
            setting: "read-timeout",
            limit: Duration::from_millis(1500),
        };
        assert!(
            stalled
                .to_string()
                .contains("within 1.5 s (raise `read-timeout` in the [net] table"),
            "{stalled}"
        );
    }
}
