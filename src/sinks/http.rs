//! The one HTTP POST both network sinks use, and what its answer means for the event: keep-alive
//! agents, a verdict per response, and backoff with jitter between retries.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

pub const USER_AGENT: &str = concat!("calmony-error-tracker/", env!("CARGO_PKG_VERSION"));

/// What one attempt at delivery came to.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again: network trouble, 5xx, 429. `after` is what the server asked for.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The server refused the payload itself (other 4xx); sending it again cannot help.
    Rejected(String),
}

/// A pooled, keep-alive agent for up to `connections` concurrent requests to one host.
pub fn agent(connections: usize) -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(connections)
        .max_idle_connections_per_host(connections)
        // A redirect is never followed: ureq would turn the POST into a body-less GET, take the
        // 200 it gets as delivery, and carry the credentials to the other host.
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(USER_AGENT)
        .build();
    Agent::with_parts(config, DefaultConnector::new(), CachingResolver::default())
}

/// How long a looked-up address is reused before the name is looked up again.
const RESOLVED_FOR: Duration = Duration::from_secs(30);

/// ureq resolves the host before every request, pooled connection or not, and with a timeout
/// set its resolver does the lookup on a new thread each time: a thread started and ended per
/// event, whose stack mappings make the kernel interrupt every thread of the process (the JS
/// thread too) to keep their page tables in step. This one answers an IP address without a
/// lookup, and remembers a name's addresses for `RESOLVED_FOR`.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    known: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(authority) = uri.authority() else {
            return self.inner.resolve(uri, config, timeout);
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        if let (Ok(ip), Some(port)) = (host.parse::<IpAddr>(), port) {
            let mut addrs = self.empty();
            addrs.push((ip, port).into());
            return Ok(addrs);
        }
        let key = authority.as_str().to_owned();
        if let Some((at, addrs)) = self.known.lock().get(&key) {
            if at.elapsed() < RESOLVED_FOR {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        self.known
            .lock()
            .insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// One response (or network failure), with the headers that pace the next request.
pub struct Reply {
    /// 0 when no response came.
    pub status: u16,
    pub attempt: Attempt,
    pub retry_after: Option<String>,
    pub rate_limits: Option<String>,
}

pub fn post(agent: &Agent, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match request.send(body) {
        Err(e) => Reply {
            status: 0,
            attempt: Attempt::Retry {
                after: None,
                reason: network_reason(&e),
            },
            retry_after: None,
            rate_limits: None,
        },
        Ok(mut response) => {
            let status = response.status().as_u16();
            // Read the body so the connection goes back to the pool.
            let text = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after = header("retry-after");
            let after = retry_after
                .as_deref()
                .and_then(|h| parse_retry_after(h, SystemTime::now()));
            let body = match header("location") {
                Some(location) if (300..400).contains(&status) => {
                    format!("redirect to {}", crate::options::redact_url(&location))
                }
                _ => text.trim().to_owned(),
            };
            Reply {
                status,
                attempt: verdict(status, after, &body),
                retry_after,
                rate_limits: header("x-sentry-rate-limits"),
            }
        }
    }
}

/// A network failure in words, starting with `connection refused` (nothing listens at that
/// address) or `host not found` (the name does not exist) when it is one of those, which no
/// amount of waiting for an answer changes. The event is retried all the same (a server may
/// come up, a name be added); `doctor` reads these words in the audit trail to report such a
/// failure at once rather than wait out its timeout.
fn network_reason(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Io(io) if unknown_name(&io.to_string()) => format!("host not found ({io})"),
        other => other.to_string(),
    }
}

/// Whether a failed lookup says the name does not exist (glibc, musl, macOS, Windows), rather
/// than that the lookup itself failed ("Temporary failure in name resolution"), which a retry
/// may mend.
fn unknown_name(text: &str) -> bool {
    text.starts_with("failed to lookup address information")
        && [
            "Name or service not known",
            "No address associated with hostname",
            "nodename nor servname provided",
            "Name does not resolve",
            "No such host is known",
        ]
        .iter()
        .any(|certain| text.contains(certain))
}

/// The longest any server may hold delivery back, whatever it asks (`Retry-After: 1e20`):
/// events wait, so a hostile or broken answer must not stop them for longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// A server-given number of seconds as a wait, within `MAX_WAIT`; `None` when it is not a
/// number of seconds at all.
pub fn seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.ceil().min(MAX_WAIT.as_secs_f64())))
}

