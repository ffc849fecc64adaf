//! Getting the remote's default branch into the bare clone: one fetch of
//! `+HEAD:refs/ggen/fetched` (checked, then taken as `refs/ggen/index`), used both to fill a fresh repository (a clone)
//! and to update an existing one (only new objects travel).
//!
//! gix writes the received pack under a temporary name and renames it into
//! place, complete, before it moves the ref: a fetch that dies half-way
//! leaves the ref, and so the previous state, untouched.

use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::protocol::transport::client::blocking_io::{Transport, connect};
use gix::remote::Direction;
use gix::remote::fetch::Tags;
use gix::url::Scheme;

use super::GitError;
use super::progress::relay;
use super::smart_http;
use super::transport::SingleEndOfInteraction;
use crate::sources::http::HttpLimits;
use crate::util::progress::Progress;

/// Fetches the commit at the remote's `HEAD` into the ref `target` of
/// `repo` and returns it; over http(s) within `limits`.
pub(super) fn fetch_default_branch(
    repo: &gix::Repository,
    url: &gix::Url,
    target: &str,
    limits: &HttpLimits,
    progress: &dyn Progress,
) -> Result<ObjectId, GitError> {
    // Interruption is the caller's process being killed; the pack and ref
    // writes are atomic, so there is nothing to stop cleanly.
    let never_interrupted = AtomicBool::new(false);
    let refspec = format!("+HEAD:{target}");
    let remote = repo
        .remote_at(url.clone())?
        .with_refspecs(Some(refspec.as_str()), Direction::Fetch)?
        .with_fetch_tags(Tags::None);
    let outcome = relay(
        progress,
        "contacting the remote",
        |mut gix_progress| -> gix::Result<_> {
            // What `remote.connect()` does, with our transport wrapper and
            // HTTP client.
            let (url, version) = remote.sanitized_url_and_version(Direction::Fetch)?;
            let transport: Box<dyn Transport + Send> = match url.scheme {
                Scheme::Http | Scheme::Https => Box::new(smart_http::connect(url, version, limits)),
                _ => connect::connect(
                    url,
                    connect::Options {
                        version,
                        ..Default::default()
                    },
                )?,
            };
            let transport = SingleEndOfInteraction::new(transport);
            remote
                .to_connection_with_transport(transport)
                .prepare_fetch(&mut gix_progress, Default::default())?
                .receive(&mut gix_progress, &never_interrupted)
        },
    )?;
    let advertised = outcome
        .ref_map
        .mappings
        .iter()
        .find(|mapping| mapping.local.as_ref().is_some_and(|local| local == target))
        .and_then(|mapping| mapping.remote.as_id())
        .map(ToOwned::to_owned)
        .ok_or(GitError::EmptyRemote)?;
    let stored = repo
        .try_find_reference(target)?
        .and_then(|reference| reference.try_id().map(gix::Id::detach));
    if stored != Some(advertised) {
        return Err(GitError::RefNotMoved {
            reference: target.to_owned(),
            stored,
            advertised,
        });
    }
    Ok(advertised)
}
