//! The browser half: `handleTunnel`, the app's own endpoint for Sentry's browser SDK
//! (`tunnel: '/monitoring'`). What a page sends is checked, read and then treated like an error
//! the server caught: the same stages (`worker::finish`: source maps, fingerprint, scrub with
//! the browser's rules on top, `stats().groups`, spool), the same fan-out to every sink, the
//! same audit trail. The route answers only once the event is on disk.
//!
//! Two steps, so that a request to refuse is refused before its body is read:
//!
//! 1. `check` (on the JS thread, headers only): method, `Origin`, `Content-Encoding`,
//!    `Content-Type`, a declared size, the client's rate. Returns the reply, or how many bytes
//!    the body may have (the JS half stops reading past it: 413).
//! 2. `accept` (on a libuv thread): the envelope's bytes (`envelope`), its DSN, deduplication,
//!    the disk share (`limits`), then the event (`event`) through the pipeline.
//!
//! The tunnel never relays: the request is not forwarded anywhere, and the sinks send what
//! the pipeline built to the URLs the configuration names, with their own headers.

mod envelope;
mod event;
mod limits;

use crate::ledger::LEDGER;
use crate::log;
use crate::options::TunnelConfig;
use crate::setup::Setup;
use crate::worker::{self, RESOLVER};
use limits::{Clients, Seen, Share};
use sentry_types::protocol::v7::Url;
use sentry_types::{Dsn, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

static CLIENTS: LazyLock<Clients> = LazyLock::new(Clients::new);
static SEEN: LazyLock<Seen> = LazyLock::new(Seen::new);
static SHARE: Share = Share::new();

/// Item types kept; every other one (replay, attachments, feedback, profiles, logs,
/// transactions, spans…) is dropped, and the envelope still answered 200 so the SDK does not
/// retry it.
const EVENT: &str = "event";

/// The request's head, as the JS half reads it from the `Request`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Head {
    pub method: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_length: Option<String>,
    pub origin: Option<String>,
    pub host: Option<String>,
    pub forwarded_host: Option<String>,
    pub forwarded_for: Option<String>,
    /// The second argument of `handleTunnel`: the socket's address, when the caller has it.
    pub client_address: Option<String>,
}

/// The answer to send: status, headers and a body (empty or a small JSON object).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    fn ok(event_id: Option<&str>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "application/json".to_owned())],
            body: match event_id {
                Some(id) => json!({ "id": id }).to_string(),
                None => "{}".to_owned(),
            },
        }
    }

    /// 429 with what Sentry's SDKs read to back off: `Retry-After`, and `X-Sentry-Rate-Limits`
    /// for every category.
    fn back_off(wait: Duration) -> Reply {
        let secs = wait.as_secs().max(1);
        Reply {
            status: 429,
            headers: vec![
                ("retry-after", secs.to_string()),
                ("x-sentry-rate-limits", format!("{secs}::organization")),
            ],
            body: String::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
            .collect();
        json!({ "status": self.status, "headers": headers, "body": self.body })
    }
}

/// What `check` decided: a reply now, or read a body of at most this many bytes.
pub enum Checked {
    Reply(Reply),
    Read(usize),
}

/// Step 1: everything the head alone decides.
pub fn check(head: &Head, setup: &Setup) -> Checked {
    let config = &setup.config.tunnel;
    if !head
        .method
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("POST"))
    {
        let mut reply = Reply::status(405);
        reply.headers.push(("allow", "POST".to_owned()));
        return Checked::Reply(reply);
    }
    if !origin_allowed(head, config) {
        return Checked::Reply(Reply::status(403));
    }
    // The browser SDK does not compress; a compressed body would be a bomb to inflate.
    if head
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"))
    {
        return Checked::Reply(Reply::status(415));
    }
    let media = head
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        media.as_str(),
        "" | "text/plain" | "application/x-sentry-envelope"
    ) {
        return Checked::Reply(Reply::status(415));
    }
    if head
        .content_length
        .as_deref()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|l| l > config.max_envelope_bytes as u64)
    {
        return Checked::Reply(Reply::status(413));
    }
    if let Err(wait) = CLIENTS.take(
        &client(head, config),
        config.max_requests_per_minute,
        Instant::now(),
    ) {
        return Checked::Reply(Reply::back_off(wait));
    }
    Checked::Read(config.max_envelope_bytes)
}

