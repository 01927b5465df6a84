//! Parsing of V8 `err.stack` strings into Sentry stack frames.
//!
//! The naming and `module` rules mirror the Sentry JavaScript SDK's Node parser
//! (`createStackParser(nodeStackLineParser(createGetModuleFromFilename()))`), from
//! getsentry/sentry-javascript:
//! - `packages/core/src/utils/node-stack-trace.ts` (`node()`),
//! - `packages/core/src/utils/stacktrace.ts` (`createStackParser`, `normalizeStackTracePath`),
//! - `packages/node-core/src/utils/module.ts` (`createGetModuleFromFilename`).
//!
//! `in_app` comes from [`crate::in_app`], the rule source-mapped frames follow too.
//!
//! Deliberate differences from the SDK are marked `DIFF:`; they fix cases where its single regex
//! misreads a line (eval frames, `:line` without column, Promise combinators) or follow this
//! crate's own conventions (a missing function is `None`, Sentry renders it as `?`).
//!
//! The parser is hand-written and linear in the input: no regex, no recursion.

use std::borrow::Cow;

use sentry_types::protocol::v7::Frame;

use crate::in_app::is_in_app;

/// Most frames kept from one stack: the ones nearest the throw site.
pub const MAX_FRAMES: usize = 200;

/// Most `eval at` origins unwrapped for one frame; V8 nests one per eval level.
const MAX_EVAL_DEPTH: usize = 32;

/// Parse a V8 `err.stack` string into Sentry frames, oldest call first and the throwing frame
/// last (Sentry's order).
///
/// Only lines made of leading whitespace, `at ` and a recognisable location are frames; the
/// header (`TypeError: message`, which may span several lines) and anything else is skipped.
/// At most [`MAX_FRAMES`] frames are kept: the first ones V8 prints, nearest the throw.
pub fn parse(stack: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = stack
        .lines()
        .filter_map(parse_line)
        .take(MAX_FRAMES)
        .collect();
    frames.reverse();
    frames
}

/// Where a frame's code lives, as printed between the parentheses (or after `at `).
#[derive(Debug, PartialEq)]
enum Location<'a> {
    /// A script path or URL, as printed (not yet converted from `file://`).
    File {
        path: &'a str,
        line: Option<u64>,
        col: Option<u64>,
    },
    /// A `data:` URL module; the SDK reports it as `<data:MIME>`.
    Data {
        mime: &'a str,
        line: Option<u64>,
        col: Option<u64>,
    },
    /// Built-in code with no location: `native`, `index N` (Promise.all and friends), or an
    /// eval whose origin is `unknown source`.
    Nowhere,
}

/// Counts the bytes the parser looks at, so that tests check it stays linear by the work it
/// does rather than by a clock. Each line is counted once for its passes from end to end
/// (trimming, finding every ` (`), and every other scan where it happens: those are the ones
/// that could be repeated per candidate location. A scan added to the parser must report here
/// too, or the test cannot see it. Compiled out of the library.
#[inline(always)]
fn scanned(_bytes: usize) {
    #[cfg(test)]
    tests::SCANNED.with(|n| n.set(n.get() + _bytes));
}

/// Parse one line of the stack; `None` when it is not a frame.
fn parse_line(line: &str) -> Option<Frame> {
    scanned(line.len());
    let trimmed = line.trim_start();
    // A frame is indented; an unindented "at ..." line belongs to the message.
    if trimmed.len() == line.len() {
        return None;
    }
    let body = trimmed.strip_prefix("at ")?.trim();
    let (function, location) = split_frame(body)?;
    Some(build_frame(function, location))
}

/// Split a frame body (the text after `at `) into the raw function name and its location.
fn split_frame(body: &str) -> Option<(Option<&str>, Location<'_>)> {
    // The SDK's regex skips `async ` (`at (?:async )?`); a function *named* `async` keeps it.
    let body = match body.strip_prefix("async ") {
        Some(rest) if !rest.starts_with('(') => rest,
        _ => body,
    };

    // `eval at f (/x.js:1:1), <anonymous>:1:5` printed without a function name.
    if body.starts_with("eval at ") {
        if let Some(loc) = parse_eval(body, split_position(body).path_end) {
            return Some((None, loc));
        }
    }

    if let Some(inner) = body.strip_suffix(')') {
        // `fn (location)`. The function and the path may both contain " (", so try each split
        // from the left and keep the first whose location is unambiguous (absolute path, URL,
        // eval origin, `<anonymous>`, `native`, `index N`). The position suffix is shared by
        // all candidates, so it is computed once; each candidate then costs O(1) (eval origins
        // excepted, and those are capped).
        let tail = split_position(inner);
        let mut last_open = None;
        for (i, _) in inner.match_indices(" (") {
            scanned(1);
            last_open = Some(i);
            let loc = &inner[i + 2..];
            if let Some(parsed) = parse_location(loc, &tail, i + 2) {
                return Some((non_empty(&inner[..i]), parsed));
            }
        }
        if let Some(unnamed) = inner.strip_prefix('(') {
            if let Some(parsed) = parse_location(unnamed, &tail, 1) {
                return Some((None, parsed));
            }
        }
        // A relative script name (`events.js:315:20`, `evalmachine.<anonymous>:1:16`) cannot
        // contain " (", so it can only follow the last one.
        if let Some(i) = last_open {
            if let Some(parsed) = relative_location(&inner[i + 2..]) {
                return Some((non_empty(&inner[..i]), parsed));
            }
        }
    }

    // Anonymous function: `at /x.js:1:2`, `at node:internal/main/run_main_module:28:49`.
    let tail = split_position(body);
    parse_location(body, &tail, 0)
        .or_else(|| relative_location(body))
        .map(|loc| (None, loc))
}

