//! The transport a fetch talks through: gix's own, minus a second
//! end-of-interaction packet.
//!
//! gix 0.90 ends a protocol-v2 fetch with a flush packet (`0000`) and then,
//! when the connection is dropped, sends another one. Over git:// and HTTP
//! the second write fails quietly. Over the pipe to a local
//! `git upload-pack` (`file://` URLs and paths), which has exited after the
//! first, the write raises SIGPIPE, and that kills any process that restored
//! SIGPIPE's default action, as the `ggen-market` binary does so that
//! `ggen-market … | head` ends quietly. This wrapper lets the first
//! end-of-interaction request through and refuses later ones without
//! writing anything.

use std::any::Any;
use std::borrow::Cow;

use gix::bstr::BStr;
use gix::protocol::transport::client::blocking_io::{self, RequestWriter, SetServiceResponse};
use gix::protocol::transport::client::{Error, MessageKind, TransportWithoutIO, WriteMode};
use gix::protocol::transport::{Protocol, Service};

/// A transport that sends the end of the interaction at most once.
pub(super) struct SingleEndOfInteraction<T> {
    inner: T,
    ended: bool,
}

impl<T> SingleEndOfInteraction<T> {
    pub fn new(inner: T) -> Self {
        SingleEndOfInteraction { inner, ended: false }
    }
}

/// The request gix makes to end an interaction, and only then: nothing
/// written, a flush packet on turning into a reader
/// (`gix_protocol::indicate_end_of_interaction`).
fn ends_interaction(write_mode: WriteMode, on_into_read: MessageKind) -> bool {
    write_mode == WriteMode::Binary && on_into_read == MessageKind::Flush
}

impl<T: TransportWithoutIO> TransportWithoutIO for SingleEndOfInteraction<T> {
    fn set_identity(&mut self, identity: gix::protocol::transport::client::Account) -> Result<(), Error> {
        self.inner.set_identity(identity)
    }

    fn to_url(&self) -> Cow<'_, BStr> {
        self.inner.to_url()
    }

    fn supported_protocol_versions(&self) -> &[Protocol] {
        self.inner.supported_protocol_versions()
    }

    fn connection_persists_across_multiple_requests(&self) -> bool {
        self.inner.connection_persists_across_multiple_requests()
    }

    fn configure(&mut self, config: &dyn Any) -> gix::Result {
        self.inner.configure(config)
    }
}

impl<T: blocking_io::Transport> blocking_io::Transport for SingleEndOfInteraction<T> {
    fn handshake<'a>(
        &mut self,
        service: Service,
        extra_parameters: &'a [(&'a str, Option<&'a str>)],
    ) -> Result<SetServiceResponse<'_>, Error> {
        self.inner.handshake(service, extra_parameters)
    }

    fn request(
        &mut self,
        write_mode: WriteMode,
        on_into_read: MessageKind,
        trace: bool,
    ) -> Result<RequestWriter<'_>, Error> {
        if ends_interaction(write_mode, on_into_read) {
            if self.ended {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the end of the interaction was sent already",
                )));
            }
            self.ended = true;
        }
        self.inner.request(write_mode, on_into_read, trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bare_flush_request_counts_as_the_end() {
        assert!(ends_interaction(WriteMode::Binary, MessageKind::Flush));
        // Protocol commands (ls-refs, fetch) write lines before their flush.
        assert!(!ends_interaction(
            WriteMode::OneLfTerminatedLinePerWriteCall,
            MessageKind::Flush
        ));
        assert!(!ends_interaction(WriteMode::Binary, MessageKind::Delimiter));
    }
}
