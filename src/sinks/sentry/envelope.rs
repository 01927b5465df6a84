//! The bytes on the wire: an envelope holding one event, framed by `sentry-types`. The
//! header leaves out the optional `dsn`: only tunnels need it, and `sentry-types` prints a
//! key-only DSN as `key:@host`, which is not the DSN the user gave.

use sentry_types::protocol::v7::{Envelope, EnvelopeHeaders, Event};
use std::time::SystemTime;

pub fn encode(event: &Event<'static>) -> std::io::Result<Vec<u8>> {
    let mut envelope = Envelope::new().with_headers(
        EnvelopeHeaders::new()
            .with_event_id(event.event_id)
            .with_sent_at(SystemTime::now()),
    );
    envelope.add_item(event.clone());
    let mut out = Vec::with_capacity(4096);
    envelope.to_writer(&mut out)?;
    Ok(out)
}
