//! The JS surface: thin `#[napi]` functions that convert arguments and hand off. The pipeline
//! they feed reads top to bottom: `capture` → `pipeline` → `worker` (`stack`, `event`,
//! `sourcemaps`, `fingerprint`, `scrub`) → `spool` → `sinks`.

mod audit;
mod buffer;
mod capture;
mod event;
mod exit;
mod files;
mod filter;
mod fingerprint;
mod groups;
mod in_app;
mod ledger;
#[cfg(test)]
mod listings;
mod log;
mod nextjs;
mod options;
mod pipeline;
mod scope;
pub mod scrub;
mod sessions;
mod setup;
mod sinks;
mod sourcemaps;
mod spool;
mod stack;
mod threads;
mod tunnel;
mod worker;

use capture::Js;
use ledger::{SinkKind, LEDGER};
use napi::bindgen_prelude::*;
use napi::{Env, JsValue, Task, Unknown};
use napi_derive::napi;
use options::Config;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

pub use options::{BreadcrumbOptions, Options, ScrubOptions, TunnelOptions};
pub use scope::Scope;

/// Configures the tracker. Options not given fall back to environment variables (see
/// `Options`). Calling it again reconfigures for errors captured afterwards; errors already
/// queued are still delivered where they were headed.
///
/// A malformed environment variable does not throw: it is ignored as if unset, with one
/// warning on stderr, and listed in `stats().configErrors`, so that a typo in the deployment
/// cannot stop the app from starting.
///
/// @throws {TypeError} when an option given here is malformed or unknown, or when `dataDir`
/// is given and events cannot be kept there; the message names the option.
#[napi(ts_args_type = "options?: Options")]
pub fn init(env: Env, options: Option<Unknown>) -> Result<()> {
    let js = Js::new(env.raw());
    let options = options.map_or(serde_json::Value::Null, |o| {
        capture::to_json(&js, o.value().value)
    });
    let host = event::Host::detect(js.node_version());
    match Config::resolve_lenient(&options, env_var).and_then(|c| pipeline::configure(c, host)) {
        Ok(_) => {
            exit::install(env.raw());
            Ok(())
        }
        Err(e) => {
            js.throw_type_error(&e.to_string());
            Err(Error::from_status(Status::PendingException))
        }
    }
}

/// Captures an error and returns its event id (32 lowercase hex characters), which you can
/// show the user or log to find the event in Sentry. Only copies the error here; parsing,
/// scrubbing and delivery happen on a background thread. Never throws.
///
/// The scope the event gets is the process-wide one, then the current request's, then
/// `withScope`'s, then `scope`. Next.js's control-flow throws (`redirect()`, `notFound()` …,
/// known by their `digest`) are not errors: they are not captured, and the id is `""`.
///
/// @param error anything that can be thrown: an `Error` (with `cause` chains and
///   `AggregateError`s), a string, a plain object, `null`…
/// @param context extra data about the error, sent as the event's `extra`.
/// @param scope user, tags, level, fingerprint, request and breadcrumbs, in Sentry's shapes.
#[napi(
    ts_args_type = "error: unknown, context?: Record<string, unknown> | null, scope?: Scope | null"
)]
pub fn track_error(
    env: Env,
    error: Unknown,
    context: Option<Unknown>,
    scope: Option<Unknown>,
) -> String {
    track(&env, |js| {
        capture::capture(
            js,
            error.value().value,
            context.map(|c| c.value().value),
            scope.map(|s| s.value().value),
        )
    })
}

/// `captureFields`, the native half of `trackError`'s fast path (`src/capture/fast.js`): the
/// fields the JS half read, as strings. A raw callback, because napi-rs's per-argument
/// conversion costs more than the whole copy; hidden from `index.d.ts`, it is no API.
#[napi(module_exports)]
pub fn exports(mut exports: Object, env: Env) -> Result<()> {
    let js = Js::new(env.raw());
    if let Some(f) = js.function(c"captureFields", capture_fields) {
        exports.set_named_property("captureFields", unsafe {
            Unknown::from_raw_unchecked(env.raw(), f)
        })?;
    }
    Ok(())
}

