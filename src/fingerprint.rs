//! Stage 3b, on the worker: the grouping key, computed on resolved frames (after source maps),
//! before scrubbing. Two errors group together when they have the same exception type and pass
//! through the same in-app code: each in-app frame's file (relative to the working directory),
//! its original function name and the text of its line. Line numbers are left out, so an edit
//! above a throw does not split its group, and a minified and an unminified build of the same
//! code group together; the line's text keeps two throw sites in one function apart. Without
//! in-app frames, the message decides, with the parts that vary (numbers, hex, uuids, quoted
//! values) blanked. `scope.fingerprint` overrides it all, where `{{ default }}` stands for the
//! key computed here.

use regex::Regex;
use sentry_types::protocol::v7::{Event, Frame};
use std::sync::LazyLock;

pub fn of(event: &Event<'_>) -> String {
    let default = default(event);
    let custom = &event.fingerprint;
    if custom.iter().any(|p| p != "{{ default }}") {
        let mut h = Fnv::new();
        for part in custom.iter() {
            let part: &str = if part == "{{ default }}" {
                &default
            } else {
                part
            };
            h.write(part.as_bytes());
        }
        return h.hex();
    }
    default
}

fn default(event: &Event<'_>) -> String {
    let mut h = Fnv::new();
    let Some(main) = event.exception.values.last() else {
        // A message (`captureMessage`) groups by its text, as Sentry groups one.
        if let Some(entry) = &event.logentry {
            h.write(entry.message.as_bytes());
        }
        return h.hex();
    };
    h.write(main.ty.as_bytes());
    let in_app: Vec<&Frame> = main
        .stacktrace
        .iter()
        .flat_map(|st| st.frames.iter())
        .filter(|f| f.in_app == Some(true))
        .collect();
    if in_app.is_empty() {
        h.write(normalise(main.value.as_deref().unwrap_or("")).as_bytes());
    }
    for frame in in_app {
        h.write(file(frame).as_bytes());
        h.write(function(frame.function.as_deref().unwrap_or("?")).as_bytes());
        h.write(
            frame
                .context_line
                .as_deref()
                .unwrap_or("")
                .trim()
                .as_bytes(),
        );
    }
    h.hex()
}

/// The frame's file, relative to the working directory, so the same code deployed in two
/// directories groups together.
fn file(frame: &Frame) -> String {
    static CWD: LazyLock<Option<String>> = LazyLock::new(|| {
        std::env::current_dir()
            .ok()
            .map(|d| format!("{}/", d.to_string_lossy()))
    });
    let path = frame
        .filename
        .as_deref()
        .or(frame.abs_path.as_deref())
        .unwrap_or("?");
    let path = path.strip_prefix("file://").unwrap_or(path);
    match CWD.as_deref() {
        Some(cwd) => path.strip_prefix(cwd).unwrap_or(path).to_owned(),
        None => path.to_owned(),
    }
}

/// The function as written, without how V8 happened to reach it: `async `, `new `, a receiver
/// such as `Object.` or `Module.`, and an `[as alias]`.
fn function(name: &str) -> &str {
    let name = name.strip_prefix("async ").unwrap_or(name);
    let name = name.strip_prefix("new ").unwrap_or(name);
    let name = name.split(" [as ").next().unwrap_or(name);
    ["Object.", "Module.", "process.", "Timeout.", "Immediate."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name)
}

/// The message with what varies between occurrences blanked.
fn normalise(message: &str) -> String {
    static VARYING: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        [
            (r#""[^"]*"|'[^']*'|`[^`]*`"#, "<quoted>"),
            (
                r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
                "<uuid>",
            ),
            (
                r"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b",
                "<hex>",
            ),
            (r"\d+(?:\.\d+)?", "<n>"),
        ]
        .into_iter()
        .map(|(p, r)| (Regex::new(p).expect("the patterns compile"), r))
        .collect()
    });
    VARYING.iter().fold(message.to_owned(), |m, (re, with)| {
        re.replace_all(&m, *with).into_owned()
    })
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_types::protocol::v7::{Exception, Stacktrace, Values};
    use std::borrow::Cow;

    fn frame(file: &str, function: &str, line: u64, text: &str) -> Frame {
        Frame {
            filename: Some(file.into()),
            abs_path: Some(format!("/srv/app/{file}")),
            function: Some(function.into()),
            lineno: Some(line),
            context_line: Some(text.into()),
            in_app: Some(true),
            ..Frame::default()
        }
    }

    fn event(ty: &str, message: &str, frames: Vec<Frame>) -> Event<'static> {
        Event {
            exception: Values {
                values: vec![Exception {
                    ty: ty.into(),
                    value: Some(message.into()),
                    stacktrace: Some(Stacktrace {
                        frames,
                        ..Stacktrace::default()
                    }),
                    ..Exception::default()
                }],
            },
            ..Event::default()
        }
    }

    #[test]
    fn same_site_groups_whatever_the_line_number_message_or_receiver() {
        let a = event(
            "NotFound",
            "Order 123 not found",
            vec![
                frame(
                    "app/api/route.ts",
                    "Object.handler",
                    10,
                    "  return lookup(id);",
                ),
                frame(
                    "lib/orders.ts",
                    "lookup",
                    40,
                    "  throw new NotFound(`Order ${id} not found`);",
                ),
            ],
        );
        let b = event(
            "NotFound",
            "Order 456 not found",
            vec![
                frame(
                    "app/api/route.ts",
                    "async handler",
                    12,
                    "  return lookup(id);",
                ),
                frame(
                    "lib/orders.ts",
                    "lookup",
                    44,
                    "  throw new NotFound(`Order ${id} not found`);",
                ),
            ],
        );
        assert_eq!(of(&a), of(&b));
    }

    #[test]
    fn two_throw_sites_never_share_one() {
        let site = |text: &str| {
            of(&event(
                "Error",
                "x",
                vec![frame("lib/orders.ts", "lookup", 40, text)],
            ))
        };
        assert_ne!(
            site("  throw new Error('missing id');"),
            site("  throw new Error('bad id');")
        );
        let other_type = event(
            "TypeError",
            "x",
            vec![frame("lib/orders.ts", "lookup", 40, "t")],
        );
        assert_ne!(of(&other_type), site("t"));
    }

    #[test]
    fn without_in_app_frames_the_normalised_message_decides() {
        let no_frames = |m: &str| of(&event("Error", m, vec![]));
        assert_eq!(
            no_frames("Order 123 not found"),
            no_frames("Order 4567 not found")
        );
        assert_eq!(
            no_frames("user 'jane' missing from 0x1f3a list 550e8400-e29b-41d4-a716-446655440000"),
            no_frames("user 'bob' missing from 0xff list 123e4567-e89b-12d3-a456-426614174000")
        );
        assert_ne!(
            no_frames("Order 1 not found"),
            no_frames("User 1 not found")
        );
    }

    #[test]
    fn scope_fingerprint_overrides_and_can_extend_the_default() {
        let mut e = event("Error", "x", vec![]);
        let default = of(&e);
        e.fingerprint = Cow::Owned(vec!["payments".into()]);
        let custom = of(&e);
        assert_ne!(custom, default);
        e.fingerprint = Cow::Owned(vec!["{{ default }}".into(), "payments".into()]);
        assert_ne!(of(&e), custom);
        assert_ne!(of(&e), default);
    }
}
