//! What the user sets: the `Options` object `init` takes (its doc comments are what editors
//! show), each option's environment fallback, and validation that names the bad field.

use crate::filter::{self, Rule};

use crate::scrub::{ScrubConfig, MAX_MEMORY};
use napi_derive::napi;
use regex::Regex;
use sentry_types::protocol::v7::Url;
use sentry_types::Dsn;
use serde_json::{Map, Value};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Options for `init`. Every field is optional; the environment variable in brackets is read
/// when the field is absent.
#[napi(object)]
pub struct Options {
    /// Sentry DSN, e.g. `https://<key>@o0.ingest.sentry.io/<project>` [SENTRY_DSN].
    /// Without it (and without `legacyEndpoint`) events are kept in an outbox file under `dataDir`.
    pub dsn: Option<String>,
    /// Release this code belongs to, e.g. `my-app@1.4.2` or a commit SHA [SENTRY_RELEASE, then
    /// the commit SHA your CI or host sets (VERCEL_GIT_COMMIT_SHA, GITHUB_SHA, CI_COMMIT_SHA,
    /// SOURCE_VERSION …), then `name@version` from the package.json in the working directory].
    pub release: Option<String>,
    /// Deployment environment [SENTRY_ENVIRONMENT, then NODE_ENV, then `"production"`].
    pub environment: Option<String>,
    /// Name of this server or instance [the host name].
    pub server_name: Option<String>,
    /// Share of errors to send, from 0 to 1 (default 1: all). Dropped ones are counted in
    /// `stats().dropped`.
    pub sample_rate: Option<f64>,
    /// URL of the legacy capture-error endpoint, which receives JSON batches [CAPTURE_ERROR_URL].
    pub legacy_endpoint: Option<String>,
    /// Bearer token sent to the legacy endpoint [CAPTURE_ERROR_TOKEN].
    pub legacy_token: Option<String>,
    /// Request budget of the legacy endpoint (default 5). Each request carries every waiting
    /// error, so nothing is dropped when errors outnumber requests.
    pub legacy_max_requests_per_minute: Option<u32>,
    /// Folder for files the tracker keeps [ERROR_TRACKER_DIR, default `.error-tracker` in the
    /// working directory].
    pub data_dir: Option<String>,
    /// Log what the tracker does to stderr [ERROR_TRACKER_DEBUG=1].
    pub debug: Option<bool>,
    /// More to scrub, on top of the built-in policy (README, "What is scrubbed"). Scrubbing
    /// itself cannot be turned off.
    pub scrub: Option<ScrubOptions>,
    /// Secret key that pseudonymises `user.id` with HMAC-SHA256, so affected users can be
    /// counted without sending who they are [ERROR_TRACKER_USER_ID_SALT]. Without it the id is
    /// sent as given (after pattern scrubbing: an email as id becomes `[email]`).
    pub user_id_salt: Option<String>,
    /// Most bytes that events waiting for delivery may hold in memory (default 64 MiB). Past
    /// it they wait in the spool under `dataDir` instead; how many may wait is not limited
    /// [ERROR_TRACKER_MAX_QUEUE_MEMORY_BYTES].
    pub max_queue_memory_bytes: Option<f64>,
    /// Capture uncaught exceptions and unhandled promise rejections (level `fatal`) and write
    /// them to the spool before the process dies; Node's own behaviour (print, exit 1) is kept
    /// (default true).
    pub capture_uncaught: Option<bool>,
    /// Lines of source sent before and after each in-app frame's line, from 0 (none) to 5
    /// (the default), read on the worker from the source map or the file.
    pub context_lines: Option<u32>,
    /// Days the audit trail under `dataDir/audit/` keeps (default 400)
    /// [ERROR_TRACKER_AUDIT_RETENTION_DAYS].
    pub audit_retention_days: Option<u32>,
    /// How `handleTunnel` treats what browsers send (README, "Browser errors").
    pub tunnel: Option<TunnelOptions>,
    /// Folder of the browser's source maps that `error-tracker hide-sourcemaps` moved out of
    /// `.next/static` after `next build`; browser frames (`https://…/_next/static/…js`) are
    /// resolved through its index only [ERROR_TRACKER_SOURCEMAPS_DIR, default
    /// `.error-tracker/sourcemaps` in the working directory, where the command puts it when run
    /// in the project root].
    pub sourcemaps_dir: Option<String>,
    /// Errors not to send, Sentry's `ignoreErrors`: a string matches an error whose
    /// `Type: message` (or a message event's text) contains it; a RegExp matches where it finds
    /// a match (Rust `regex` syntax, flags `i`, `m`, `s`). Matched on the background thread and
    /// counted in `stats().ignored`, never dropped unseen.
    #[napi(ts_type = "Array<string | RegExp>")]
    pub ignore_errors: Option<Vec<serde_json::Value>>,
    /// The app runs behind a proxy you trust: the URL of an event's request takes its scheme
    /// and host from `X-Forwarded-Proto` and `X-Forwarded-Host` (default false: from the
    /// connection's `Host`) [ERROR_TRACKER_TRUST_PROXY=1].
    pub trust_proxy: Option<bool>,
    /// Which automatic breadcrumbs to record (each on by default).
    pub breadcrumbs: Option<BreadcrumbOptions>,
}

/// Limits of the browser tunnel, `handleTunnel`.
#[napi(object)]
pub struct TunnelOptions {
    /// Origins besides the app's own (the request's `Host`) whose pages may post, written as
    /// browsers send them: `"https://app.example.com"`. Others get 403.
    pub allowed_origins: Option<Vec<String>>,
    /// Largest envelope accepted, in bytes (default 262144, 256 KiB); larger ones get 413.
    pub max_envelope_bytes: Option<u32>,
    /// Envelopes one client may post per minute (default 60); past it, 429 with `Retry-After`
    /// and `X-Sentry-Rate-Limits`, so Sentry's browser SDK backs off.
    pub max_requests_per_minute: Option<u32>,
    /// Most bytes browser events may hold in the spool while they wait for delivery (default
    /// 16 MiB); past it, new ones get 429, so a flood cannot fill the disk. Server errors are
    /// never refused.
    pub max_spool_bytes: Option<f64>,
    /// Read the client's address (for the per-client limit) from the last `X-Forwarded-For`
    /// entry and accept `X-Forwarded-Host` as the app's host (default false). Turn it on only
    /// behind a proxy that sets those headers itself; the second argument of `handleTunnel`
    /// wins over both.
    pub trust_proxy: Option<bool>,
}

