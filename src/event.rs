//! Stage 3c, on the worker: assemble the Sentry event from what was captured, the parsed
//! frames and the scope, in the protocol's own types (`sentry-types`).

use crate::capture::{Captured, Thrown};
use crate::options::Config;
use crate::sourcemaps::Resolver;
use crate::{scope, stack};
use sentry_types::protocol::v7::{
    ClientSdkInfo, Context, Event, Exception, Frame, Level, LogEntry, Map, Mechanism, OsContext,
    RuntimeContext, Stacktrace, Values,
};
use sentry_types::Uuid;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::time::SystemTime;

pub const SDK_NAME: &str = "calmony.error-tracker";

/// Facts about this process that every event carries, read once at init.
#[derive(Debug, Clone, Default)]
pub struct Host {
    pub node_version: Option<String>,
    pub os_name: String,
    pub os_version: Option<String>,
}

impl Host {
    pub fn detect(node_version: Option<String>) -> Host {
        let os_name = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "macOS",
            "windows" => "Windows",
            other => other,
        };
        Host {
            node_version,
            os_name: os_name.to_owned(),
            os_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_owned()),
        }
    }
}

/// What the calling thread stamped on the event, and the setup it was captured under.
pub struct Origin<'a> {
    pub event_id: Uuid,
    /// Source maps and context lines, shared by every event.
    pub resolver: &'a Resolver,
    pub timestamp: SystemTime,
    pub config: &'a Config,
    pub host: &'a Host,
}

/// A bundle that carries a Sentry debug id (`sentry-cli sourcemaps inject`), so Sentry can find
/// its uploaded source map and resolve frames on its side too. Sent as a `sourcemap` image in
/// the event's `debug_meta`, a type `sentry-types` does not model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMapImage {
    pub code_file: String,
    pub debug_id: String,
}

/// The event, and the bundles with Sentry debug ids its frames ran in (for `debug_meta`).
pub fn build(captured: &Captured, origin: &Origin<'_>) -> (Event<'static>, Vec<SourceMapImage>) {
    let mut debug_images = Vec::new();
    let scope = scope::parse(captured.scope.as_ref(), origin.config.trust_proxy);
    let config = origin.config;
    // Browser frames resolve through this setup's folder of hidden maps (`sourcemapsDir`).
    origin.resolver.set_sourcemaps_dir(&config.sourcemaps_dir);
    let mut event = Event {
        event_id: origin.event_id,
        timestamp: origin.timestamp,
        // Sentry's default for a message is `info`.
        level: scope.level.unwrap_or(if captured.message.is_some() {
            Level::Info
        } else {
            Level::Error
        }),
        logentry: captured.message.as_ref().map(|message| LogEntry {
            message: message.clone(),
            params: Vec::new(),
        }),
        platform: Cow::Borrowed("node"),
        release: config.release.clone().map(Cow::Owned),
        environment: Some(Cow::Owned(config.environment.clone())),
        server_name: config.server_name.clone().map(Cow::Owned),
        sdk: Some(Cow::Owned(ClientSdkInfo {
            name: SDK_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            integrations: Vec::new(),
            packages: Vec::new(),
        })),
        exception: Values {
            values: exceptions(
                captured,
                origin.resolver,
                config.context_lines,
                &mut debug_images,
            ),
        },
        user: scope.user,
        request: scope.request,
        tags: scope.tags,
        transaction: scope.transaction,
        breadcrumbs: Values {
            values: scope.breadcrumbs,
        },
        extra: extra(captured),
        contexts: contexts(captured, origin.host),
        ..Event::default()
    };
    for (name, value) in scope.contexts {
        if let Value::Object(map) = value {
            event
                .contexts
                .entry(name)
                .or_insert_with(|| Context::Other(map.into_iter().collect()));
        }
    }
    if let Some(fingerprint) = scope.fingerprint {
        event.fingerprint = Cow::Owned(fingerprint.into_iter().map(Cow::Owned).collect());
    }
    (event, debug_images)
}