unsafe extern "C" fn capture_fields(
    env: napi::sys::napi_env,
    info: napi::sys::napi_callback_info,
) -> napi::sys::napi_value {
    let js = Js::new(env);
    // Without its arguments (never seen) it returns undefined, and the JS half falls back.
    js.args::<{ capture::FIELDS }>(info)
        .map(|args| track_id(&Env::from_raw(env), |js| capture::fields(js, args)))
        .and_then(|id| {
            js.string(
                id.simple()
                    .encode_lower(&mut sentry_types::Uuid::encode_buffer()),
            )
        })
        .unwrap_or(std::ptr::null_mut())
}

/// Next.js's `onRequestError` hook: export it from `instrumentation.ts` (see README). Captures
/// the error with the request (URL, method, headers, scrubbed) and the route (tags
/// `routePath`, `routeType`, `routerKind`, and the event's transaction). Returns the event id;
/// never throws.
#[napi(
    ts_args_type = "error: unknown, request?: { path?: string; method?: string; headers?: Record<string, string | string[] | undefined> } | null, context?: { routerKind?: string; routePath?: string; routeType?: string; renderSource?: string; revalidateReason?: string; renderType?: string } | null"
)]
pub fn on_request_error(
    env: Env,
    error: Unknown,
    request: Option<Unknown>,
    context: Option<Unknown>,
    ambient: Option<Unknown>,
) -> String {
    track(&env, |js| {
        let json = |v: Option<Unknown>| {
            v.map_or(serde_json::Value::Null, |v| {
                capture::to_json(js, v.value().value)
            })
        };
        let next = nextjs::scope(&json(request), &json(context));
        let mut captured = capture::capture(
            js,
            error.value().value,
            None,
            ambient.map(|a| a.value().value),
        );
        captured.scope = Some(scope::merge(captured.scope.take(), next));
        captured
    })
}

/// Sends a message event (Sentry's `logentry`, no exception, no stack), e.g. a warning worth
/// seeing in Sentry that is not an error. Returns the event id; never throws. Grouped by its
/// text, so put varying values in `scope` (tags, contexts), not in the message.
///
/// @param message the text (anything else is converted with `String()`).
/// @param level severity (default `"info"`).
/// @param scope user, tags and the rest, as for `trackError`.
#[napi(
    ts_args_type = "message: string, level?: 'fatal' | 'error' | 'warning' | 'log' | 'info' | 'debug' | null, scope?: Scope | null"
)]
pub fn capture_message(
    env: Env,
    message: Unknown,
    level: Option<Unknown>,
    scope: Option<Unknown>,
) -> String {
    track(&env, |js| {
        capture::message(
            js,
            message.value().value,
            level.map(|l| l.value().value),
            scope.map(|s| s.value().value),
        )
    })
}

/// Release-health counts from `src/capture/scope.js`, `[{ started, exited, errored, crashed }]`
/// (see `sessions.rs`). Not API.
#[napi(skip_typescript)]
pub fn record_sessions(env: Env, counts: Unknown) {
    let js = Js::new(env.raw());
    pipeline::track_sessions(&capture::to_json(&js, counts.value().value));
}

/// What to send a client whose request failed: a generic message and the event id, so support
/// can find the event from what the user saw, while no stack or detail reaches the client.
#[napi(object)]
pub struct ErrorBody {
    /// Always `"Internal server error"`.
    pub error: String,
    /// The event id of the captured error.
    pub request_id: String,
}

/// Captures `error` (with `extra` as its context) and returns the body to send the client:
/// `{ error: 'Internal server error', requestId }`. Never throws.
#[napi(ts_args_type = "error: unknown, extra?: Record<string, unknown> | null")]
pub fn error_response(
    env: Env,
    error: Unknown,
    extra: Option<Unknown>,
    ambient: Option<Unknown>,
) -> ErrorBody {
    ErrorBody {
        error: INTERNAL_ERROR.to_owned(),
        request_id: track_with_extra(&env, error, extra, ambient),
    }
}