/// `s` split into path, line and column by peeling `:digits` off its end, at most twice.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// Byte index in `s` where the `:line[:col]` suffix starts (`s.len()` when there is none).
    path_end: usize,
    line: Option<u64>,
    col: Option<u64>,
}

fn split_position(s: &str) -> Position {
    let Some((rest, last)) = split_trailing_number(s) else {
        return Position {
            path_end: s.len(),
            line: None,
            col: None,
        };
    };
    match split_trailing_number(rest) {
        Some((path, line)) => Position {
            path_end: path.len(),
            line: Some(line),
            col: Some(last),
        },
        None => Position {
            path_end: rest.len(),
            line: Some(last),
            col: None,
        },
    }
}

/// `("x.js:10", 5)` from `"x.js:10:5"`; scans only the trailing digits.
fn split_trailing_number(s: &str) -> Option<(&str, u64)> {
    let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
    scanned(digits + 1);
    if digits == 0 || digits == s.len() {
        return None;
    }
    let colon = s.len() - digits - 1;
    if s.as_bytes().get(colon) != Some(&b':') {
        return None;
    }
    let n = s[colon + 1..].parse().ok()?;
    Some((&s[..colon], n))
}

/// Parse an unambiguous location. `loc` is `whole[offset..]` where `tail` is the position
/// suffix of `whole`, shared by every candidate `loc` cut from it.
fn parse_location<'a>(loc: &'a str, tail: &Position, offset: usize) -> Option<Location<'a>> {
    if loc == "native" {
        return Some(Location::Nowhere);
    }
    if let Some(n) = loc.strip_prefix("index ") {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Location::Nowhere);
        }
    }
    if loc.starts_with("eval at ") {
        // The position suffix is the line's, already split off: splitting it again here, for
        // every candidate, made a line of `(eval at` candidates ending in a long run of digits
        // quadratic.
        return parse_eval(loc, tail.path_end.checked_sub(offset)?);
    }
    if let Some(data) = loc.strip_prefix("data:") {
        // The SDK keeps only the media type (`data:(.*?),`); the payload may hold anything.
        let comma = data.bytes().take(128).position(|b| b == b',');
        scanned(comma.map_or(data.len().min(128), |c| c + 1));
        let mime = comma.map_or("", |comma| &data[..comma]);
        let (line, col) = if tail.path_end > offset {
            (tail.line, tail.col)
        } else {
            (None, None)
        };
        return Some(Location::Data { mime, line, col });
    }
    let path_len = tail.path_end.checked_sub(offset)?;
    let path = &loc[..path_len];
    if is_absolute_location(path) {
        return Some(Location::File {
            path,
            line: tail.line,
            col: tail.col,
        });
    }
    None
}

/// A bare relative script name with a line number: `events.js:315:20`.
fn relative_location(loc: &str) -> Option<Location<'_>> {
    let pos = split_position(loc);
    let path = &loc[..pos.path_end];
    if pos.line.is_none() || path.is_empty() || path.contains(char::is_whitespace) {
        return None;
    }
    Some(Location::File {
        path,
        line: pos.line,
        col: pos.col,
    })
}

/// Unwrap `eval at f (eval at g (/x.js:1:2)), <anonymous>:3:4` to its innermost origin,
/// `/x.js:1:2`: that is a real place in a real file. The `<anonymous>:3:4` position is in the
/// evaluated string, so it is dropped rather than presented as a line of `/x.js`.
/// `path_end` is where `loc`'s `:line[:col]` suffix starts (`split_position(loc).path_end`).
fn parse_eval(loc: &str, path_end: usize) -> Option<Location<'_>> {
    // V8 appends `, <anonymous>[:line[:col]]` to the outermost origin only.
    let mut s = loc[..path_end].strip_suffix(", <anonymous>").unwrap_or(loc);
    for _ in 0..MAX_EVAL_DEPTH {
        let rest = s.strip_prefix("eval at ")?;
        let open = if rest.starts_with('(') {
            0
        } else {
            let space = rest.find(" (");
            scanned(space.map_or(rest.len(), |i| i + 2));
            space? + 1
        };
        let origin = rest[open + 1..].strip_suffix(')')?;
        if origin.starts_with("eval at ") {
            s = origin;
            continue;
        }
        if origin == "unknown source" {
            return Some(Location::Nowhere);
        }
        let pos = split_position(origin);
        let path = &origin[..pos.path_end];
        if path.is_empty() {
            return None;
        }
        return Some(Location::File {
            path,
            line: pos.line,
            col: pos.col,
        });
    }
    None
}

/// A location that cannot be confused with the end of a function name.
fn is_absolute_location(path: &str) -> bool {
    path.starts_with('/')
        || path.starts_with('\\')
        || path.starts_with('.')
        || path.starts_with("<anonymous>")
        || path.starts_with("node:")
        || has_drive_letter(path)
        || has_url_authority(path)
}