/// Sentry lists chained exceptions oldest first: the deepest cause first, the thrown error last.
fn exceptions(
    captured: &Captured,
    resolver: &Resolver,
    context_lines: usize,
    debug_images: &mut Vec<SourceMapImage>,
) -> Vec<Exception> {
    captured
        .exceptions
        .iter()
        .rev()
        .map(|t| Exception {
            ty: t.ty.clone(),
            value: Some(t.message.clone()).filter(|m| !m.is_empty()),
            stacktrace: t
                .stack
                .as_deref()
                .map(|s| {
                    let mut frames = stack::parse(frames_part(s, t));
                    // Debug ids belong to the bundles the code ran in, before maps move frames.
                    for code_file in frames.iter().filter_map(|f| f.abs_path.as_ref()) {
                        if !debug_images.iter().any(|i| &i.code_file == code_file) {
                            if let Some(debug_id) = resolver.debug_id(code_file) {
                                debug_images.push(SourceMapImage {
                                    code_file: code_file.clone(),
                                    debug_id,
                                });
                            }
                        }
                    }
                    resolver.resolve(&mut frames);
                    for frame in frames.iter_mut() {
                        resolver.context_from_file(frame);
                        keep_context(frame, context_lines);
                    }
                    frames
                })
                .and_then(|frames| {
                    (!frames.is_empty()).then(|| Stacktrace {
                        frames,
                        ..Stacktrace::default()
                    })
                }),
            mechanism: Some(mechanism(t, captured.unhandled.as_deref())),
            ..Exception::default()
        })
        .collect()
}

/// Trims the resolver's context to the `contextLines` option (0: none).
pub fn keep_context(frame: &mut Frame, lines: usize) {
    if lines == 0 {
        frame.context_line = None;
    }
    let pre = frame.pre_context.len();
    frame.pre_context.drain(..pre.saturating_sub(lines));
    frame.post_context.truncate(lines);
}

/// The stack without its `Name: message` header, so that a message holding text shaped like
/// `    at x (/y.js:1:1)` (user input, say) cannot forge frames or steer grouping.
fn frames_part<'a>(stack: &'a str, t: &Thrown) -> &'a str {
    let shown = t.message.strip_suffix('…').unwrap_or(&t.message);
    if shown.is_empty() {
        return stack;
    }
    // The header comes first; the message starts within the first line's name prefix.
    let head = &stack[..stack.floor_char_boundary(shown.len() + 1024)];
    let Some(start) = head.find(shown) else {
        return stack;
    };
    stack.get(start + t.message_len..).unwrap_or(stack)
}

/// How the error was caught: `generic` for `trackError`, the handler's type when nobody
/// handled it, `chained` for what the thrown error links to.
fn mechanism(t: &Thrown, unhandled: Option<&str>) -> Mechanism {
    let mut data = Map::new();
    let ty = match &t.link {
        None => unhandled.unwrap_or("generic"),
        Some((_, source)) => {
            data.insert("source".to_owned(), Value::from(source.as_str()));
            "chained"
        }
    };
    Mechanism {
        ty: ty.to_owned(),
        handled: Some(unhandled.is_none()),
        synthetic: (!t.is_error).then_some(true),
        data,
        ..Mechanism::default()
    }
}

fn extra(captured: &Captured) -> Map<String, Value> {
    let mut extra = match &captured.context {
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        Some(other) => Map::from([("context".to_owned(), other.clone())]),
        None => Map::new(),
    };
    // A thrown non-Error (a plain object) is itself the data worth seeing.
    if let Some(thrown) = captured
        .exceptions
        .first()
        .filter(|t| !t.is_error && !t.props.is_empty())
    {
        extra.insert(
            "__serialized__".to_owned(),
            Value::Object(thrown.props.clone()),
        );
    }
    extra
}

fn contexts(captured: &Captured, host: &Host) -> Map<String, Context> {
    let mut contexts = Map::new();
    contexts.insert(
        "runtime".to_owned(),
        Context::Runtime(Box::new(RuntimeContext {
            name: Some("node".to_owned()),
            version: host.node_version.clone(),
            ..RuntimeContext::default()
        })),
    );
    contexts.insert(
        "os".to_owned(),
        Context::Os(Box::new(OsContext {
            name: Some(host.os_name.clone()),
            kernel_version: host.os_version.clone(),
            ..OsContext::default()
        })),
    );
    // An error's own properties (`code`, `status` …) under its type name, as Sentry's
    // ExtraErrorData integration does.
    for t in captured
        .exceptions
        .iter()
        .filter(|t| t.is_error && !t.props.is_empty())
    {
        let key = if contexts.contains_key(&t.ty) {
            format!("{} ({})", t.ty, contexts.len())
        } else {
            t.ty.clone()
        };
        contexts.insert(key, Context::Other(t.props.clone().into_iter().collect()));
    }
    contexts
}