/// Like `errorResponse`, as a ready `Response` for a route handler: status 500, that JSON body,
/// `Cache-Control: no-store`. Throws only where the runtime has no `Response` (Node < 18).
#[napi(
    ts_args_type = "error: unknown, extra?: Record<string, unknown> | null",
    ts_return_type = "Response"
)]
pub fn internal_server_error<'env>(
    env: &'env Env,
    error: Unknown<'env>,
    extra: Option<Unknown<'env>>,
    ambient: Option<Unknown<'env>>,
) -> Result<Unknown<'env>> {
    let request_id = track_with_extra(env, error, extra, ambient);
    let js = Js::new(env.raw());
    let body = serde_json::json!({ "error": INTERNAL_ERROR, "requestId": request_id });
    let init = serde_json::json!({ "status": 500, "headers": { "cache-control": "no-store" } });
    let response = (|| {
        let class = js.global(c"Response")?;
        js.call(
            class,
            c"json",
            &[js.parse_json(&body)?, js.parse_json(&init)?],
        )
    })();
    match response {
        Some(r) => unsafe { Unknown::from_napi_value(env.raw(), r) },
        None => Err(Error::from_reason(
            "error-tracker: this runtime has no Response; use errorResponse()",
        )),
    }
}

const INTERNAL_ERROR: &str = "Internal server error";

/// `ambient`: the scope `index.js` merged from the process-wide, request and `withScope`
/// scopes; not in `index.d.ts`.
fn track_with_extra(
    env: &Env,
    error: Unknown,
    extra: Option<Unknown>,
    ambient: Option<Unknown>,
) -> String {
    track(env, |js| {
        capture::capture(
            js,
            error.value().value,
            extra.map(|e| e.value().value),
            ambient.map(|a| a.value().value),
        )
    })
}

fn track(env: &Env, copy: impl FnOnce(&Js) -> capture::Captured) -> String {
    track_id(env, copy).simple().to_string()
}

fn track_id(env: &Env, copy: impl FnOnce(&Js) -> capture::Captured) -> sentry_types::Uuid {
    pipeline::track(env.raw(), copy)
}

/// `handleTunnel`'s first native half (`src/tunnel/handle.js`): what the request's head
/// decides. Returns `{ reply }` or `{ maxBytes }`. No API: `handleTunnel` is.
#[napi(skip_typescript)]
pub fn tunnel_check(env: Env, head: serde_json::Value) -> serde_json::Value {
    let head: tunnel::Head = serde_json::from_value(head).unwrap_or_default();
    let Some(setup) = pipeline::current_or_from_env(env.raw()) else {
        return serde_json::json!({ "reply": { "status": 503, "headers": {}, "body": "" } });
    };
    match tunnel::check(&head, &setup) {
        tunnel::Checked::Reply(reply) => serde_json::json!({ "reply": reply.to_json() }),
        tunnel::Checked::Read(max) => serde_json::json!({ "maxBytes": max }),
    }
}

/// `handleTunnel`'s second native half: the body, kept (on a libuv thread) before the
/// promise resolves with the reply, as JSON text. No API: `handleTunnel` is.
#[napi(skip_typescript)]
pub fn tunnel_accept(env: Env, body: Buffer) -> AsyncTask<Accept> {
    AsyncTask::new(Accept {
        body: body.to_vec(),
        setup: pipeline::current_or_from_env(env.raw()),
    })
}

pub struct Accept {
    body: Vec<u8>,
    setup: Option<std::sync::Arc<setup::Setup>>,
}

impl Task for Accept {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        let reply = match self.setup.take() {
            Some(setup) => tunnel::accept(&self.body, setup),
            None => tunnel::Reply {
                status: 503,
                headers: Vec::new(),
                body: String::new(),
            },
        };
        Ok(reply.to_json().to_string())
    }

    fn resolve(&mut self, _env: Env, reply: String) -> Result<String> {
        Ok(reply)
    }
}

/// Resolves `true` once every error captured before the call has reached every configured
/// sink (or failed there for good), `false` if `timeoutMs` (default 2000) passes first. The
/// event loop stays free while it waits.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn flush(timeout_ms: Option<f64>) -> AsyncTask<Wait> {
    AsyncTask::new(Wait {
        timeout: timeout(timeout_ms),
        close: false,
    })
}

/// Flushes like `flush`, then stops the tracker's senders. The tracker never keeps Node
/// alive, so the process exits by itself afterwards. A later `trackError` starts afresh
/// from the environment.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn close(timeout_ms: Option<f64>) -> AsyncTask<Wait> {
    AsyncTask::new(Wait {
        timeout: timeout(timeout_ms),
        close: true,
    })
}