/// `tunnel` after defaults and validation.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// Each as `scheme://host[:port]`, lowercase.
    pub allowed_origins: Vec<String>,
    pub max_envelope_bytes: usize,
    pub max_requests_per_minute: u32,
    pub max_spool_bytes: u64,
    pub trust_proxy: bool,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            allowed_origins: Vec::new(),
            max_envelope_bytes: 256 * 1024,
            max_requests_per_minute: 60,
            max_spool_bytes: 16 * 1024 * 1024,
            trust_proxy: false,
        }
    }
}

/// Automatic breadcrumbs, recorded in the current request's scope (README, "Scopes and
/// breadcrumbs"). Set one to `false` to stop recording it.
#[napi(object)]
pub struct BreadcrumbOptions {
    /// `console.warn` and `console.error` messages.
    pub console: Option<bool>,
    /// Outgoing `fetch` requests: method, URL, status and duration.
    pub fetch: Option<bool>,
    /// Outgoing `http`/`https` client requests: method, URL, status and duration.
    pub http: Option<bool>,
}

/// Extra scrubbing rules.
#[napi(object)]
pub struct ScrubOptions {
    /// More keys whose values are personal, matched ignoring case and separators
    /// (`"customerRef"` also catches `customer_ref`). A leading or trailing `*` matches
    /// anything: `"*ref*"` is any key containing `ref`.
    pub keys: Option<Vec<String>>,
    /// More value patterns, as regular expression source (Rust `regex` syntax, e.g.
    /// `"CASE-\\d{6}"`); every match in every string becomes `[Filtered]`.
    pub patterns: Option<Vec<String>>,
    /// Seconds a value removed by key (or label) is remembered, so that later events lose it
    /// too, from 1 to 86400 (the default: a day). Only keyed hashes are kept, in memory.
    pub remember_seconds: Option<f64>,
}

/// Options after defaults, environment fallbacks and validation.
#[derive(Debug, Clone)]
pub struct Config {
    pub dsn: Option<Dsn>,
    pub release: Option<String>,
    pub environment: String,
    pub server_name: Option<String>,
    pub sample_rate: f64,
    pub legacy_endpoint: Option<Url>,
    pub legacy_token: Option<String>,
    pub legacy_max_requests_per_minute: u32,
    pub data_dir: PathBuf,
    /// `dataDir` came as an option: if events cannot be kept there, `init` throws.
    pub data_dir_given: bool,
    pub debug: bool,
    pub scrub: ScrubConfig,
    pub max_queue_memory_bytes: usize,
    pub audit_retention_days: u32,
    /// Where browser frames find their maps (`sourcemapsDir`).
    pub sourcemaps_dir: PathBuf,
    pub context_lines: usize,
    pub capture_uncaught: bool,
    pub tunnel: TunnelConfig,
    pub ignore_errors: Vec<Rule>,
    pub trust_proxy: bool,
    /// Malformed environment variables, each ignored as if unset (`stats().configErrors`).
    pub ignored: Vec<ConfigError>,
}

/// A bad option, named the way the user wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
    /// The environment variable the bad value came from; `None` when it was given in code.
    pub variable: Option<&'static str>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error-tracker: invalid option `{}`: {}",
            self.field, self.message
        )?;
        match self.variable {
            Some(var) => write!(f, " (from {var})"),
            None => Ok(()),
        }
    }
}

/// Each option: its JS name and its environment fallbacks, in order. The `Options` struct
/// above, `index.d.ts` and the README's options table must list the same names (and the
/// struct's doc comments and the table the same variables): `cargo test` fails when they
/// drift (`options_are_listed_alike_everywhere`), and when the reader below reads a name that
/// is not here or leaves one unread (`the_reader_reads_every_field_and_no_other`).
const FIELDS: &[(&str, &[&str])] = &[
    ("dsn", &["SENTRY_DSN"]),
    ("release", &["SENTRY_RELEASE"]),
    ("environment", &["SENTRY_ENVIRONMENT", "NODE_ENV"]),
    ("serverName", &[]),
    ("sampleRate", &[]),
    ("legacyEndpoint", &["CAPTURE_ERROR_URL"]),
    ("legacyToken", &["CAPTURE_ERROR_TOKEN"]),
    ("legacyMaxRequestsPerMinute", &[]),
    ("dataDir", &["ERROR_TRACKER_DIR"]),
    ("debug", &["ERROR_TRACKER_DEBUG"]),
    ("scrub", &[]),
    ("userIdSalt", &["ERROR_TRACKER_USER_ID_SALT"]),
    (
        "maxQueueMemoryBytes",
        &["ERROR_TRACKER_MAX_QUEUE_MEMORY_BYTES"],
    ),
    (
        "auditRetentionDays",
        &["ERROR_TRACKER_AUDIT_RETENTION_DAYS"],
    ),
    ("contextLines", &[]),
    ("captureUncaught", &[]),
    ("tunnel", &[]),
    ("sourcemapsDir", &[crate::sourcemaps::DIR_VARIABLE]),
    ("ignoreErrors", &[]),
    ("trustProxy", &["ERROR_TRACKER_TRUST_PROXY"]),
    ("breadcrumbs", &[]),
];