/// `Retry-After` in seconds or as an HTTP date, within `MAX_WAIT`.
pub fn parse_retry_after(header: &str, now: SystemTime) -> Option<Duration> {
    let header = header.trim();
    if header.parse::<f64>().is_ok() {
        return seconds(header);
    }
    let at = httpdate::parse_http_date(header).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

fn verdict(status: u16, retry_after: Option<Duration>, body: &str) -> Attempt {
    let reason = || {
        format!(
            "HTTP {status} {}",
            body.chars().take(200).collect::<String>()
        )
    };
    match status {
        200..=299 => Attempt::Delivered,
        // A 3xx too: the ingest is behind a proxy that moved, and the event is still owed.
        300..=399 | 429 | 408 | 500..=599 => Attempt::Retry {
            after: retry_after,
            reason: reason(),
        },
        _ => Attempt::Rejected(reason()),
    }
}

/// Exponential backoff from 500 ms, capped at a minute, with ±25% jitter so that many
/// senders do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(7)).min(60_000);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 500) as u64; // 0..500 of every 1000
    Duration::from_millis(base * (750 + jitter) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(200, None, ""), Attempt::Delivered);
        assert!(
            matches!(verdict(429, Some(Duration::from_secs(3)), ""), Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(3))
        );
        assert!(matches!(verdict(503, None, ""), Attempt::Retry { .. }));
        assert!(matches!(verdict(400, None, "bad"), Attempt::Rejected(r) if r.contains("400")));
        assert!(matches!(verdict(413, None, ""), Attempt::Rejected(_)));
        assert!(matches!(
            verdict(301, None, "redirect to https://x/"),
            Attempt::Retry { .. }
        ));
    }

    #[test]
    fn absurd_waits_are_capped_at_a_day() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("1e20", now), Some(MAX_WAIT));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn an_address_needs_no_lookup_and_a_name_is_looked_up_once() {
        let resolver = CachingResolver::default();
        let config = Config::default();
        let resolve = |url: &str| {
            let uri: Uri = url.parse().unwrap();
            resolver
                .resolve(
                    &uri,
                    &config,
                    NextTimeout {
                        after: ureq::unversioned::transport::time::Duration::from_secs(5),
                        reason: ureq::Timeout::Resolve,
                        per_read: None,
                        per_write: None,
                    },
                )
                .unwrap()
                .to_vec()
        };
        assert_eq!(
            resolve("http://127.0.0.1:9000/api/1/envelope/"),
            vec!["127.0.0.1:9000".parse().unwrap()]
        );
        assert_eq!(
            resolve("https://[::1]/x"),
            vec!["[::1]:443".parse().unwrap()]
        );
        assert!(
            resolver.known.lock().is_empty(),
            "addresses are not looked up"
        );
        let first = resolve("http://localhost:9000/");
        assert!(!first.is_empty());
        assert_eq!(resolver.known.lock().len(), 1);
        // A name no lookup could answer resolves from what is remembered, while it is fresh.
        let remembered: std::net::SocketAddr = "192.0.2.7:9000".parse().unwrap();
        let mut addrs = resolver.empty();
        addrs.push(remembered);
        resolver
            .known
            .lock()
            .insert("sentry.invalid:9000".to_owned(), (Instant::now(), addrs));
        assert_eq!(
            resolve("http://sentry.invalid:9000/api/1/envelope/"),
            vec![remembered]
        );
    }

    #[test]
    fn refused_connections_and_unknown_hosts_say_so() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        }; // closed again: nothing listens there now
        let reply = post(&agent(1), &format!("http://127.0.0.1:{port}/x"), &[], b"{}");
        assert_eq!(reply.status, 0);
        assert!(
            matches!(&reply.attempt, Attempt::Retry { reason, .. } if reason == "connection refused"),
            "{:?}",
            reply.attempt
        );
        let lookup = |detail: &str| {
            network_reason(&ureq::Error::Io(std::io::Error::other(format!(
                "failed to lookup address information: {detail}"
            ))))
        };
        assert!(lookup("Name or service not known").starts_with("host not found ("));
        assert!(
            lookup("nodename nor servname provided, or not known").starts_with("host not found")
        );
        assert!(
            !lookup("Temporary failure in name resolution").starts_with("host not found"),
            "a lookup that may succeed later is not a missing host"
        );
        assert_eq!(network_reason(&ureq::Error::HostNotFound), "host not found");
        assert_eq!(
            network_reason(&ureq::Error::Timeout(ureq::Timeout::Connect)),
            ureq::Error::Timeout(ureq::Timeout::Connect).to_string()
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(625));
        assert!(backoff(3) >= Duration::from_millis(3000));
        assert!(backoff(30) <= Duration::from_secs(75));
    }
}