/// The client the limiter counts: the caller's address, else the nearest proxy's
/// `X-Forwarded-For` entry when proxies are trusted, else one bucket for every client.
fn client(head: &Head, config: &TunnelConfig) -> String {
    let given = head.client_address.as_deref().map(str::trim);
    let forwarded = head
        .forwarded_for
        .as_deref()
        .filter(|_| config.trust_proxy)
        .and_then(|f| f.rsplit(',').next())
        .map(str::trim);
    given
        .or(forwarded)
        .filter(|c| !c.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

/// The page's `Origin` is the app's own (the `Host` it was posted to, or the proxy's
/// `X-Forwarded-Host` when proxies are trusted) or one of `allowedOrigins`.
fn origin_allowed(head: &Head, config: &TunnelConfig) -> bool {
    let Some(origin) = head
        .origin
        .as_deref()
        .and_then(|o| Url::parse(o.trim()).ok())
    else {
        return false;
    };
    let serialized = origin.origin().ascii_serialization();
    if serialized == "null" {
        return false;
    }
    if config.allowed_origins.contains(&serialized) {
        return true;
    }
    let forwarded = head
        .forwarded_host
        .as_deref()
        .filter(|_| config.trust_proxy)
        .and_then(|h| h.split(',').next());
    [head.host.as_deref(), forwarded]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|h| !h.is_empty() && !h.contains(['/', '@', '?', '#']))
        .any(|host| {
            Url::parse(&format!("{}://{host}", origin.scheme()))
                .is_ok_and(|u| u.origin().ascii_serialization() == serialized)
        })
}

/// Step 2, off the JS thread: the body, read and kept. Returns once the event is on disk.
pub fn accept(body: &[u8], setup: Arc<Setup>) -> Reply {
    let envelope = match envelope::parse(body) {
        Ok(envelope) => envelope,
        Err(why) => {
            log::debug(format_args!("tunnel: refused a malformed envelope: {why}"));
            return Reply::status(400);
        }
    };
    if !dsn_matches(envelope.header.get("dsn"), setup.config.dsn.as_ref()) {
        log::debug(format_args!("tunnel: refused an envelope for another DSN"));
        return Reply::status(403);
    }
    let mut events = envelope.items.iter().filter(|i| i.ty == EVENT);
    let (Some(item), None) = (events.next(), events.next()) else {
        let dropped: Vec<&str> = envelope.items.iter().map(|i| i.ty.as_str()).collect();
        if dropped.iter().filter(|t| **t == EVENT).count() > 1 {
            return Reply::status(400);
        }
        log::debug(format_args!("tunnel: dropped items {dropped:?}"));
        return Reply::ok(None);
    };
    let event_id = envelope
        .header
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(Uuid::new_v4);
    let id = event_id.simple().to_string();
    if !SEEN.claim(&id) {
        log::debug(format_args!("tunnel: event {id} already accepted"));
        return Reply::ok(Some(&id));
    }
    let bytes = item.payload.len() as u64;
    if !SHARE.charge(bytes, setup.config.tunnel.max_spool_bytes) {
        SEEN.unclaim(&id);
        log::warn_once(
            "tunnel-share",
            format_args!(
                "tunnel: browser events waiting for delivery hold tunnel.maxSpoolBytes ({} \
                 bytes); new ones are refused with 429 until some are delivered",
                setup.config.tunnel.max_spool_bytes
            ),
        );
        return Reply::back_off(Duration::from_secs(60));
    }
    let built = match event::build(item.payload, event_id, &setup.config, &RESOLVER) {
        Ok(built) => built,
        Err(why) => {
            SEEN.unclaim(&id);
            SHARE.release(bytes);
            log::debug(format_args!("tunnel: refused event {id}: {why}"));
            return Reply::status(400);
        }
    };
    let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
    let kept = panic::catch_unwind(AssertUnwindSafe(|| {
        let ready = worker::finish(seq, SystemTime::now(), built, setup, |s, e, t| {
            s.browser_event(e, t)
        })
        .on_release(move || SHARE.release(bytes));
        worker::release(&mut vec![ready]);
    }));
    match kept {
        Ok(()) => Reply::ok(Some(&id)),
        Err(panic) => {
            log::warn(format_args!(
                "tunnel: event {id} could not be processed: {}",
                crate::threads::panic_text(&*panic)
            ));
            SEEN.unclaim(&id);
            LEDGER.failed.fetch_add(1, Relaxed);
            LEDGER.committed.fetch_add(1, Relaxed);
            LEDGER.settle(seq);
            Reply::status(500)
        }
    }
}

/// The envelope names the configured DSN's project and public key. Without a configured DSN
/// nothing matches: the tunnel serves this app's Sentry project only.
fn dsn_matches(sent: Option<&Value>, configured: Option<&Dsn>) -> bool {
    let (Some(sent), Some(configured)) = (sent.and_then(Value::as_str), configured) else {
        return false;
    };
    Dsn::from_str(sent).is_ok_and(|d| {
        d.public_key() == configured.public_key() && d.project_id() == configured.project_id()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(origin: &str, host: &str) -> Head {
        Head {
            origin: Some(origin.to_owned()),
            host: Some(host.to_owned()),
            ..Head::default()
        }
    }

    #[test]
    fn only_the_apps_own_origin_may_post() {
        let config = TunnelConfig::default();
        assert!(origin_allowed(
            &head("http://127.0.0.1:3000", "127.0.0.1:3000"),
            &config
        ));
        assert!(origin_allowed(
            &head("https://app.example", "app.example"),
            &config
        ));
        assert!(!origin_allowed(
            &head("https://evil.example", "app.example"),
            &config
        ));
        assert!(!origin_allowed(
            &head("http://127.0.0.1:3001", "127.0.0.1:3000"),
            &config
        ));
        assert!(!origin_allowed(&head("null", "app.example"), &config));
        assert!(!origin_allowed(&Head::default(), &config));
        let allowed = TunnelConfig {
            allowed_origins: vec!["https://www.app.example".to_owned()],
            ..TunnelConfig::default()
        };
        assert!(origin_allowed(
            &head("https://www.app.example", "app.example"),
            &allowed
        ));
        // A forwarded host counts only when proxies are trusted.
        let mut behind = head("https://app.example", "10.0.0.5:3000");
        behind.forwarded_host = Some("app.example".to_owned());
        assert!(!origin_allowed(&behind, &config));
        let trusting = TunnelConfig {
            trust_proxy: true,
            ..TunnelConfig::default()
        };
        assert!(origin_allowed(&behind, &trusting));
    }

    #[test]
    fn the_dsn_must_be_this_projects() {
        let ours = Dsn::from_str("https://key@o1.ingest.sentry.io/42").unwrap();
        let m = |s: &str| dsn_matches(Some(&Value::from(s)), Some(&ours));
        assert!(m("https://key@o1.ingest.sentry.io/42"));
        assert!(!m("https://other@o1.ingest.sentry.io/42"));
        assert!(!m("https://key@o1.ingest.sentry.io/43"));
        assert!(!m("not a dsn"));
        assert!(!dsn_matches(None, Some(&ours)));
    }

    #[test]
    fn the_client_is_the_proxys_only_when_trusted() {
        let mut h = Head {
            forwarded_for: Some("6.6.6.6, 203.0.113.7".to_owned()),
            ..Head::default()
        };
        assert_eq!(client(&h, &TunnelConfig::default()), "unknown");
        let trusting = TunnelConfig {
            trust_proxy: true,
            ..TunnelConfig::default()
        };
        assert_eq!(client(&h, &trusting), "203.0.113.7");
        h.client_address = Some("198.51.100.1".to_owned());
        assert_eq!(client(&h, &trusting), "198.51.100.1");
    }
}