/// Counters since the process started.
#[napi(object)]
pub struct Stats {
    /// Errors accepted by `trackError` (after sampling).
    pub captured: i64,
    /// Errors an earlier process captured and this one recovered from the spool to deliver.
    pub replayed: i64,
    /// Errors delivered, per sink.
    pub delivered: Delivered,
    /// Errors captured (or replayed) but not yet delivered everywhere.
    pub queued: i64,
    /// Errors in the spool under `dataDir` that some sink still has to get.
    pub spooled: i64,
    /// Errors waiting to be sent again after a failed attempt (once per sink).
    pub retrying: i64,
    /// Errors a sink refused for good (counted once per sink), also logged and audited.
    pub failed: i64,
    /// Errors left out by `sampleRate`.
    pub dropped: i64,
    /// Errors `ignoreErrors` matched: never sent, counted here.
    pub ignored: i64,
    /// While Sentry rate-limits errors: when the limit ends (milliseconds since the epoch);
    /// otherwise `null`.
    #[napi(ts_type = "number | null")]
    pub rate_limited_until: serde_json::Value,
    /// `delivered`, `failed` and `retrying` for each sink.
    pub sinks: SinkStats,
    /// Each group of errors (one fingerprint), most frequent first.
    pub groups: Vec<GroupStats>,
    /// Why events are not being kept under `dataDir` (no spool, outbox or audit trail, so an
    /// outage or a crash loses what waits), or `null` when they are.
    #[napi(ts_type = "string | null")]
    pub storage_error: serde_json::Value,
    /// Malformed environment variables the tracker ignores as if they were unset (each also
    /// warned about once on stderr); empty when there are none. Options given to `init` never
    /// appear here: a malformed one throws.
    #[napi(ts_type = "Array<ConfigError>")]
    pub config_errors: Vec<ConfigErrorStats>,
    /// The buffer between capture and the sinks (README, "Memory: one buffer, one cap").
    pub buffer: BufferStats,
    /// Per release, in the order first seen: its errors and the groups first seen in it
    /// (README, "Release health").
    pub releases: Vec<ReleaseStats>,
    /// Release-health reports (`sessions` envelopes, one a minute at most) Sentry accepted,
    /// and the browser sessions and client reports the tunnel passed on.
    pub sessions_sent: i64,
}

/// What one release did since the process started.
#[napi(object)]
pub struct ReleaseStats {
    pub release: String,
    /// Errors captured under it (after `ignoreErrors`).
    pub errors: i64,
    /// Fingerprints (as in `groups`) of the groups whose first event came from it: the
    /// errors it introduced.
    pub new_groups: Vec<String>,
}

/// A malformed environment variable, ignored as if unset until it is fixed.
#[napi(object, js_name = "ConfigError")]
pub struct ConfigErrorStats {
    /// The variable, e.g. `SENTRY_DSN`.
    pub variable: String,
    /// The option it stands in for, e.g. `dsn`.
    pub option: String,
    /// What is wrong with its value (the value itself is not repeated: it may be a secret).
    pub message: String,
}

/// What the buffer holds now.
#[napi(object)]
pub struct BufferStats {
    /// Bytes held in memory for errors that wait: raw captures and finished events.
    pub bytes: i64,
    /// `maxQueueMemoryBytes`, the most `bytes` may be.
    pub cap_bytes: i64,
    /// Captures past the cap, sealed in the spill file until the worker reads them back.
    pub spilled: i64,
}

/// One group of errors: the same fingerprint.
#[napi(object)]
pub struct GroupStats {
    pub fingerprint: String,
    /// "Type: message", scrubbed, from the group's first event.
    pub title: String,
    pub count: i64,
    /// Distinct `user.id`s (after pseudonymisation) the group's events carried: how many
    /// people it hit.
    pub users: i64,
    /// When it was first and last seen, in milliseconds since the epoch.
    pub first_seen: f64,
    pub last_seen: f64,
}

#[napi(object)]
pub struct Delivered {
    pub sentry: i64,
    pub legacy: i64,
    /// Written to the outbox file because no sink was configured.
    pub outbox: i64,
}

#[napi(object)]
pub struct SinkStats {
    pub sentry: SinkCounts,
    pub legacy: SinkCounts,
    pub outbox: SinkCounts,
}