/// `C:\...` or `C:/...`.
pub(crate) fn has_drive_letter(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// `scheme://...`, with the scheme syntax the SDK's `filenameIsInApp` uses. Scans only the
/// scheme, so trying many candidate locations of one line stays linear.
pub(crate) fn has_url_authority(p: &str) -> bool {
    let b = p.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let scheme_len = b
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        .count();
    scanned(scheme_len + 1);
    b[scheme_len..].starts_with(b"://")
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn build_frame(raw_function: Option<&str>, location: Location<'_>) -> Frame {
    let function = raw_function.and_then(function_name);
    match location {
        Location::File { path, line, col } => {
            let (abs_path, module_source) = normalize_path(path);
            Frame {
                function,
                module: module_name(module_source),
                in_app: Some(is_in_app(&abs_path)),
                filename: Some(abs_path.clone()),
                abs_path: Some(abs_path),
                lineno: line,
                colno: col,
                ..Frame::default()
            }
        }
        Location::Data { mime, line, col } => {
            let name = format!("<data:{mime}>");
            Frame {
                function,
                in_app: Some(false),
                filename: Some(name.clone()),
                abs_path: Some(name),
                lineno: line,
                colno: col,
                ..Frame::default()
            }
        }
        Location::Nowhere => Frame {
            function,
            in_app: Some(false),
            ..Frame::default()
        },
    }
}

/// The function name as the SDK's `node()` reports it: `async ` is already gone, `new Foo` and
/// `Class.method [as alias]` stay as printed, `Type.<anonymous>` becomes `Type.?`, and a
/// `.Module` infix left by older Node (`Object.Module._extensions..js`) is cut from the front.
/// DIFF: a bare `<anonymous>` is `None` (the SDK would keep the text or print `?`).
fn function_name(raw: &str) -> Option<String> {
    if raw.is_empty() || raw == "<anonymous>" {
        return None;
    }
    let mut name = raw;
    if let Some(mut method_start) = raw.rfind('.') {
        // `Module._extensions..js`: the method is `.js`.
        if method_start > 0 && raw.as_bytes()[method_start - 1] == b'.' {
            method_start -= 1;
        }
        if method_start > 0 {
            let mut object = &raw[..method_start];
            let method = &raw[method_start + 1..];
            if let Some(object_end) = object.find(".Module").filter(|&i| i > 0) {
                name = &raw[object_end + 1..];
                object = &object[..object_end];
            }
            if method == "<anonymous>" {
                return Some(format!("{object}.?"));
            }
        }
    }
    Some(name.to_owned())
}

/// The SDK's `normalizeStackTracePath` plus URL decoding: a `file://` URL becomes a plain path
/// (`file:///C:/x.mjs` becomes `C:/x.mjs`), percent-decoded. Returns the display path and the
/// undecoded path the module name is derived from (the SDK decodes only the base name there).
/// DIFF: plain paths are not URI-decoded (V8 prints them raw, so a `%` in them is literal),
/// and `file://host/share` keeps its host as a UNC-style `//host/share`.
fn normalize_path(path: &str) -> (String, &str) {
    let Some(rest) = path.strip_prefix("file://") else {
        return (path.to_owned(), path);
    };
    if !rest.starts_with('/') {
        let unc = &path["file:".len()..];
        return (percent_decode(unc).into_owned(), unc);
    }
    let rest = match rest.get(1..) {
        Some(tail) if has_drive_letter(tail) => tail,
        _ => rest,
    };
    (percent_decode(rest).into_owned(), rest)
}

/// Decode `%XX` escapes; malformed escapes stay as they are, and a result that is not UTF-8
/// leaves the input unchanged.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

/// The SDK's `createGetModuleFromFilename` without a known base path: for a file under
/// `node_modules`, the directories after the last `/node_modules/` joined by `.`, then `:` and
/// the file name (`express.lib.router:index`); otherwise the file name alone. Only `.js`,
/// `.mjs` and `.cjs` extensions are stripped and the file name is URI-decoded, as in the SDK.
/// Windows paths lose their drive letter and use `/` first (the SDK does that when running on
/// Windows). DIFF: `None` for `<anonymous>` code (the SDK would say `<anonymous>`).
fn module_name(path: &str) -> Option<String> {
    if path.is_empty() || path.contains("<anonymous>") {
        return None;
    }
    let normalized: Cow<'_, str> = if has_drive_letter(path) || path.contains('\\') {
        let without_drive = if has_drive_letter(path) {
            &path[2..]
        } else {
            path
        };
        Cow::Owned(without_drive.replace('\\', "/"))
    } else {
        Cow::Borrowed(path)
    };
    let (dir, base) = match normalized.rfind('/') {
        Some(slash) => (&normalized[..slash], &normalized[slash + 1..]),
        None => ("", &normalized[..]),
    };
    let file = match base.rfind('.') {
        Some(dot) if dot > 0 && matches!(&base[dot..], ".js" | ".mjs" | ".cjs") => &base[..dot],
        _ => base,
    };
    let file = percent_decode(file);
    if file.is_empty() {
        return None;
    }
    match dir.rfind("/node_modules") {
        Some(n) => {
            // `dir.slice(n + 14)`: skip "/node_modules" and the separator after it.
            let mut after = dir[n + "/node_modules".len()..].chars();
            after.next();
            let package_dirs = after.as_str().replace('/', ".");
            Some(format!("{package_dirs}:{file}"))
        }
        None => Some(file.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One expected frame; `""` and `0` stand for `None`.
    #[derive(Debug, Clone, Copy)]
    struct Want {
        function: &'static str,
        path: &'static str,
        line: u64,
        col: u64,
        in_app: bool,
        module: &'static str,
    }

    const fn w(
        function: &'static str,
        path: &'static str,
        line: u64,
        col: u64,
        in_app: bool,
        module: &'static str,
    ) -> Want {
        Want {
            function,
            path,
            line,
            col,
            in_app,
            module,
        }
    }

    fn opt(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }

    fn num(n: u64) -> Option<u64> {
        (n != 0).then_some(n)
    }

    /// Compare every frame, oldest first (Sentry order: the throwing frame is the last one).
    fn assert_frames(stack: &str, want: &[Want]) {
        let frames = parse(stack);
        let got: Vec<String> = frames.iter().map(|f| format!("{f:?}")).collect();
        assert_eq!(frames.len(), want.len(), "frame count; got {got:#?}");
        for (i, (f, w)) in frames.iter().zip(want).enumerate() {
            let ctx = format!("frame {i} (of {}), want {w:?}, got {f:?}", want.len());
            assert_eq!(f.function.as_deref(), opt(w.function), "function: {ctx}");
            assert_eq!(f.abs_path.as_deref(), opt(w.path), "abs_path: {ctx}");
            assert_eq!(f.filename, f.abs_path, "filename: {ctx}");
            assert_eq!(f.lineno, num(w.line), "lineno: {ctx}");
            assert_eq!(f.colno, num(w.col), "colno: {ctx}");
            assert_eq!(f.in_app, Some(w.in_app), "in_app: {ctx}");
            assert_eq!(f.module.as_deref(), opt(w.module), "module: {ctx}");
        }
    }

    /// `expected` written oldest first, as `parse` returns it.
    fn frames(parts: &[&[Want]]) -> Vec<Want> {
        parts.concat()
    }

    // --- Real V8 output (node v20.20.2), see stack_corpus/README.md ---------------------------

    const F: &str = "/tmp/v8stacks/forms.js";
    const F2: &str = "/tmp/v8stacks/forms2.js";
    const F3: &str = "/tmp/v8stacks/forms3.js";
    const F4: &str = "/tmp/v8stacks/forms4.mjs";
    const LOADER: &str = "node:internal/modules/cjs/loader";
    const TASK_QUEUES: &str = "node:internal/process/task_queues";

    /// Node's CommonJS entry frames, oldest first; stacks cut at 10 frames lose the first ones.
    const CJS_BOOT: [Want; 6] = [
        w(
            "",
            "node:internal/main/run_main_module",
            28,
            49,
            false,
            "run_main_module",
        ),
        w(
            "Function.executeUserEntryPoint [as runMain]",
            "node:internal/modules/run_main",
            164,
            12,
            false,
            "run_main",
        ),
        w("Module._load", LOADER, 1091, 12, false, "loader"),
        w("Module.load", LOADER, 1266, 32, false, "loader"),
        w("Module._extensions..js", LOADER, 1623, 10, false, "loader"),
        w("Module._compile", LOADER, 1521, 14, false, "loader"),
    ];

    /// A built-in printed as `at Array.map (<anonymous>)`.
    const fn builtin(function: &'static str) -> Want {
        w(function, "<anonymous>", 0, 0, false, "")
    }

    macro_rules! corpus {
        ($name:ident, $want:expr) => {
            #[test]
            fn $name() {
                let stack = include_str!(concat!("stack_corpus/", stringify!($name), ".txt"));
                assert_frames(stack, &$want);
            }
        };
    }

    corpus!(
        ctor,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 10, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 10, 19, true, "forms"),
                w("new Foo", F, 9, 35, true, "forms"),
            ],
        ])
    );

    corpus!(
        getter,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 20, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 20, 23, true, "forms"),
                w("get prop [as prop]", F, 14, 22, true, "forms"),
            ],
        ])
    );

    corpus!(
        symbol,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 21, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 21, 39, true, "forms"),
                w("[Symbol.iterator]", F, 15, 31, true, "forms"),
            ],
        ])
    );

    corpus!(
        array_map,
        frames(&[
            &CJS_BOOT[1..],
            &[
                w("Object.?", F, 29, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 29, 25, true, "forms"),
                builtin("Array.map"),
                w("", F, 29, 44, true, "forms"),
            ],
        ])
    );

    corpus!(
        json_parse,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 30, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 30, 24, true, "forms"),
                builtin("JSON.parse"),
            ],
        ])
    );

    // `at eval (eval at <anonymous> (forms.js:31:19), <anonymous>:2:6)`: the eval origin.
    corpus!(
        eval,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 31, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 31, 19, true, "forms"),
                w("eval", F, 31, 19, true, "forms"),
            ],
        ])
    );

    // `eval at <anonymous> (eval at outer (forms.js:32:27))`: the innermost origin.
    corpus!(
        nested_eval,
        frames(&[
            &CJS_BOOT[2..],
            &[
                w("Object.?", F, 33, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 33, 26, true, "forms"),
                w("outer", F, 32, 27, true, "forms"),
                w("eval", F, 32, 27, true, "forms"),
                w("eval", F, 32, 27, true, "forms"),
            ],
        ])
    );

    corpus!(
        new_function,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 34, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 34, 59, true, "forms"),
                w("eval", F, 34, 26, true, "forms"),
            ],
        ])
    );

    corpus!(
        eval_arrow,
        frames(&[
            &CJS_BOOT[2..],
            &[
                w("Object.?", F, 35, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 35, 25, true, "forms"),
                w("eval", F, 35, 25, true, "forms"),
                builtin("Array.map"),
                w("eval", F, 35, 25, true, "forms"),
            ],
        ])
    );

    // The message holds "at the office" and "  at the office (downtown)": not frames.
    corpus!(
        multiline_message,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 36, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 36, 32, true, "forms"),
            ],
        ])
    );

    corpus!(
        generator,
        frames(&[
            &CJS_BOOT[1..],
            &[
                w("Object.?", F, 37, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 37, 72, true, "forms"),
                builtin("g.next"),
                w("g", F, 37, 48, true, "forms"),
            ],
        ])
    );

    const LODASH: &str = "/tmp/v8stacks/node_modules/lodash/index.js";
    corpus!(
        node_modules,
        frames(&[
            &CJS_BOOT[2..],
            &[
                w("Object.?", F, 38, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 38, 60, true, "forms"),
                w("Object.explode", LODASH, 1, 51, false, "lodash:index"),
                builtin("Array.map"),
                w("each", LODASH, 1, 80, false, "lodash:index"),
            ],
        ])
    );

    corpus!(
        scoped_package,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 39, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 39, 71, true, "forms"),
                w(
                    "exports.boom",
                    "/tmp/v8stacks/node_modules/@scope/pkg/lib/thing.js",
                    1,
                    30,
                    false,
                    "@scope.pkg.lib:thing",
                ),
            ],
        ])
    );

    corpus!(
        path_with_parens,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F, 40, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 40, 48, true, "forms"),
                w(
                    "Object.boom",
                    "/tmp/v8stacks/my (app)/x.js",
                    1,
                    40,
                    true,
                    "x"
                ),
            ],
        ])
    );

    corpus!(
        static_field_init,
        frames(&[
            &CJS_BOOT[1..],
            &[
                w("Object.?", F, 41, 1, true, "forms"),
                w("rec", F, 4, 9, true, "forms"),
                w("", F, 41, 20, true, "forms"),
                w("<static_initializer>", F, 41, 87, true, "forms"),
                w("", F, 41, 64, true, "forms"),
            ],
        ])
    );

    corpus!(
        async_await,
        [
            w("", F, 45, 3, true, "forms"),
            w("arec", F, 7, 9, true, "forms"),
            w("middle", F, 44, 29, true, "forms"),
            w("inner", F, 43, 46, true, "forms"),
        ]
    );

    corpus!(
        promise_all,
        [
            w("", F, 46, 3, true, "forms"),
            w("arec", F, 7, 9, true, "forms"),
            w("Promise.all", "", 0, 0, false, ""),
            w("inner", F, 43, 46, true, "forms"),
        ]
    );

    corpus!(
        new_promise,
        [
            w("", F, 47, 9, true, "forms"),
            w("arec", F, 7, 15, true, "forms"),
            w("", F, 47, 35, true, "forms"),
            builtin("new Promise"),
            w("", F, 47, 61, true, "forms"),
        ]
    );

    const MOD_MJS: &str = "/tmp/v8stacks/esm/mod.mjs";
    corpus!(
        esm_eval,
        [
            w("", F, 48, 3, true, "forms"),
            w("arec", F, 7, 9, true, "forms"),
            w("", F, 48, 65, true, "forms"),
            w("Module.run", MOD_MJS, 3, 32, true, "mod"),
            w("eval", MOD_MJS, 3, 32, true, "mod"),
            w("Object.method", MOD_MJS, 1, 35, true, "mod"),
        ]
    );

    // file:///tmp/v8stacks/my%20(app)/m%20y.mjs
    corpus!(
        esm_percent_encoded,
        [w(
            "Module.run",
            "/tmp/v8stacks/my (app)/m y.mjs",
            1,
            46,
            true,
            "m y"
        )]
    );

    corpus!(
        method_alias,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F2, 7, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 7, 26, true, "forms2"),
                w("Object.method [as alias]", F2, 5, 33, true, "forms2"),
            ],
        ])
    );

    corpus!(
        class_method,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F2, 12, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 12, 27, true, "forms2"),
                w("Svc.handle", F2, 8, 30, true, "forms2"),
            ],
        ])
    );

    corpus!(
        computed_alias,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F2, 17, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 17, 26, true, "forms2"),
                w("holder.<computed> [as foo]", F2, 15, 33, true, "forms2"),
            ],
        ])
    );

    corpus!(
        static_block,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F2, 18, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 18, 21, true, "forms2"),
                w("<static_initializer>", F2, 18, 54, true, "forms2"),
            ],
        ])
    );

    // A vm script named `C:\Users\app\x.js`; Node puts the source excerpt above the header.
    const WIN_X: &str = "C:\\Users\\app\\x.js";
    corpus!(
        windows_vm,
        frames(&[
            &CJS_BOOT[3..],
            &[
                w("Object.?", F2, 21, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 21, 21, true, "forms2"),
                w(
                    "Object.runInThisContext",
                    "node:vm",
                    317,
                    38,
                    false,
                    "node:vm"
                ),
                w(
                    "Script.runInThisContext",
                    "node:vm",
                    137,
                    12,
                    false,
                    "node:vm"
                ),
                w("", WIN_X, 1, 47, true, "x"),
                w("winFn", WIN_X, 1, 27, true, "x"),
            ],
        ])
    );

    const PAGE: &str = "webpack-internal:///./app/page.tsx";
    corpus!(
        webpack_internal,
        frames(&[
            &CJS_BOOT[1..],
            &[
                w("Object.?", F2, 22, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 22, 22, true, "forms2"),
                w("eval", PAGE, 1, 45, true, "page.tsx"),
                w("Page", PAGE, 1, 26, true, "page.tsx"),
            ],
        ])
    );

    corpus!(
        evalmachine,
        frames(&[
            &CJS_BOOT[3..],
            &[
                w("Object.?", F2, 23, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 23, 24, true, "forms2"),
                w(
                    "Object.runInThisContext",
                    "node:vm",
                    317,
                    38,
                    false,
                    "node:vm"
                ),
                w(
                    "Script.runInThisContext",
                    "node:vm",
                    137,
                    12,
                    false,
                    "node:vm"
                ),
                w("", "evalmachine.<anonymous>", 1, 39, false, ""),
                w("", "evalmachine.<anonymous>", 1, 16, false, ""),
            ],
        ])
    );

    corpus!(
        anonymous_script,
        frames(&[
            &CJS_BOOT[1..],
            &[
                w("Object.?", F2, 24, 1, true, "forms2"),
                w("rec", F2, 4, 32, true, "forms2"),
                w("", F2, 24, 85, true, "forms2"),
                w(
                    "Script.runInThisContext",
                    "node:vm",
                    137,
                    12,
                    false,
                    "node:vm"
                ),
                w("", "<anonymous>", 1, 7, false, ""),
            ],
        ])
    );

    const TIMERS: &str = "node:internal/timers";
    corpus!(
        timer,
        [
            w("process.processTimers", TIMERS, 519, 7, false, "timers"),
            w("listOnTimeout", TIMERS, 581, 17, false, "timers"),
            w(
                "Timeout.onTimer [as _onTimeout]",
                F2,
                31,
                15,
                true,
                "forms2"
            ),
        ]
    );

    const TICKS: Want = w(
        "process.processTicksAndRejections",
        TASK_QUEUES,
        95,
        5,
        false,
        "task_queues",
    );

    corpus!(process_ticks, [TICKS, w("lone", F3, 3, 43, true, "forms3")]);

    corpus!(
        then_callback,
        [TICKS, w("thenCb", F3, 12, 76, true, "forms3")]
    );

    corpus!(
        next_tick,
        [
            w(
                "process.processTicksAndRejections",
                TASK_QUEUES,
                77,
                11,
                false,
                "task_queues"
            ),
            w("tickFn", F3, 7, 50, true, "forms3"),
        ]
    );

    corpus!(
        microtask,
        [
            TICKS,
            w(
                "AsyncResource.runMicrotask",
                TASK_QUEUES,
                137,
                8,
                false,
                "task_queues"
            ),
            w(
                "AsyncResource.runInAsyncScope",
                "node:async_hooks",
                206,
                9,
                false,
                "node:async_hooks",
            ),
            w("", TASK_QUEUES, 140, 7, false, "task_queues"),
            w("", F3, 4, 63, true, "forms3"),
        ]
    );

    corpus!(
        event_emitter,
        frames(&[
            &CJS_BOOT,
            &[
                w("Object.?", F3, 11, 4, true, "forms3"),
                w(
                    "EventEmitter.emit",
                    "node:events",
                    524,
                    28,
                    false,
                    "node:events"
                ),
                w("EventEmitter.handler", F3, 10, 45, true, "forms3"),
            ],
        ])
    );

    // `at Module.d (data:text/javascript,export function d(){ throw new Error("data (x)") }:1:28)`
    corpus!(
        data_url,
        [
            w("", F4, 2, 108, true, "forms4"),
            w("Module.d", "<data:text/javascript>", 1, 28, false, ""),
        ]
    );

    corpus!(
        esm_eval_named,
        [
            w("", F4, 3, 7, true, "forms4"),
            w("eval", F4, 3, 7, true, "forms4"),
            w("inner", F4, 3, 7, true, "forms4"),
        ]
    );

    #[test]
    fn deep_recursion_keeps_the_200_frames_nearest_the_throw() {
        let stack = include_str!("stack_corpus/deep_recursion.txt");
        assert_eq!(
            stack.lines().filter(|l| l.starts_with("    at ")).count(),
            260
        );
        let frames = parse(stack);
        assert_eq!(frames.len(), MAX_FRAMES);
        assert!(frames.iter().all(|f| f.function.as_deref() == Some("deep")));
        let (throw_site, callers) = frames.split_last().unwrap();
        assert_eq!((throw_site.lineno, throw_site.colno), (Some(26), Some(39)));
        assert!(callers.iter().all(|f| f.colno == Some(65)));
    }

    #[test]
    fn cap_drops_the_oldest_calls() {
        let mut stack = String::from("Error: deep");
        for i in 0..300 {
            stack.push_str(&format!("\n    at f{i} (/app/x.js:{}:1)", i + 1));
        }
        let frames = parse(&stack);
        assert_eq!(frames.len(), 200);
        assert_eq!(frames[0].function.as_deref(), Some("f199"));
        assert_eq!(frames[199].function.as_deref(), Some("f0"));
        assert_eq!(frames[199].lineno, Some(1));
    }

    // --- Hand-written lines for forms node 20 does not print (older V8, other platforms) -----

    #[test]
    fn forms_not_reproducible_on_node_20() {
        let stack = "\
Error: legacy
    at fn (native)
    at lineOnly (/x.js:10)
    at <anonymous>
    at Object.<computed> [as foo] (/x.js:1:1)
    at Foo.<static_initializer> (/x.js:2:3)
    at Class.method [as alias] (/x.js:4:5)
    at Object.method [as alias] (file:///home/u/app/x.mjs:3:9)
    at fn (C:\\Users\\app\\x.js:10:5)
    at winUrl (file:///C:/Users/app/y.mjs:7:1)
    at route (C:\\app\\node_modules\\express\\lib\\router\\index.js:284:7)
    at fn (webpack-internal:///./app/page.tsx:5:11)
    at Object.Module._extensions..js (internal/modules/cjs/loader.js:1158:10)
    at EventEmitter.emit (events.js:315:20)
    at processTicksAndRejections (internal/process/task_queues.js:93:5)
    at eval (eval at <anonymous> (unknown source), <anonymous>:1:1)
    at eval at make (/x.js:2:3), <anonymous>:1:1
    at Object.[a (b] (/x.js:6:7)
    at async (/x.js:8:9)
    at async /x.js:9:10
    at wasmFn (wasm://wasm/0012abcd:wasm-function[3]:0x1f4)
    at Object.<anonymous> (/x.js:11:12)";
        let want = [
            w("Object.?", "/x.js", 11, 12, true, "x"),
            w(
                "wasmFn",
                "wasm://wasm/0012abcd:wasm-function[3]:0x1f4",
                0,
                0,
                true,
                "0012abcd:wasm-function[3]:0x1f4",
            ),
            w("", "/x.js", 9, 10, true, "x"),
            w("async", "/x.js", 8, 9, true, "x"),
            w("Object.[a (b]", "/x.js", 6, 7, true, "x"),
            w("", "/x.js", 2, 3, true, "x"),
            w("eval", "", 0, 0, false, ""),
            w(
                "processTicksAndRejections",
                "internal/process/task_queues.js",
                93,
                5,
                false,
                "task_queues",
            ),
            w("EventEmitter.emit", "events.js", 315, 20, false, "events"),
            w(
                "Module._extensions..js",
                "internal/modules/cjs/loader.js",
                1158,
                10,
                false,
                "loader",
            ),
            w(
                "fn",
                "webpack-internal:///./app/page.tsx",
                5,
                11,
                true,
                "page.tsx",
            ),
            w(
                "route",
                "C:\\app\\node_modules\\express\\lib\\router\\index.js",
                284,
                7,
                false,
                "express.lib.router:index",
            ),
            w("winUrl", "C:/Users/app/y.mjs", 7, 1, true, "y"),
            w("fn", "C:\\Users\\app\\x.js", 10, 5, true, "x"),
            w(
                "Object.method [as alias]",
                "/home/u/app/x.mjs",
                3,
                9,
                true,
                "x",
            ),
            w("Class.method [as alias]", "/x.js", 4, 5, true, "x"),
            w("Foo.<static_initializer>", "/x.js", 2, 3, true, "x"),
            w("Object.<computed> [as foo]", "/x.js", 1, 1, true, "x"),
            w("", "<anonymous>", 0, 0, false, ""),
            w("lineOnly", "/x.js", 10, 0, true, "x"),
            w("fn", "", 0, 0, false, ""),
        ];
        assert_frames(stack, &want);
    }

    #[test]
    fn paths_with_spaces_and_parentheses() {
        let stack = "Error: x
    at /home/u/my (app)/x.js:1:2
    at async /home/u/my (app)/y.mjs:3:4
    at (/home/u/my (app)/z.js:5:6)
    at fn (C:\\Program Files (x86)\\app\\x.js:7:8)
    at fn (file:///C:/Program%20Files%20(x86)/app/y.mjs:9:10)";
        assert_frames(
            stack,
            &[
                w("fn", "C:/Program Files (x86)/app/y.mjs", 9, 10, true, "y"),
                w("fn", "C:\\Program Files (x86)\\app\\x.js", 7, 8, true, "x"),
                w("", "/home/u/my (app)/z.js", 5, 6, true, "z"),
                w("", "/home/u/my (app)/y.mjs", 3, 4, true, "y"),
                w("", "/home/u/my (app)/x.js", 1, 2, true, "x"),
            ],
        );
    }

    #[test]
    fn header_and_message_lines_are_not_frames() {
        let stack = "Error: failed at fn (/x.js:1:1)\nat fn (/y.js:2:2)\nstill the message\n\n\
                     \tat tabbed (/z.js:3:3)\r\n    at crlf (/z.js:4:4)\r\n  at the office\n";
        assert_frames(
            stack,
            &[
                w("crlf", "/z.js", 4, 4, true, "z"),
                w("tabbed", "/z.js", 3, 3, true, "z"),
            ],
        );
    }

    #[test]
    fn empty_and_headerless_input() {
        assert!(parse("").is_empty());
        assert!(parse("\n\n").is_empty());
        assert!(parse("Error").is_empty());
        assert!(parse("    at ").is_empty());
        assert!(parse("    at ()").is_empty());
        assert_frames("    at f (/a.js:1:2)", &[w("f", "/a.js", 1, 2, true, "a")]);
    }

    #[test]
    fn file_urls_are_percent_decoded() {
        assert_frames(
            "E\n    at f (file:///tmp/a%23b/%E2%9C%93.mjs:1:2)\n    at g (file:///tmp/100%zz/%ff.mjs:3:4)",
            &[
                w("g", "/tmp/100%zz/%ff.mjs", 3, 4, true, "%ff"),
                w("f", "/tmp/a#b/\u{2713}.mjs", 1, 2, true, "\u{2713}"),
            ],
        );
    }

    #[test]
    fn function_names_follow_the_sdk() {
        assert_eq!(
            function_name("Object.<anonymous>").as_deref(),
            Some("Object.?")
        );
        assert_eq!(function_name("<anonymous>"), None);
        assert_eq!(function_name("new Foo").as_deref(), Some("new Foo"));
        assert_eq!(
            function_name("Object.Module._extensions..js").as_deref(),
            Some("Module._extensions..js")
        );
        assert_eq!(function_name(".x").as_deref(), Some(".x"));
        assert_eq!(function_name("..").as_deref(), Some(".."));
    }

    #[test]
    fn modules_follow_the_sdk() {
        let cases = [
            (
                "/app/node_modules/express/lib/router/index.js",
                "express.lib.router:index",
            ),
            ("/app/node_modules/a/node_modules/b/c.cjs", "b:c"),
            ("/app/node_modules/x.js", ":x"),
            ("/app/src/server.mjs", "server"),
            ("/app/src/page.tsx", "page.tsx"),
            ("/app/.eslintrc.js", ".eslintrc"),
            ("/app/%41.js", "A"),
            ("C:\\app\\src\\main.js", "main"),
            ("node:internal/process/task_queues", "task_queues"),
            ("node:events", "node:events"),
        ];
        for (path, module) in cases {
            assert_eq!(module_name(path).as_deref(), Some(module), "{path}");
        }
        assert_eq!(module_name("<anonymous>"), None);
        assert_eq!(module_name(""), None);
    }

    // --- Robustness ------------------------------------------------------------------------

    const CORPUS: &[&str] = &[
        include_str!("stack_corpus/ctor.txt"),
        include_str!("stack_corpus/nested_eval.txt"),
        include_str!("stack_corpus/esm_percent_encoded.txt"),
        include_str!("stack_corpus/windows_vm.txt"),
        include_str!("stack_corpus/path_with_parens.txt"),
        include_str!("stack_corpus/data_url.txt"),
        include_str!("stack_corpus/promise_all.txt"),
        include_str!("stack_corpus/multiline_message.txt"),
    ];

    #[test]
    fn truncated_corpus_never_panics() {
        for stack in CORPUS {
            for (i, _) in stack.char_indices() {
                let frames = parse(&stack[..i]);
                assert!(frames.len() <= stack.lines().count());
            }
        }
    }

    /// xorshift64: deterministic, no extra dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics() {
        const TOKENS: &[&str] = &[
            "    at ",
            " (",
            "(",
            ")",
            ":",
            "1",
            "99999999999999999999999",
            "eval at ",
            ", ",
            "<anonymous>",
            "file://",
            "file:///C:/",
            "%",
            "%e2%9c",
            "node_modules/",
            "\\",
            "\n",
            "\r\n",
            "é",
            "C:\\",
            "index ",
            "data:",
            ",",
            "async ",
            "new ",
            ".",
            "..",
            "native",
            "node:",
            "/",
            " ",
            "[as x]",
            "unknown source",
            ".Module",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..rng.below(40) {
                s.push_str(TOKENS[rng.below(TOKENS.len())]);
            }
            let _ = parse(&s);
        }
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }
    }

    thread_local! {
        /// What `scanned` counted on this thread.
        pub(super) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The bytes `parse` looks at for `stack`.
    fn work(stack: &str) -> usize {
        SCANNED.with(|n| n.set(0));
        let _ = parse(stack);
        SCANNED.with(std::cell::Cell::get)
    }

    /// Lines built so that a parser that rescans the rest of the line per candidate location
    /// (each ` (`, each `eval at`) does work quadratic in their length. Work, not time: a
    /// slow machine cannot fail this, and a quadratic parser fails it whatever the machine.
    #[test]
    fn adversarial_lines_stay_linear() {
        // Counted work is exact, so a line long enough to tell linear from quadratic by a
        // factor of hundreds is enough, and a quadratic parser still fails in seconds.
        let n = 10_000;
        let cases = [
            (
                "parens",
                format!("    at {}/x.js:1:1{}", "a (".repeat(n), ")".repeat(n)),
            ),
            ("evals", format!("    at x {})", "(eval at y ".repeat(n))),
            ("relative", format!("    at {}", "b (".repeat(n))),
            (
                "deep_eval",
                format!(
                    "    at a {}/x.js:1:1{}",
                    "(eval at b ".repeat(n),
                    ")".repeat(n)
                ),
            ),
            ("schemes", format!("    at f {})", "(abcdefgh+ ".repeat(n))),
            // Every `eval at` candidate shares the line's position suffix, here n digits long.
            (
                "eval_digits",
                format!("    at x {}:{})", "(eval at y ".repeat(n), "1".repeat(n)),
            ),
        ];
        for (name, stack) in &cases {
            let work = work(stack);
            assert!(
                work <= 40 * stack.len(),
                "{name}: {work} bytes looked at for a {}-byte line",
                stack.len()
            );
        }
        // The count is not vacuous: a line is looked at whole at least once.
        assert!(work(&cases[0].1) >= cases[0].1.len());
    }
}