/// Variables that CI systems and hosts set to the commit being built or run, after
/// SENTRY_RELEASE, in the order they are tried (the list sentry-cli and Sentry's JavaScript SDK
/// use).
pub const COMMIT_VARIABLES: &[&str] = &[
    "VERCEL_GIT_COMMIT_SHA",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "CI_BUILD_REF",
    "SOURCE_VERSION",
    "HEROKU_SLUG_COMMIT",
    "HEROKU_TEST_RUN_COMMIT_VERSION",
    "COMMIT_REF",
    "CF_PAGES_COMMIT_SHA",
    "RENDER_GIT_COMMIT",
    "RAILWAY_GIT_COMMIT_SHA",
    "CIRCLE_SHA1",
    "BITBUCKET_COMMIT",
    "BUILDKITE_COMMIT",
    "DRONE_COMMIT_SHA",
    "TRAVIS_PULL_REQUEST_SHA",
    "TRAVIS_COMMIT",
    "APPVEYOR_REPO_COMMIT",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "AWS_COMMIT_ID",
    "BUILD_SOURCEVERSION",
    "GIT_CLONE_COMMIT_HASH",
    "BUDDY_EXECUTION_REVISION",
    "CIRRUS_CHANGE_IN_REPO",
    "CF_REVISION",
    "CM_COMMIT",
    "FC_GIT_COMMIT_SHA",
    "SEMAPHORE_GIT_SHA",
    "ZEIT_GITHUB_COMMIT_SHA",
];

/// The release when neither the option nor SENTRY_RELEASE gives one: a commit SHA from the
/// environment, else `name@version` from `cwd/package.json`.
fn default_release(env: impl Fn(&str) -> Option<String>, cwd: &std::path::Path) -> Option<String> {
    COMMIT_VARIABLES
        .iter()
        .find_map(|var| {
            env(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
        .or_else(|| {
            let text = std::fs::read_to_string(cwd.join("package.json")).ok()?;
            let package: Value = serde_json::from_str(&text).ok()?;
            let name = package.get("name")?.as_str()?;
            let version = package.get("version")?.as_str()?;
            // Sentry refuses `/` in a release, and scoped package names have one.
            Some(format!("{}@{version}", name.replace(['/', '\\'], "-")))
        })
}

/// Sentry's rules for a release name; it drops a release that breaks them.
fn check_release(release: &str) -> Result<(), String> {
    if release.is_empty() || release == "." || release == ".." || release.chars().count() > 200 {
        return Err(format!("{release:?} is not a usable release name"));
    }
    match release
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '\n' | '\r' | '\t'))
    {
        Some(c) => Err(format!("a release may not contain {c:?}")),
        None => Ok(()),
    }
}

/// Where a value came from, so an error can say "from SENTRY_DSN".
enum Source<'a> {
    Option(&'a Value),
    Env(&'static str, String),
}

struct Reader<'a, E> {
    options: &'a Map<String, Value>,
    env: E,
    ignore: &'a [String],
}

#[cfg(test)]
thread_local! {
    /// The fields `Reader::source` was asked for, so a test can hold the reader to `FIELDS`.
    static READ: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<E: Fn(&str) -> Option<String>> Reader<'_, E> {
    fn source(&self, field: &'static str) -> Option<Source<'_>> {
        #[cfg(test)]
        READ.with(|read| read.borrow_mut().push(field));
        let declared = FIELDS.iter().find(|(f, _)| *f == field);
        debug_assert!(declared.is_some(), "`{field}` is read but not in FIELDS");
        if self.ignore.iter().any(|f| f == field) {
            return None;
        }
        match self.options.get(field) {
            Some(Value::Null) | Some(Value::String(_)) if is_blank(self.options.get(field)) => None,
            Some(v) => Some(Source::Option(v)),
            None => {
                let vars = declared.map_or(&[][..], |f| f.1);
                vars.iter().find_map(|var| {
                    (self.env)(var)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| Source::Env(var, v))
                })
            }
        }
    }

    fn string(&self, field: &'static str) -> Result<Option<String>, ConfigError> {
        match self.source(field) {
            None => Ok(None),
            Some(Source::Env(_, v)) => Ok(Some(v)),
            Some(Source::Option(Value::String(s))) => Ok(Some(s.clone())),
            Some(Source::Option(v)) => {
                Err(bad(field, format!("expected a string, got {}", kind(v))))
            }
        }
    }

    /// The environment variable `field` is read from, if it is not given as an option.
    fn variable(&self, field: &'static str) -> Option<&'static str> {
        match self.source(field) {
            Some(Source::Env(var, _)) => Some(var),
            _ => None,
        }
    }

    /// An error about `field`'s value, saying where the value came from.
    fn bad(&self, field: &'static str, message: String) -> ConfigError {
        ConfigError {
            variable: self.variable(field),
            ..bad(field, message)
        }
    }

    /// A string option parsed by `parse`, with errors that say where the value came from.
    fn parsed<T>(
        &self,
        field: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.string(field)? {
            None => Ok(None),
            Some(s) => parse(s.trim()).map(Some).map_err(|e| self.bad(field, e)),
        }
    }

    fn number(&self, field: &'static str) -> Result<Option<f64>, ConfigError> {
        match self.source(field) {
            None => Ok(None),
            Some(Source::Option(Value::Number(n))) => Ok(n.as_f64()),
            Some(Source::Option(v)) => {
                Err(bad(field, format!("expected a number, got {}", kind(v))))
            }
            Some(Source::Env(_, v)) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad(field, "expected a number".to_owned())),
        }
    }

    /// A number option, `default` when unset, that must pass `check`.
    fn number_where(
        &self,
        field: &'static str,
        default: f64,
        check: impl Fn(f64) -> Result<(), String>,
    ) -> Result<f64, ConfigError> {
        let n = self.number(field)?.unwrap_or(default);
        check(n).map(|()| n).map_err(|e| self.bad(field, e))
    }

    fn boolean(&self, field: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.source(field) {
            None => Ok(None),
            Some(Source::Option(Value::Bool(b))) => Ok(Some(*b)),
            Some(Source::Option(v)) => {
                Err(bad(field, format!("expected a boolean, got {}", kind(v))))
            }
            Some(Source::Env(_, v)) => Ok(Some(matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            ))),
        }
    }
}

impl Config {
    /// Resolves `options` (the JS object `init` got, or null) against `env`, failing on a
    /// malformed environment variable too (`init` uses `resolve_lenient`).
    #[cfg(test)]
    pub fn resolve(
        options: &Value,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::resolve_ignoring(options, env, &[])
    }