#[napi(object)]
pub struct SinkCounts {
    pub delivered: i64,
    pub failed: i64,
    pub retrying: i64,
}

#[napi]
pub fn stats() -> Stats {
    let n = |v: u64| v as i64;
    let counts = |k: SinkKind| SinkCounts {
        delivered: n(LEDGER.delivered(k)),
        failed: n(LEDGER.failed_at(k)),
        retrying: n(LEDGER.retrying_at(k)),
    };
    let setup = pipeline::current();
    let limited = LEDGER.rate_limited_until_ms.load(Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Stats {
        captured: n(LEDGER.captured()),
        replayed: n(LEDGER.replayed.load(Relaxed)),
        delivered: Delivered {
            sentry: n(LEDGER.delivered(SinkKind::Sentry)),
            legacy: n(LEDGER.delivered(SinkKind::Legacy)),
            outbox: n(LEDGER.delivered(SinkKind::Outbox)),
        },
        queued: n(LEDGER.queued()),
        spooled: n(LEDGER.spooled.load(Relaxed)),
        retrying: n(LEDGER.retrying_total()),
        failed: n(LEDGER.failed_total()),
        dropped: n(LEDGER.dropped.load(Relaxed)),
        ignored: n(LEDGER.ignored.load(Relaxed)),
        rate_limited_until: if limited > now {
            serde_json::Value::from(limited)
        } else {
            serde_json::Value::Null
        },
        sinks: SinkStats {
            sentry: counts(SinkKind::Sentry),
            legacy: counts(SinkKind::Legacy),
            outbox: counts(SinkKind::Outbox),
        },
        buffer: BufferStats {
            bytes: n(buffer::BUFFER.held() as u64),
            cap_bytes: n(buffer::BUFFER.cap() as u64),
            spilled: n(buffer::BUFFER.spilled() as u64),
        },
        storage_error: setup
            .as_ref()
            .and_then(|s| s.durable.problem.clone())
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        config_errors: setup.as_ref().map_or_else(Vec::new, |s| {
            s.config
                .ignored
                .iter()
                .map(|e| ConfigErrorStats {
                    variable: e.variable.unwrap_or_default().to_owned(),
                    option: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect()
        }),
        releases: groups::releases(|r| ReleaseStats {
            release: r.release.clone(),
            errors: n(r.errors),
            new_groups: r.new_groups.clone(),
        }),
        sessions_sent: n(LEDGER.sessions_sent.load(Relaxed)),
        groups: groups::snapshot(|g| GroupStats {
            fingerprint: g.fingerprint.clone(),
            title: g.title.clone(),
            count: n(g.count),
            users: g.users() as i64,
            first_seen: g.first_seen_ms,
            last_seen: g.last_seen_ms,
        }),
    }
}

/// The configuration in force, as `init` (or the environment) resolved it; `null` before
/// either. Secrets (DSN key, legacy token, user id salt, a password in a URL) are not included.
#[napi(object)]
pub struct Configuration {
    /// The Sentry envelope endpoint events go to, if a DSN is set.
    pub sentry_endpoint: Option<String>,
    pub legacy_endpoint: Option<String>,
    pub data_dir: String,
    pub release: Option<String>,
    pub environment: String,
}

#[napi]
pub fn configuration() -> Option<Configuration> {
    pipeline::current().map(|setup| {
        let c = &setup.config;
        Configuration {
            sentry_endpoint: c.dsn.as_ref().map(|d| d.envelope_api_url().to_string()),
            legacy_endpoint: c
                .legacy_endpoint
                .as_ref()
                .map(|u| options::redact_url(u.as_str())),
            data_dir: c.data_dir.to_string_lossy().into_owned(),
            release: c.release.clone(),
            environment: c.environment.clone(),
        }
    })
}

/// Checks the audit trail in `auditDir` (`dataDir/audit`): every line's SHA-256, every link
/// from line to line and day to day from where retention left the chain, and that the files
/// are readable by their owner alone. `npx error-tracker audit verify` prints it.
#[napi(ts_return_type = "Promise<AuditVerification>")]
pub fn verify_audit_trail(audit_dir: String) -> AsyncTask<VerifyAudit> {
    AsyncTask::new(VerifyAudit(audit_dir.into()))
}

/// What `verifyAuditTrail` found.
#[napi(object)]
pub struct AuditVerification {
    /// `true` when every line follows from the one before and no problem was found.
    pub intact: bool,
    /// Day files checked.
    pub files: u32,
    /// Lines proven, up to the first broken one.
    pub lines: i64,
    /// SHA-256 of the last line proven. Keep it: a later check reaching the same hash shows
    /// nothing before it changed in between.
    pub head: String,
    /// The oldest and newest day file kept, `YYYY-MM-DD` (UTC).
    pub oldest_day: Option<String>,
    pub newest_day: Option<String>,
    /// The last day retention deleted and the hash it ended with (`anchor.json`).
    pub anchor: Option<AuditAnchor>,
    /// The first line that does not follow from the one before it.
    pub broken: Option<AuditBreak>,
    /// Other reasons the trail is not proven: files readable by others, unreadable files,
    /// lines written before the chain began.
    pub problems: Vec<String>,
    /// Lines at the start of the trail written by a version without the chain: not proven.
    pub unchained: i64,
}

#[napi(object)]
pub struct AuditAnchor {
    pub day: String,
    pub hash: String,
}

#[napi(object)]
pub struct AuditBreak {
    /// File name within the audit directory, e.g. `audit-2026-11-22.ndjson`.
    pub file: String,
    /// Line number, from 1.
    pub line: i64,
    pub reason: String,
}

pub struct VerifyAudit(std::path::PathBuf);

impl Task for VerifyAudit {
    type Output = audit::verify::Verification;
    type JsValue = AuditVerification;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(audit::verify::verify(&self.0))
    }

    fn resolve(&mut self, _env: Env, v: Self::Output) -> Result<AuditVerification> {
        Ok(AuditVerification {
            intact: v.intact(),
            files: v.files,
            lines: v.lines as i64,
            head: v.head,
            oldest_day: v.oldest_day,
            newest_day: v.newest_day,
            anchor: v.anchor.map(|a| AuditAnchor {
                day: a.day,
                hash: a.hash,
            }),
            broken: v.broken.map(|b| AuditBreak {
                file: b.file,
                line: b.line as i64,
                reason: b.reason,
            }),
            problems: v.problems,
            unchained: v.unchained as i64,
        })
    }
}

pub struct Wait {
    timeout: Duration,
    close: bool,
}

impl Task for Wait {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> Result<bool> {
        Ok(if self.close {
            pipeline::close(self.timeout)
        } else {
            pipeline::flush(self.timeout)
        })
    }

    fn resolve(&mut self, _env: Env, done: bool) -> Result<bool> {
        Ok(done)
    }
}

/// A wait in milliseconds as JS gives it: negative or NaN is no wait, and none is longer than
/// a day (`u32` would wrap -1 into 49 days).
fn timeout(ms: Option<f64>) -> Duration {
    let ms = ms.unwrap_or(2000.0);
    let ms = if ms.is_nan() {
        0.0
    } else {
        ms.clamp(0.0, 86_400_000.0)
    };
    Duration::from_millis(ms as u64)
}

/// For `npx error-tracker scrub`, not a stable API: scrubs `json` (an event, or any JSON) with
/// the policy `init(options)` would set (options not given fall back to the environment, as in
/// `init`) and returns, as JSON, `{ sent, _meta }`: what would be sent, and per path the rules
/// that removed something there.
///
/// @throws {TypeError} when `json` is not JSON, or an option is malformed.
#[napi(ts_args_type = "json: string, options?: Options")]
pub fn scrub_preview(env: Env, json: String, options: Option<Unknown>) -> Result<String> {
    let js = Js::new(env.raw());
    let options = options.map_or(serde_json::Value::Null, |o| {
        capture::to_json(&js, o.value().value)
    });
    let fail = |message: String| {
        js.throw_type_error(&message);
        Err(Error::from_status(Status::PendingException))
    };
    let document: serde_json::Value = match serde_json::from_str(&json) {
        Ok(doc) => doc,
        // serde's message says where (line, column) and what it expected, never the text.
        Err(e) => return fail(format!("`json` is not valid JSON: {e}")),
    };
    match Config::resolve_lenient(&options, env_var) {
        Ok(config) => Ok(scrub::preview::preview(&document, &config.scrub).to_string()),
        Err(e) => fail(e.to_string()),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
