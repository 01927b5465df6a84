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
//!    the disk share (`limits`), then the event (`event`) through the pipeline, and the page's
//!    release health and client reports (`session`, `sessions`, `client_report`), scrubbed
//!    (`scrub::browser_item`) and spooled for Sentry alone, like the server's release health.
//!
//! The tunnel never relays: the request is not forwarded anywhere, and the sinks send what
//! the pipeline built to the URLs the configuration names, with their own headers.

mod envelope;
mod event;
mod limits;

use crate::ledger::LEDGER;
use crate::log;
use crate::options::TunnelConfig;
use crate::scrub;
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

/// Item types kept: the event, and what is not an error but Sentry uses (crash-free rates,
/// what the SDK dropped). Every other one (replay, attachments, feedback, profiles, logs,
/// transactions, spans…) is dropped, and the envelope still answered 200 so the SDK does not
/// retry it.
const EVENT: &str = "event";
const OTHERS_KEPT: &[&str] = &["session", "sessions", "client_report"];

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
    let (event, None) = (events.next(), events.next()) else {
        return Reply::status(400);
    };
    let dropped: Vec<&str> = envelope
        .items
        .iter()
        .map(|i| i.ty.as_str())
        .filter(|t| *t != EVENT && !OTHERS_KEPT.contains(t))
        .collect();
    if !dropped.is_empty() {
        log::debug(format_args!("tunnel: dropped items {dropped:?}"));
    }
    let others = envelope
        .items
        .iter()
        .filter(|i| OTHERS_KEPT.contains(&i.ty.as_str()));
    let Some(item) = event else {
        // Nothing kept for want of disk share: the SDK backs off and sends it again.
        if !keep_others(others, &setup) {
            return Reply::back_off(Duration::from_secs(60));
        }
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
        // The same envelope again: what came with the event was kept the first time.
        log::debug(format_args!("tunnel: event {id} already accepted"));
        return Reply::ok(Some(&id));
    }
    let bytes = item.payload.len() as u64;
    if !SHARE.charge(bytes, setup.config.tunnel.max_spool_bytes) {
        SEEN.unclaim(&id);
        share_full(&setup);
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
        let ready = worker::finish(seq, SystemTime::now(), built, setup.clone(), |s, e, t| {
            s.browser_event(e, t)
        })
        .on_release(move || SHARE.release(bytes));
        worker::release(&mut vec![ready]);
    }));
    match kept {
        Ok(()) => {
            // The event is kept: the SDK must not send it again for what came beside it.
            keep_others(others, &setup);
            Reply::ok(Some(&id))
        }
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

/// The page's release health and client reports: scrubbed, charged to the disk share like
/// events, written to the spool and committed before the reply, and owed to Sentry alone
/// (`worker::item_record`). One whose shape is wrong is left out (logged); the rest of the
/// envelope is kept. False when the share had no room for one of them.
fn keep_others<'a>(
    items: impl Iterator<Item = &'a envelope::Item<'a>>,
    setup: &Arc<Setup>,
) -> bool {
    let mut ready = Vec::new();
    let mut room = true;
    for item in items {
        let kept = match scrub::browser_item(&item.ty, item.payload) {
            Ok(kept) => kept,
            Err(why) => {
                log::debug(format_args!("tunnel: dropped a {} item: {why}", item.ty));
                continue;
            }
        };
        let bytes = item.payload.len() as u64;
        if !SHARE.charge(bytes, setup.config.tunnel.max_spool_bytes) {
            share_full(setup);
            room = false;
            continue;
        }
        // A sequence number, so `flush` waits for it; counted apart from errors.
        LEDGER.sessions.fetch_add(1, Relaxed);
        let seq = LEDGER.next_seq.fetch_add(1, Relaxed);
        let record = worker::Item {
            ty: Some(item.ty.clone()),
            payload: kept.payload,
            release: kept.release,
            environment: kept.environment,
        };
        ready.push(
            worker::keep_item(
                seq,
                Uuid::new_v4(),
                SystemTime::now(),
                record,
                setup.clone(),
            )
            .on_release(move || SHARE.release(bytes)),
        );
    }
    if !ready.is_empty() {
        worker::release(&mut ready);
    }
    room
}

fn share_full(setup: &Setup) {
    log::warn_once(
        "tunnel-share",
        format_args!(
            "tunnel: browser events waiting for delivery hold tunnel.maxSpoolBytes ({} \
             bytes); new ones are refused with 429 until some are delivered",
            setup.config.tunnel.max_spool_bytes
        ),
    );
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