    /// Like `resolve`, but treats the fields in `ignore` as unset: the zero-config path uses it
    /// to carry on without a malformed environment variable rather than fail a `trackError`.
    pub fn resolve_ignoring(
        options: &Value,
        env: impl Fn(&str) -> Option<String>,
        ignore: &[String],
    ) -> Result<Config, ConfigError> {
        let empty = Map::new();
        let options = match options {
            Value::Object(map) => map,
            Value::Null => &empty,
            v => {
                return Err(bad(
                    "options",
                    format!("expected an object, got {}", kind(v)),
                ))
            }
        };
        if let Some(unknown) = options.keys().find(|k| !FIELDS.iter().any(|(f, _)| f == k)) {
            let known: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
            return Err(bad(
                unknown.as_str(),
                format!("unknown option (known: {})", known.join(", ")),
            ));
        }
        let r = Reader {
            options,
            env,
            ignore,
        };

        let sample_rate = r.number_where("sampleRate", 1.0, |n| {
            check((0.0..=1.0).contains(&n), || {
                format!("must be between 0 and 1, got {n}")
            })
        })?;
        let budget = r.number_where("legacyMaxRequestsPerMinute", 5.0, |n| {
            check(n >= 1.0 && n.fract() == 0.0 && n <= u32::MAX as f64, || {
                format!("must be a whole number of at least 1, got {n}")
            })
        })?;
        let memory = r.number_where("maxQueueMemoryBytes", 64.0 * 1024.0 * 1024.0, |n| {
            check(
                n >= 0.0 && n.fract() == 0.0 && n <= usize::MAX as f64,
                || format!("must be a whole number of bytes, got {n}"),
            )
        })?;
        let retention = r.number_where("auditRetentionDays", 400.0, |n| {
            check(n >= 1.0 && n.fract() == 0.0 && n <= 100_000.0, || {
                format!("must be a whole number of days, at least 1, got {n}")
            })
        })?;
        let context_lines = r.number_where("contextLines", 5.0, |n| {
            check((0.0..=5.0).contains(&n) && n.fract() == 0.0, || {
                format!("must be a whole number from 0 to 5, got {n}")
            })
        })?;
        breadcrumb_options(option(&r, "breadcrumbs"))?;
        let data_dir_given = matches!(r.source("dataDir"), Some(Source::Option(_)));
        let data_dir = match r.string("dataDir")? {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir()
                .unwrap_or_else(|_| PathBuf::from("."))
                .join(".error-tracker"),
        };

        Ok(Config {
            dsn: r.parsed("dsn", parse_dsn)?,
            release: match r.parsed("release", |s| check_release(s).map(|()| s.to_owned()))? {
                Some(release) => Some(release),
                None => default_release(&r.env, &std::env::current_dir().unwrap_or_default())
                    .filter(|r| check_release(r).is_ok()),
            },
            environment: r
                .string("environment")?
                .unwrap_or_else(|| "production".to_owned()),
            server_name: r
                .string("serverName")?
                .or_else(|| gethostname::gethostname().into_string().ok()),
            sample_rate,
            legacy_endpoint: r.parsed("legacyEndpoint", parse_http_url)?,
            legacy_token: r.parsed("legacyToken", |t| {
                // It becomes a header: a CR or LF (or any control character) would fail
                // every request, forever, long after `init` said all was well.
                match t.chars().find(|c| c.is_control()) {
                    Some(c) => Err(format!("contains {c:?}, which an HTTP header cannot carry")),
                    None => Ok(t.to_owned()),
                }
            })?,
            legacy_max_requests_per_minute: budget as u32,
            data_dir,
            data_dir_given,
            debug: r.boolean("debug")?.unwrap_or(false),
            scrub: ScrubConfig {
                user_id_salt: r.string("userIdSalt")?,
                ..scrub_options(match r.source("scrub") {
                    Some(Source::Option(v)) => Some(v),
                    _ => None,
                })?
            },
            max_queue_memory_bytes: memory as usize,
            audit_retention_days: retention as u32,
            sourcemaps_dir: match r.string("sourcemapsDir")? {
                Some(dir) => PathBuf::from(dir),
                None => std::env::current_dir()
                    .unwrap_or_else(|_| PathBuf::from("."))
                    .join(crate::sourcemaps::DEFAULT_DIR),
            },
            context_lines: context_lines as usize,
            capture_uncaught: r.boolean("captureUncaught")?.unwrap_or(true),
            tunnel: tunnel_options(match r.source("tunnel") {
                Some(Source::Option(v)) => Some(v),
                _ => None,
            })?,
            ignore_errors: ignore_errors(option(&r, "ignoreErrors"))?,
            trust_proxy: r.boolean("trustProxy")?.unwrap_or(false),
            ignored: Vec::new(),
        })
    }

    /// Resolves like `resolve`, but a malformed environment variable is not an error: it is
    /// ignored as if unset and listed in `Config::ignored` (`configure` warns about it, and
    /// `stats().configErrors` reports it). A typo in the deployment's environment must not
    /// stop the app from starting; a malformed option given in code still fails, because
    /// that is a programming error the caller must hear of.
    pub fn resolve_lenient(
        options: &Value,
        env: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Config, ConfigError> {
        let mut ignored: Vec<ConfigError> = Vec::new();
        loop {
            let ignore: Vec<String> = ignored.iter().map(|e| e.field.clone()).collect();
            match Self::resolve_ignoring(options, env, &ignore) {
                Ok(config) => return Ok(Config { ignored, ..config }),
                Err(e) if e.variable.is_some() => ignored.push(e),
                Err(e) => return Err(e),
            }
        }
    }

    /// Resolves from the environment alone, as `resolve_lenient` does: the first
    /// `trackError` without `init` must not fail.
    pub fn from_env_lenient(env: impl Fn(&str) -> Option<String> + Copy) -> Config {
        // Without options every error comes from a variable, and each is ignored in turn; a
        // bug that broke that would cost the configuration, never the caller.
        Self::resolve_lenient(&Value::Null, env).unwrap_or_else(|e| {
            crate::log::warn(format_args!("{e}; using the defaults"));
            Self::resolve_lenient(&Value::Null, |_| None).expect("the defaults resolve")
        })
    }
}

/// A Sentry DSN that Sentry can use: `sentry_types` takes any project id, but Sentry's are
/// numbers, and an ingest answers a DSN with another id with 4xx for every event.
fn parse_dsn(s: &str) -> Result<Dsn, String> {
    if lacks_scheme(s) {
        // Not shown: the DSN's key is kept out of messages, as out of `configuration()`.
        return Err(
            "has no scheme: a DSN starts with https:// (or http://), e.g. \
                    https://<key>@o0.ingest.sentry.io/123"
                .to_owned(),
        );
    }
    let dsn = Dsn::from_str(s).map_err(|e| format!("not a valid Sentry DSN ({e})"))?;
    let id = dsn.project_id().value();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "not a valid Sentry DSN: the project id {id:?} is not a number (a DSN ends in \
             /<project id>, e.g. https://<key>@o0.ingest.sentry.io/123)"
        ));
    }
    Ok(dsn)
}

/// An http or https URL.
fn parse_http_url(s: &str) -> Result<Url, String> {
    if lacks_scheme(s) {
        // Without user info, which may hold a secret.
        return Err(format!(
            "has no scheme: write {}",
            redact_url(&format!("http://{s}"))
        ));
    }
    let url = Url::parse(s).map_err(|e| format!("not a valid URL ({e})"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("must be an http or https URL, not {other}:")),
    }
}

/// Whether `s` is a host and path written without `http://`: `localhost:8787/capture` parses
/// as a URL of scheme `localhost:` (followed by a port, which no scheme is), and
/// `127.0.0.1:8787/x` or `example.com/x` not at all; `mailto:x` does have a scheme.
fn lacks_scheme(s: &str) -> bool {
    if s.contains("://") {
        return false;
    }
    let is_scheme = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    };
    match s.split_once(':') {
        Some((scheme, rest))
            if is_scheme(scheme) && !rest.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            false
        }
        _ => Url::parse(&format!("http://{s}"))
            .is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())),
    }
}

/// `Ok` when `ok`, else the message `why` makes.
fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// `url` without its user info (`https://user:secret@host/` becomes `https://host/`), for
/// anything shown or logged. Text that is not a URL is shown as `[not a URL]`.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "[not a URL]".to_owned(),
    }
}

/// `null` and a blank string count as unset. (`{ dsn: undefined }` never gets here: the
/// snapshot leaves the property out, so the environment is read as for a missing option.)
fn is_blank(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

fn bad(field: impl Into<String>, message: String) -> ConfigError {
    ConfigError {
        field: field.into(),
        message,
        variable: None,
    }
}

/// `scrub: { keys, patterns }`, each entry checked and named (`scrub.patterns[1]`) when bad.
fn scrub_options(scrub: Option<&Value>) -> Result<ScrubConfig, ConfigError> {
    let scrub = match scrub {
        None | Some(Value::Null) => return Ok(ScrubConfig::default()),
        Some(v) if is_blank(Some(v)) => return Ok(ScrubConfig::default()),
        Some(Value::Object(map)) => map,
        Some(v) => return Err(bad("scrub", format!("expected an object, got {}", kind(v)))),
    };
    if let Some(unknown) = scrub
        .keys()
        .find(|k| !["keys", "patterns", "rememberSeconds"].contains(&k.as_str()))
    {
        return Err(bad(
            format!("scrub.{unknown}"),
            "unknown field (known: keys, patterns, rememberSeconds)".to_owned(),
        ));
    }
    let remember = match scrub.get("rememberSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n))
            if n.as_f64().is_some_and(|n| {
                n.fract() == 0.0 && (1.0..=MAX_MEMORY.as_secs_f64()).contains(&n)
            }) =>
        {
            n.as_f64().map(Duration::from_secs_f64)
        }
        Some(v) => {
            return Err(bad(
                "scrub.rememberSeconds",
                format!(
                    "expected a whole number of seconds from 1 to {}, got {}",
                    MAX_MEMORY.as_secs(),
                    match v {
                        Value::Number(n) => n.to_string(),
                        v => kind(v).to_owned(),
                    }
                ),
            ))
        }
    };
    let strings = |field: &str| -> Result<Vec<(String, String)>, ConfigError> {
        match scrub.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) if is_blank(Some(v)) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let name = format!("scrub.{field}[{i}]");
                    match item {
                        Value::String(s) if !s.trim().is_empty() => Ok((name, s.clone())),
                        v => Err(bad(
                            name,
                            format!("expected a non-empty string, got {}", kind(v)),
                        )),
                    }
                })
                .collect(),
            Some(v) => Err(bad(
                format!("scrub.{field}"),
                format!("expected an array of strings, got {}", kind(v)),
            )),
        }
    };
    let keys = strings("keys")?.into_iter().map(|(_, k)| k).collect();
    let patterns = strings("patterns")?
        .into_iter()
        .map(|(name, p)| {
            Regex::new(&p).map_err(|e| bad(name, format!("not a valid regular expression: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(ScrubConfig {
        keys,
        patterns,
        user_id_salt: None,
        remember,
    })
}

/// `tunnel: { allowedOrigins, maxEnvelopeBytes, … }`, each field checked and named
/// (`tunnel.allowedOrigins[0]`) when bad.
fn tunnel_options(tunnel: Option<&Value>) -> Result<TunnelConfig, ConfigError> {
    const KNOWN: &[&str] = &[
        "allowedOrigins",
        "maxEnvelopeBytes",
        "maxRequestsPerMinute",
        "maxSpoolBytes",
        "trustProxy",
    ];
    let mut out = TunnelConfig::default();
    let map = match tunnel {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(map)) => map,
        Some(v) => {
            return Err(bad(
                "tunnel",
                format!("expected an object, got {}", kind(v)),
            ))
        }
    };
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(
            format!("tunnel.{unknown}"),
            format!("unknown field (known: {})", KNOWN.join(", ")),
        ));
    }
    let whole = |field: &str, min: f64, max: f64| -> Result<Option<f64>, ConfigError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                check(n >= min && n <= max && n.fract() == 0.0, || {
                    format!("must be a whole number from {min} to {max}, got {n}")
                })
                .map(|()| Some(n))
                .map_err(|e| bad(format!("tunnel.{field}"), e))
            }
            Some(v) => Err(bad(
                format!("tunnel.{field}"),
                format!("expected a number, got {}", kind(v)),
            )),
        }
    };
    if let Some(n) = whole("maxEnvelopeBytes", 1024.0, 64.0 * 1024.0 * 1024.0)? {
        out.max_envelope_bytes = n as usize;
    }
    if let Some(n) = whole("maxRequestsPerMinute", 1.0, 1_000_000.0)? {
        out.max_requests_per_minute = n as u32;
    }
    if let Some(n) = whole("maxSpoolBytes", 0.0, 1e15)? {
        out.max_spool_bytes = n as u64;
    }
    match map.get("trustProxy") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.trust_proxy = *b,
        Some(v) => {
            return Err(bad(
                "tunnel.trustProxy",
                format!("expected a boolean, got {}", kind(v)),
            ))
        }
    }
    match map.get("allowedOrigins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let name = format!("tunnel.allowedOrigins[{i}]");
                let Value::String(s) = item else {
                    return Err(bad(name, format!("expected a string, got {}", kind(item))));
                };
                let origin = parse_http_url(s.trim())
                    .ok()
                    .filter(|u| u.path() == "/" && u.query().is_none() && u.username().is_empty())
                    .map(|u| u.origin().ascii_serialization())
                    .ok_or_else(|| {
                        bad(
                            name,
                            format!(
                                "{s:?} is not an origin: write scheme and host, with a port \
                                 if not the default, e.g. \"https://app.example.com\""
                            ),
                        )
                    })?;
                out.allowed_origins.push(origin);
            }
        }
        Some(v) => {
            return Err(bad(
                "tunnel.allowedOrigins",
                format!("expected an array of strings, got {}", kind(v)),
            ))
        }
    }
    Ok(out)
}

/// An option that has no environment variable, as given.
fn option<'a, E: Fn(&str) -> Option<String>>(
    r: &'a Reader<'_, E>,
    field: &'static str,
) -> Option<&'a Value> {
    match r.source(field) {
        Some(Source::Option(v)) => Some(v),
        _ => None,
    }
}

/// `ignoreErrors`: strings, and RegExps (`index.js` hands them over as `{ regex, flags }`),
/// each named (`ignoreErrors[1]`) when bad.
fn ignore_errors(value: Option<&Value>) -> Result<Vec<Rule>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(v) => {
            return Err(bad(
                "ignoreErrors",
                format!("expected an array of strings and RegExps, got {}", kind(v)),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = format!("ignoreErrors[{i}]");
            match item {
                Value::String(s) if !s.is_empty() => Ok(Rule::Contains(s.clone())),
                Value::Object(re) => {
                    let source = re.get("regex").and_then(Value::as_str);
                    let flags = re.get("flags").and_then(Value::as_str).unwrap_or("");
                    let Some(source) = source else {
                        return Err(bad(
                            name,
                            "expected a string or a RegExp, got an object".to_owned(),
                        ));
                    };
                    filter::regex(source, flags)
                        .map(Rule::Matches)
                        .map_err(|e| {
                            bad(
                                name,
                                format!("not a regular expression Rust's `regex` can run: {e}"),
                            )
                        })
                }
                v => Err(bad(
                    name,
                    format!("expected a non-empty string or a RegExp, got {}", kind(v)),
                )),
            }
        })
        .collect()
}

/// `breadcrumbs: { console, fetch, http }`: `index.js` applies them; checked here, so a typo
/// throws like any other option.
fn breadcrumb_options(value: Option<&Value>) -> Result<(), ConfigError> {
    const KINDS: &[&str] = &["console", "fetch", "http"];
    let map = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(map)) => map,
        Some(v) => {
            return Err(bad(
                "breadcrumbs",
                format!("expected an object, got {}", kind(v)),
            ))
        }
    };
    for (key, v) in map {
        if !KINDS.contains(&key.as_str()) {
            return Err(bad(
                format!("breadcrumbs.{key}"),
                format!("unknown field (known: {})", KINDS.join(", ")),
            ));
        }
        if !matches!(v, Value::Bool(_) | Value::Null) {
            return Err(bad(
                format!("breadcrumbs.{key}"),
                format!("expected a boolean, got {}", kind(v)),
            ));
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Copy {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn options_win_over_environment() {
        let c = Config::resolve(
            &json!({ "release": "a@1", "environment": "staging" }),
            env(&[("SENTRY_RELEASE", "b@2"), ("NODE_ENV", "development")]),
        )
        .unwrap();
        assert_eq!(c.release.as_deref(), Some("a@1"));
        assert_eq!(c.environment, "staging");
    }

    #[test]
    fn environment_falls_back_in_order() {
        let c = Config::resolve(&Value::Null, env(&[("NODE_ENV", "development")])).unwrap();
        assert_eq!(c.environment, "development");
        let c = Config::resolve(
            &Value::Null,
            env(&[("NODE_ENV", "development"), ("SENTRY_ENVIRONMENT", "qa")]),
        )
        .unwrap();
        assert_eq!(c.environment, "qa");
        let c = Config::resolve(&Value::Null, env(&[])).unwrap();
        assert_eq!(c.environment, "production");
        assert_eq!(c.sample_rate, 1.0);
        assert_eq!(c.legacy_max_requests_per_minute, 5);
        assert!(c.dsn.is_none() && c.legacy_endpoint.is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (json!({ "dsn": "not a dsn" }), "dsn"),
            (json!({ "dsn": 42 }), "dsn"),
            (json!({ "sampleRate": 1.5 }), "sampleRate"),
            (json!({ "sampleRate": "all" }), "sampleRate"),
            (json!({ "legacyEndpoint": "ftp://x/y" }), "legacyEndpoint"),
            (
                json!({ "legacyMaxRequestsPerMinute": 0 }),
                "legacyMaxRequestsPerMinute",
            ),
            (
                json!({ "legacyMaxRequestsPerMinute": 2.5 }),
                "legacyMaxRequestsPerMinute",
            ),
            (json!({ "debug": "yes" }), "debug"),
            (json!({ "release": "web/app@1" }), "release"),
            (json!({ "maxQueueMemoryBytes": -1 }), "maxQueueMemoryBytes"),
            (
                json!({ "maxQueueMemoryBytes": "lots" }),
                "maxQueueMemoryBytes",
            ),
            (json!({ "auditRetentionDays": 0 }), "auditRetentionDays"),
            (json!({ "contextLines": 6 }), "contextLines"),
            (json!({ "captureUncaught": "yes" }), "captureUncaught"),
            (json!({ "auditRetentionDays": 1.5 }), "auditRetentionDays"),
            (json!({ "legacyToken": "abc\r\nX-Evil: 1" }), "legacyToken"),
            (json!({ "legacyToken": "abc\ndef" }), "legacyToken"),
            (json!({ "sampelRate": 1 }), "sampelRate"),
            (json!({ "scrub": { "kyes": ["ref"] } }), "scrub.kyes"),
            (
                json!({ "scrub": { "rememberSeconds": 0 } }),
                "scrub.rememberSeconds",
            ),
            (
                json!({ "scrub": { "rememberSeconds": 86401 } }),
                "scrub.rememberSeconds",
            ),
            (
                json!({ "scrub": { "rememberSeconds": "1d" } }),
                "scrub.rememberSeconds",
            ),
            (json!({ "dsn": "http://abc@127.0.0.1:9/notanumber" }), "dsn"),
            (json!({ "dsn": "abc@127.0.0.1:9/1" }), "dsn"),
            (
                json!({ "legacyEndpoint": "localhost:8787/capture" }),
                "legacyEndpoint",
            ),
            (json!("dsn"), "options"),
        ];
        for (options, field) in cases {
            let err = Config::resolve(&options, env(&[])).unwrap_err();
            assert_eq!(err.field, field, "{options}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn bad_environment_variable_is_named_with_its_source() {
        let err = Config::resolve(&Value::Null, env(&[("SENTRY_DSN", "nope")])).unwrap_err();
        assert_eq!(err.field, "dsn");
        assert!(err.to_string().contains("SENTRY_DSN"), "{err}");
        let lenient = Config::from_env_lenient(env(&[
            ("SENTRY_DSN", "nope"),
            ("CAPTURE_ERROR_URL", "http://127.0.0.1:9/capture"),
        ]));
        assert!(lenient.dsn.is_none());
        assert!(lenient.legacy_endpoint.is_some());
    }

    #[test]
    fn unknown_options_name_themselves() {
        let err = Config::resolve(&json!({ "sampelRate": 1 }), env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "error-tracker: invalid option `sampelRate`: unknown option (known: {})",
                FIELDS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
            )
        );
    }

    #[test]
    fn lenient_resolution_ignores_bad_variables_but_not_bad_options() {
        let vars = env(&[
            ("SENTRY_DSN", "https://key@127.0.0.1:9"),
            ("CAPTURE_ERROR_URL", "http://127.0.0.1:9/capture"),
            ("ERROR_TRACKER_MAX_QUEUE_MEMORY_BYTES", "-5"),
            ("SENTRY_RELEASE", "web/app@1"),
        ]);
        let c = Config::resolve_lenient(&Value::Null, vars).unwrap();
        assert!(c.dsn.is_none());
        assert!(c.legacy_endpoint.is_some(), "the good variable is kept");
        assert_eq!(c.max_queue_memory_bytes, 64 * 1024 * 1024);
        let named: Vec<_> = c
            .ignored
            .iter()
            .map(|e| (e.field.as_str(), e.variable))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "maxQueueMemoryBytes",
                    Some("ERROR_TRACKER_MAX_QUEUE_MEMORY_BYTES")
                ),
                ("dsn", Some("SENTRY_DSN")),
                ("release", Some("SENTRY_RELEASE")),
            ]
        );
        assert!(
            c.ignored[0]
                .to_string()
                .ends_with("got -5 (from ERROR_TRACKER_MAX_QUEUE_MEMORY_BYTES)"),
            "{}",
            c.ignored[0]
        );
        // An option given in code wins over the variable and is held to the rules.
        let c = Config::resolve_lenient(&json!({ "dsn": "http://k@127.0.0.1:9/3" }), vars).unwrap();
        assert!(c.dsn.is_some());
        assert!(c.ignored.iter().all(|e| e.field != "dsn"));
        let err = Config::resolve_lenient(&json!({ "sampleRate": 2 }), vars).unwrap_err();
        assert_eq!((err.field.as_str(), err.variable), ("sampleRate", None));
        assert_eq!(
            Config::from_env_lenient(vars).ignored.len(),
            3,
            "zero-config ignores the same"
        );
    }

    #[test]
    fn urls_without_a_scheme_say_so() {
        let endpoint = |url: &'static str| {
            Config::resolve(&json!({ "legacyEndpoint": url }), env(&[]))
                .map(|c| c.legacy_endpoint.unwrap().to_string())
                .map_err(|e| e.message)
        };
        assert_eq!(
            endpoint("localhost:8787/capture").unwrap_err(),
            "has no scheme: write http://localhost:8787/capture"
        );
        assert_eq!(
            endpoint("127.0.0.1:8787/capture").unwrap_err(),
            "has no scheme: write http://127.0.0.1:8787/capture"
        );
        assert_eq!(
            endpoint("svc:s3cret@ingest.example/capture").unwrap_err(),
            "must be an http or https URL, not svc:"
        );
        assert_eq!(
            endpoint("ingest.example/capture").unwrap_err(),
            "has no scheme: write http://ingest.example/capture"
        );
        assert_eq!(
            endpoint("ftp://ingest.example/x").unwrap_err(),
            "must be an http or https URL, not ftp:"
        );
        assert_eq!(
            endpoint("https://ingest.example/capture").unwrap(),
            "https://ingest.example/capture"
        );
        let err =
            Config::resolve(&Value::Null, env(&[("SENTRY_DSN", "key@127.0.0.1:9/1")])).unwrap_err();
        assert!(err.message.starts_with("has no scheme"), "{err}");
        assert!(
            !err.to_string().contains("key@"),
            "the key is not shown: {err}"
        );
    }

    #[test]
    fn dsn_project_ids_are_numbers() {
        let err = Config::resolve(
            &Value::Null,
            env(&[("SENTRY_DSN", "http://abc@127.0.0.1:9/notanumber")]),
        )
        .unwrap_err();
        assert_eq!(err.field, "dsn");
        assert!(
            err.to_string()
                .contains("project id \"notanumber\" is not a number"),
            "{err}"
        );
        assert!(err.to_string().ends_with("(from SENTRY_DSN)"), "{err}");
        for good in [
            "http://abc@127.0.0.1:9/1",
            "https://k@o1.ingest.sentry.io/4507",
        ] {
            assert!(
                Config::resolve(&json!({ "dsn": good }), env(&[])).is_ok(),
                "{good}"
            );
        }
    }

    /// The `Options` struct (and so `index.d.ts`), `FIELDS` and the README's options table
    /// name the same options, and the struct's doc comments and the table name each option's
    /// variables: adding an option anywhere without the others fails here.
    #[test]
    fn options_are_listed_alike_everywhere() {
        use crate::listings::*;
        let mut names: Vec<String> = FIELDS.iter().map(|f| f.0.to_owned()).collect();
        names.sort();
        let source = struct_fields(include_str!("options.rs"), "Options");
        let mut in_struct: Vec<String> = source.iter().map(|f| f.0.clone()).collect();
        in_struct.sort();
        assert_eq!(
            in_struct, names,
            "`Options` (src/options.rs) against FIELDS"
        );
        let mut in_dts = ts_interface(INDEX_D_TS, "Options");
        in_dts.sort();
        assert_eq!(
            in_dts, names,
            "index.d.ts's `Options` against FIELDS: run `npm run build` to regenerate it"
        );
        for (name, doc) in &source {
            let vars = FIELDS.iter().find(|f| f.0 == name).unwrap().1;
            for var in vars {
                assert!(
                    doc.contains(var),
                    "the doc comment of `{name}` does not name {var}"
                );
            }
        }

        let rows = readme_table(README, "### Options and environment variables");
        let mut table: Vec<(String, Vec<String>)> = Vec::new();
        for row in rows {
            // `scrub.keys`, `scrub.patterns` is the one option `scrub`.
            let mut options: Vec<String> = row[0]
                .iter()
                .map(|n| n.split('.').next().unwrap().to_owned())
                .collect();
            options.dedup();
            let vars: Vec<String> = row[1]
                .iter()
                .filter(|v| {
                    // A variable's name; `1`/`true` in the same cell are values.
                    v.starts_with(|c: char| c.is_ascii_uppercase())
                        && v.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .cloned()
                .collect();
            assert_eq!(options.len(), 1, "one option per README row: {options:?}");
            table.push((options.remove(0), vars));
        }
        let fields: Vec<(String, Vec<String>)> = FIELDS
            .iter()
            .map(|(name, vars)| {
                (
                    name.to_string(),
                    vars.iter().map(|v| v.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            table, fields,
            "README's options table against FIELDS, in order"
        );
    }

    /// Every name in `FIELDS` is read by `resolve`, and no other (reading an undeclared name
    /// also trips a debug assertion in `Reader::source`).
    #[test]
    fn the_reader_reads_every_field_and_no_other() {
        READ.with(|read| read.borrow_mut().clear());
        Config::resolve(&Value::Null, env(&[])).unwrap();
        let mut read: Vec<&str> = READ.with(|read| read.borrow().clone());
        read.sort();
        read.dedup();
        let mut declared: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        declared.sort();
        assert_eq!(read, declared);
    }

    #[test]
    fn release_falls_back_to_a_commit_then_package_json() {
        let dir =
            std::env::temp_dir().join(format!("et-release-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(default_release(env(&[]), &dir), None);
        std::fs::write(
            dir.join("package.json"),
            r#"{"name":"screening","version":"1.4.2"}"#,
        )
        .unwrap();
        assert_eq!(
            default_release(env(&[]), &dir).as_deref(),
            Some("screening@1.4.2")
        );
        assert_eq!(
            default_release(
                env(&[("GITHUB_SHA", "abc123"), ("SOURCE_VERSION", "def456")]),
                &dir
            )
            .as_deref(),
            Some("abc123"),
            "a commit wins over package.json, and earlier variables over later ones"
        );
        assert_eq!(
            default_release(
                env(&[("VERCEL_GIT_COMMIT_SHA", " "), ("CI_COMMIT_SHA", "c0ffee")]),
                &dir
            )
            .as_deref(),
            Some("c0ffee"),
            "blank variables are skipped"
        );
        std::fs::remove_dir_all(dir).unwrap();
        let c = Config::resolve(
            &Value::Null,
            env(&[("SENTRY_RELEASE", "x@9"), ("GITHUB_SHA", "abc")]),
        )
        .unwrap();
        assert_eq!(
            c.release.as_deref(),
            Some("x@9"),
            "SENTRY_RELEASE wins over commits"
        );
    }

    #[test]
    fn urls_are_shown_without_user_info() {
        assert_eq!(
            redact_url("https://svc:Sup3rS3cret@ingest.example/capture?x=1"),
            "https://ingest.example/capture?x=1"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/a"), "http://127.0.0.1:9/a");
    }

    #[test]
    fn dsn_parses() {
        let c =
            Config::resolve(&json!({ "dsn": "http://abc@127.0.0.1:9000/42" }), env(&[])).unwrap();
        let dsn = c.dsn.unwrap();
        assert_eq!(dsn.public_key(), "abc");
        assert_eq!(dsn.project_id().to_string(), "42");
    }
}
