//! Resolution of real esbuild bundles (built by `fixtures/build.mjs`, committed in
//! `fixtures/dist`). Frames are built the way `stack::parse` builds them, at positions found by
//! searching the generated text, and the expected original positions by searching the `.ts`
//! sources: no JavaScript runs here.

use super::*;
use std::fs;
use std::time::{Duration, SystemTime};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sourcemaps/fixtures")
}

fn dist(name: &str) -> PathBuf {
    fixtures().join("dist").join(name)
}

fn original_source(name: &str) -> String {
    fs::read_to_string(fixtures().join("src").join(name)).unwrap()
}

/// The 1-based line and column where `needle` starts in `text`; it must occur exactly once.
fn position(text: &str, needle: &str) -> (u64, u64) {
    let mut hits = text.match_indices(needle);
    let (at, _) = hits
        .next()
        .unwrap_or_else(|| panic!("{needle:?} not found"));
    assert!(hits.next().is_none(), "{needle:?} occurs more than once");
    let line_start = text[..at].rfind('\n').map_or(0, |nl| nl + 1);
    let line = text[..at].matches('\n').count() + 1;
    let col = text[line_start..at].encode_utf16().count() + 1;
    (line as u64, col as u64)
}

/// A frame as `stack::parse` makes it for V8's `at <function> (<file>:<line>:<col>)`, at the
/// start of `needle` in the generated file.
fn frame_at(file: &Path, needle: &str, function: &str) -> Frame {
    let (lineno, colno) = position(&fs::read_to_string(file).unwrap(), needle);
    let path = file.to_str().unwrap().to_owned();
    Frame {
        function: Some(function.to_owned()),
        module: Some("bundle".to_owned()),
        filename: Some(path.clone()),
        abs_path: Some(path),
        lineno: Some(lineno),
        colno: Some(colno),
        in_app: Some(true),
        ..Frame::default()
    }
}

fn resolve_one(resolver: &Resolver, frame: &Frame) -> Frame {
    let mut frames = [frame.clone()];
    resolver.resolve(&mut frames);
    let [resolved] = frames;
    resolved
}

/// Asserts `frame` now points at `needle` in `src/<ts_file>`, named `function`, in app, with
/// the five lines around it as context.
#[track_caller]
fn assert_at(frame: &Frame, ts_file: &str, needle: &str, function: &str) {
    let ts = original_source(ts_file);
    let (line, col) = position(&ts, needle);
    let abs_path = frame.abs_path.as_deref().unwrap();
    assert!(
        abs_path.ends_with(&format!("src/sourcemaps/fixtures/src/{ts_file}")),
        "{abs_path}"
    );
    assert!(Path::new(abs_path).is_absolute(), "{abs_path}");
    assert_eq!(
        frame.filename.as_deref(),
        Some(format!("src/sourcemaps/fixtures/src/{ts_file}").as_str()),
        "relative to the working directory, which cargo sets to the package root"
    );
    assert_eq!(
        (frame.lineno, frame.colno),
        (Some(line), Some(col)),
        "{needle}"
    );
    assert_eq!(frame.function.as_deref(), Some(function), "{needle}");
    assert_eq!(frame.in_app, Some(true));

    let lines: Vec<&str> = ts.lines().collect();
    let i = line as usize - 1;
    assert_eq!(frame.context_line.as_deref(), Some(lines[i]));
    assert!(lines[i].contains(needle));
    assert_eq!(frame.pre_context, lines[i.saturating_sub(5)..i]);
    assert_eq!(frame.post_context, lines[i + 1..(i + 6).min(lines.len())]);
}

// --- Locations and names ---------------------------------------------------------------------

#[test]
fn readable_bundle_resolves_to_the_typescript() {
    let resolver = Resolver::new();
    let js = dist("plain.js");
    let cases = [
        (
            r#"new Error("marker-assert")"#,
            "assertPositive",
            "checks.ts",
        ),
        (r#"new Error("marker-deep")"#, "describeOrder", "checks.ts"),
        (
            r#"new RangeError("marker-arrow")"#,
            "validateOrder",
            "app.ts",
        ),
        (
            r#"new Error("marker-method")"#,
            "OrderService.placeOrder",
            "app.ts",
        ),
        (
            r#"new TypeError("marker-named")"#,
            "Object.handleRequest",
            "app.ts",
        ),
        ("validateOrder(order)", "OrderService.placeOrder", "app.ts"),
        ("assertPositive(order.quantity", "validateOrder", "app.ts"),
    ];
    for (needle, function, ts) in cases {
        let frame = resolve_one(&resolver, &frame_at(&js, needle, function));
        assert_at(&frame, ts, needle, function);
    }
}

/// The names V8 prints for the committed minified bundle (checked with `node`): everything the
/// minifier could rename is one letter.
#[test]
fn minified_bundle_recovers_original_function_names() {
    let resolver = Resolver::new();
    let js = dist("min.js");
    let cases = [
        // A function declaration.
        (
            r#"new Error("marker-assert")"#,
            "u",
            "assertPositive",
            "checks.ts",
            r#"new Error("marker-assert")"#,
        ),
        // A function declaration with far more than 128 tokens before the throw.
        (
            r#"new Error("marker-deep")"#,
            "h",
            "describeOrder",
            "checks.ts",
            r#"new Error("marker-deep")"#,
        ),
        // An arrow function bound to a const.
        (
            r#"new RangeError("marker-arrow")"#,
            "b",
            "validateOrder",
            "app.ts",
            r#"new RangeError("marker-arrow")"#,
        ),
        // A method of a class the minifier turned into `a=class{…}`.
        (
            r#"new Error("marker-method")"#,
            "a.placeOrder",
            "OrderService.placeOrder",
            "app.ts",
            r#"new Error("marker-method")"#,
        ),
        // A receiver V8 names after a built-in stays as it is.
        (
            r#"new TypeError("marker-named")"#,
            "Object.l",
            "Object.handleRequest",
            "app.ts",
            r#"new TypeError("marker-named")"#,
        ),
        // Call sites: the token there names the callee (`validateOrder`, `assertPositive`), but
        // the frame is in the caller.
        (
            "b(e)",
            "a.placeOrder",
            "OrderService.placeOrder",
            "app.ts",
            "validateOrder(order)",
        ),
        (
            "u(r.quantity",
            "b",
            "validateOrder",
            "app.ts",
            "assertPositive(order.quantity",
        ),
        (
            "placeOrder(s)",
            "Object.l",
            "Object.handleRequest",
            "app.ts",
            "placeOrder(order)",
        ),
        // An alias keeps its shape.
        (
            "b(e)",
            "a.placeOrder [as run]",
            "OrderService.placeOrder [as run]",
            "app.ts",
            "validateOrder(order)",
        ),
    ];
    for (needle, v8_name, function, ts, original) in cases {
        let frame = resolve_one(&resolver, &frame_at(&js, needle, v8_name));
        assert_at(&frame, ts, original, function);
    }
    // The original source decides which function a position is in: a printed name of another
    // function (here the class's constructor, for a position in `placeOrder`) gives way to it.
    // Before issue 17 this read `new OrderService`.
    let frame = resolve_one(&resolver, &frame_at(&js, "b(e)", "new a"));
    assert_at(
        &frame,
        "app.ts",
        "validateOrder(order)",
        "OrderService.placeOrder",
    );
}

/// A name the generated code does not define is not translated. Outside any named function of
/// the original source (here the module's top level, where V8 prints `Object.<anonymous>`, which
/// `stack::parse` turns into `Object.?`) it stays as V8 printed it, and no name stays no name.
#[test]
fn names_the_map_cannot_explain_stay_as_v8_printed_them() {
    let resolver = Resolver::new();
    let js = dist("min.js");
    let top_level = r#"l('{"id":"warm-up""#;
    for v8_name in [
        "zz",
        "Object.?",
        "Object.<anonymous>",
        "Module._extensions..js",
        "x.?",
        "a.s.b.name",
    ] {
        let frame = resolve_one(&resolver, &frame_at(&js, top_level, v8_name));
        assert_eq!(frame.function.as_deref(), Some(v8_name));
        assert_eq!(frame.lineno, Some(42), "the location still resolves");
    }
    let mut anonymous = frame_at(&js, top_level, "");
    anonymous.function = None;
    assert_eq!(resolve_one(&resolver, &anonymous).function, None);
}

/// Inside a named function, the original source names a frame that V8 printed no name for, or
/// a name whose last part the generated code does not define: V8 made it up from how the
/// function was reached, so none of its parts is translated.
#[test]
fn frames_without_a_defined_name_are_named_from_the_original_source() {
    let resolver = Resolver::new();
    let js = dist("min.js");
    let cases = [
        (
            r#"new Error("marker-assert")"#,
            "assertPositive",
            "checks.ts",
        ),
        (r#"new Error("marker-deep")"#, "describeOrder", "checks.ts"),
        (
            r#"new RangeError("marker-arrow")"#,
            "validateOrder",
            "app.ts",
        ),
        (
            r#"new Error("marker-method")"#,
            "OrderService.placeOrder",
            "app.ts",
        ),
        (
            r#"new TypeError("marker-named")"#,
            "handleRequest",
            "app.ts",
        ),
    ];
    for (needle, function, ts) in cases {
        for v8_name in [None, Some("zz"), Some("Object.?"), Some("a.s.b.name")] {
            let mut frame = frame_at(&js, needle, v8_name.unwrap_or(""));
            frame.function = v8_name.map(str::to_owned);
            let frame = resolve_one(&resolver, &frame);
            assert_at(&frame, ts, needle, function);
        }
    }
    // `r` is only a parameter in the generated code, not where a function is defined.
    let frame = resolve_one(
        &resolver,
        &frame_at(&js, r#"new Error("marker-assert")"#, "Object.r"),
    );
    assert_eq!(frame.function.as_deref(), Some("assertPositive"));
}

/// Why `names` searches for definitions itself: the crate's lookup (Sentry's older heuristic)
/// finds only `function <name>` within 128 tokens of the frame. If this starts passing more
/// cases, the crate has improved and `names` may be simpler.
#[test]
fn the_crates_own_lookup_finds_only_short_function_declarations() {
    let text = fs::read_to_string(dist("min.js")).unwrap();
    let map = SourceMap::from_slice(&fs::read(dist("min.js.map")).unwrap()).unwrap();
    let view = SourceView::from_string(text.clone());
    let at = |needle: &str| {
        let (line, col) = position(&text, needle);
        (line as u32 - 1, col as u32 - 1)
    };
    let crate_name = |needle: &str, minified: &str| {
        let (line, col) = at(needle);
        map.get_original_function_name(line, col, minified, &view)
    };
    assert_eq!(
        crate_name(r#"new Error("marker-assert")"#, "u"),
        Some("assertPositive")
    );
    assert_eq!(crate_name(r#"new Error("marker-deep")"#, "h"), None);
    assert_eq!(crate_name(r#"new RangeError("marker-arrow")"#, "b"), None);
    assert_eq!(
        crate_name(r#"new Error("marker-method")"#, "placeOrder"),
        None
    );
}

#[test]
fn inline_data_url_map() {
    let resolver = Resolver::new();
    let js = dist("inline.js");
    assert!(fs::read_to_string(&js)
        .unwrap()
        .contains("//# sourceMappingURL=data:application/json;base64,"));
    let needle = r#"new Error("marker-method")"#;
    let frame = resolve_one(&resolver, &frame_at(&js, needle, "OrderService.placeOrder"));
    assert_at(&frame, "app.ts", needle, "OrderService.placeOrder");
}

#[test]
fn sibling_map_without_comment_and_context_from_disk() {
    let resolver = Resolver::new();
    let js = dist("sibling.js");
    assert!(!fs::read_to_string(&js)
        .unwrap()
        .contains("sourceMappingURL"));
    let map = fs::read_to_string(dist("sibling.js.map")).unwrap();
    assert!(
        !map.contains("sourcesContent"),
        "context must come from the .ts files"
    );
    let needle = r#"new Error("marker-assert")"#;
    let frame = resolve_one(&resolver, &frame_at(&js, needle, "assertPositive"));
    assert_at(&frame, "checks.ts", needle, "assertPositive");
}

#[test]
fn index_map_sections() {
    let resolver = Resolver::new();
    let js = dist("indexed.js");
    let needle = r#"new RangeError("marker-arrow")"#;
    let frame = resolve_one(&resolver, &frame_at(&js, needle, "validateOrder"));
    assert_at(&frame, "app.ts", needle, "validateOrder");
}

// --- Leaving frames alone --------------------------------------------------------------------

#[test]
fn broken_missing_and_non_file_frames_are_left_alone() {
    let resolver = Resolver::new();
    let broken = frame_at(&dist("broken.js"), r#"new Error("marker-assert")"#, "u");
    let mut frames = vec![
        broken.clone(),
        Frame {
            abs_path: Some("/no/such/dir/bundle.js".into()),
            lineno: Some(1),
            colno: Some(1),
            ..broken.clone()
        },
        Frame {
            abs_path: Some("node:internal/process/task_queues".into()),
            ..broken.clone()
        },
        Frame {
            abs_path: Some("<anonymous>".into()),
            ..broken.clone()
        },
        Frame {
            abs_path: Some(fixtures().join("dist").to_string_lossy().into_owned()),
            ..broken.clone()
        },
        Frame {
            lineno: None,
            ..frame_at(&dist("min.js"), r#"new Error("marker-assert")"#, "u")
        },
        // Past the end of the bundle: the nearest token is on another line.
        Frame {
            lineno: Some(9999),
            ..frame_at(&dist("min.js"), r#"new Error("marker-assert")"#, "u")
        },
        Frame::default(),
    ];
    let before = frames.clone();
    resolver.resolve(&mut frames);
    assert_eq!(frames, before);
    assert_eq!(resolver.debug_id(broken.abs_path.as_deref().unwrap()), None);
}

/// Malformed maps go to the crate's parser and the name search; none of it may panic (the
/// resolver would survive it, but lose the frame's resolution).
#[test]
fn truncated_maps_never_panic() {
    let map = fs::read(dist("min.js.map")).unwrap();
    let text = fs::read_to_string(dist("min.js")).unwrap();
    let view = SourceView::from_string(text.clone());
    let (line, col) = position(&text, r#"new Error("marker-method")"#);
    for cut in (0..map.len()).step_by(7) {
        let mut bytes = map[..cut].to_vec();
        // Close the JSON where possible, so the decoder gets past parsing into the mappings.
        bytes.extend_from_slice(b"\"]}");
        if let Some((parsed, _)) = parse(&bytes) {
            let _ = parsed.lookup_token(line as u32 - 1, col as u32 - 1);
            let _ = names::original(
                &parsed,
                &view,
                line as u32 - 1,
                col as u32 - 1,
                "a.placeOrder",
            );
        }
    }
}

// --- Paths and in_app ------------------------------------------------------------------------

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sourcemaps-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The readable fixture's map with `sources` replaced and, optionally, without sourcesContent.
fn plain_map_with_sources(sources: &[&str], keep_content: bool) -> String {
    let mut map: serde_json::Value =
        serde_json::from_slice(&fs::read(dist("plain.js.map")).unwrap()).unwrap();
    map["sources"] = serde_json::json!(sources);
    if !keep_content {
        map.as_object_mut().unwrap().remove("sourcesContent");
    }
    map.to_string()
}

#[test]
fn frames_resolving_into_node_modules_are_not_in_app() {
    let scratch = Scratch::new("node-modules");
    let js = scratch.write(
        "app/node_modules/orders/dist/index.js",
        fs::read(dist("plain.js")).unwrap(),
    );
    scratch.write(
        "app/node_modules/orders/dist/plain.js.map",
        plain_map_with_sources(&["../src/app.ts", "../src/checks.ts"], true),
    );
    let frame = resolve_one(
        &Resolver::new(),
        &frame_at(&js, r#"new Error("marker-assert")"#, "assertPositive"),
    );
    assert_eq!(
        frame.abs_path.as_deref(),
        Some(
            scratch
                .0
                .join("app/node_modules/orders/src/checks.ts")
                .to_str()
                .unwrap()
        )
    );
    assert_eq!(frame.lineno, Some(6));
    assert_eq!(frame.in_app, Some(false));
    assert_eq!(
        frame.context_line, None,
        "context is for application frames only"
    );
}

#[test]
fn next_build_sources_resolve_under_the_project_root() {
    let scratch = Scratch::new("next");
    let js = scratch.write(
        "shop/.next/server/app/api/route.js",
        fs::read_to_string(dist("plain.js")).unwrap().replace(
            "sourceMappingURL=plain.js.map",
            "sourceMappingURL=route.js.map",
        ),
    );
    scratch.write(
        "shop/.next/server/app/api/route.js.map",
        plain_map_with_sources(
            &[
                "webpack://_N_E/./app/api/route.ts",
                "webpack://_N_E/webpack/runtime/checks",
            ],
            false,
        ),
    );
    let route = scratch.write("shop/app/api/route.ts", original_source("app.ts"));
    let resolver = Resolver::new();

    let needle = r#"new Error("marker-method")"#;
    let app = resolve_one(&resolver, &frame_at(&js, needle, "OrderService.placeOrder"));
    assert_eq!(app.abs_path.as_deref(), route.to_str());
    assert_eq!(app.in_app, Some(true));
    assert_eq!(
        app.context_line.as_deref(),
        Some(r#"      throw new Error("marker-method");"#),
        "read from the route on disk"
    );

    let runtime = resolve_one(
        &resolver,
        &frame_at(&js, r#"new Error("marker-assert")"#, "assertPositive"),
    );
    assert_eq!(
        runtime.abs_path.as_deref(),
        Some("webpack://_N_E/webpack/runtime/checks")
    );
    assert_eq!(runtime.in_app, Some(false));
}

/// The fingerprint hashes in-app frames only, so resolving a frame through a map must not move
/// it in or out of the app: a frame V8 printed for a file, left as it is, and a bundle's frame
/// that a map resolves to that same file get the same `in_app`. Both frames come from
/// `stack::parse`, as on the worker.
#[test]
fn mapped_and_unmapped_frames_of_one_file_agree_on_in_app() {
    let scratch = Scratch::new("in-app-agree");
    // Files under the scratch directory that are never written: nothing maps them.
    let file = |rel: &str| scratch.0.join(rel).to_str().unwrap().to_owned();
    let cases = [
        (file("shop/app/api/route.ts"), true),
        (file("shop/.next/server/webpack-runtime.js"), false),
        (file("shop/.next/server/webpack-api-runtime.js"), false),
        (
            file("shop/.next/server/chunks/ssr/[turbopack]_runtime.js"),
            false,
        ),
        (
            file("shop/node_modules/next/dist/server/base-server.js"),
            false,
        ),
        ("webpack-internal:///(rsc)/./app/page.tsx".to_owned(), true),
        ("webpack://_N_E/webpack/bootstrap".to_owned(), false),
        ("webpack://next/dist/compiled/react.js".to_owned(), false),
        (
            "turbopack:///[turbopack]/shared/runtime-utils.ts".to_owned(),
            false,
        ),
        ("node:internal/process/task_queues".to_owned(), false),
    ];
    let needle = r#"new Error("marker-assert")"#;
    let (line, col) = position(&fs::read_to_string(dist("plain.js")).unwrap(), needle);
    let parsed = |path: &str| -> Frame {
        let frames = crate::stack::parse(&format!(
            "Error: x\n    at assertPositive ({path}:{line}:{col})"
        ));
        assert_eq!(frames.len(), 1, "{path}");
        frames[0].clone()
    };

    for (i, (path, expected)) in cases.iter().enumerate() {
        let js = scratch.write(
            &format!("{i}/plain.js"),
            fs::read(dist("plain.js")).unwrap(),
        );
        scratch.write(
            &format!("{i}/plain.js.map"),
            plain_map_with_sources(&[path, path], true),
        );
        let resolver = Resolver::new();
        let mapped = resolve_one(&resolver, &parsed(js.to_str().unwrap()));
        assert_eq!(mapped.abs_path.as_deref(), Some(path.as_str()), "mapped");
        let unmapped = resolve_one(&resolver, &parsed(path));
        assert_eq!(
            unmapped.abs_path.as_deref(),
            Some(path.as_str()),
            "unmapped"
        );
        assert_eq!(unmapped.lineno, Some(line), "no map touched {path}");

        assert_eq!(
            mapped.in_app, unmapped.in_app,
            "{path}: mapped and unmapped frames disagree"
        );
        assert_eq!(unmapped.in_app, Some(*expected), "{path}");
    }
}

#[test]
fn file_urls_name_the_same_bundle() {
    let resolver = Resolver::new();
    let js = dist("min.js");
    let mut frame = frame_at(&js, r#"new Error("marker-assert")"#, "u");
    frame.abs_path = Some(url::Url::from_file_path(&js).unwrap().to_string());
    let frame = resolve_one(&resolver, &frame);
    assert_at(
        &frame,
        "checks.ts",
        r#"new Error("marker-assert")"#,
        "assertPositive",
    );
}

// --- Debug ids -------------------------------------------------------------------------------

#[test]
fn debug_ids_from_the_comment_or_the_map() {
    const ID: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
    let resolver = Resolver::new();
    let injected = dist("debugid.js");
    assert_eq!(
        resolver.debug_id(injected.to_str().unwrap()).as_deref(),
        Some(ID)
    );
    assert_eq!(resolver.debug_id(dist("min.js").to_str().unwrap()), None);
    assert_eq!(resolver.debug_id("node:events"), None);
    assert_eq!(resolver.debug_id("/no/such/file.js"), None);
    // The injected copy still resolves like the bundle it was made from.
    let frame = resolve_one(
        &resolver,
        &frame_at(&injected, r#"new Error("marker-assert")"#, "u"),
    );
    assert_at(
        &frame,
        "checks.ts",
        r#"new Error("marker-assert")"#,
        "assertPositive",
    );

    let scratch = Scratch::new("debug-id");
    let text = fs::read_to_string(&injected).unwrap();
    // Maps uploaded to Sentry and deleted from the server: only the comment is left.
    let without_map = scratch.write("only-comment.js", &text);
    assert_eq!(
        resolver.debug_id(without_map.to_str().unwrap()).as_deref(),
        Some(ID)
    );
    // No comment: the map's field (here only the legacy `debug_id` spelling).
    let without_comment = scratch.write(
        "only-map.js",
        text.replace(&format!("//# debugId={ID}\n"), ""),
    );
    let mut map: serde_json::Value =
        serde_json::from_slice(&fs::read(dist("debugid.js.map")).unwrap()).unwrap();
    map.as_object_mut().unwrap().remove("debugId");
    scratch.write("debugid.js.map", map.to_string());
    assert_eq!(
        resolver
            .debug_id(without_comment.to_str().unwrap())
            .as_deref(),
        Some(ID)
    );
}

// --- Caching ---------------------------------------------------------------------------------

fn set_modified(path: &Path, time: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn a_rebuilt_bundle_is_read_again_and_an_unchanged_one_is_not() {
    let scratch = Scratch::new("rebuild");
    let js = scratch.write("dist/plain.js", fs::read(dist("plain.js")).unwrap());
    let map_path = scratch.write(
        "dist/plain.js.map",
        plain_map_with_sources(&["../src/app.ts", "../src/v1.ts"], true),
    );
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    set_modified(&js, t0);
    set_modified(&map_path, t0);
    let resolver = Resolver::with_recheck(Duration::ZERO);
    let frame = frame_at(&js, r#"new Error("marker-assert")"#, "assertPositive");
    let path_of = |resolver: &Resolver| resolve_one(resolver, &frame).abs_path.unwrap();
    assert!(path_of(&resolver).ends_with("src/v1.ts"));

    // Same length, same time: taken for the same file, so the parsed map is used as it was.
    let v2 = plain_map_with_sources(&["../src/app.ts", "../src/v2.ts"], true);
    fs::write(&map_path, &v2).unwrap();
    set_modified(&map_path, t0);
    assert!(
        path_of(&resolver).ends_with("src/v1.ts"),
        "served from the cache"
    );

    // A rebuild touches the files.
    set_modified(&map_path, t0 + Duration::from_secs(60));
    assert!(path_of(&resolver).ends_with("src/v2.ts"), "map re-read");
    fs::write(&js, "// rebuilt without a map\n").unwrap();
    let mut moved = frame.clone();
    moved.lineno = Some(1);
    assert_eq!(resolve_one(&resolver, &moved), moved, "bundle re-read");
}

#[test]
fn a_rebuild_is_seen_once_the_recheck_window_has_passed_and_not_before() {
    let scratch = Scratch::new("recheck");
    let js = scratch.write("dist/plain.js", fs::read(dist("plain.js")).unwrap());
    let map_path = scratch.write(
        "dist/plain.js.map",
        plain_map_with_sources(&["../src/app.ts", "../src/v1.ts"], true),
    );
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    set_modified(&js, t0);
    set_modified(&map_path, t0);
    // Longer than any run of this test: the window ends only when the cache's clock is moved
    // on, however slow the machine.
    let window = Duration::from_secs(3600);
    let resolver = Resolver::with_recheck(window);
    let frame = frame_at(&js, r#"new Error("marker-assert")"#, "assertPositive");
    let path_of = |resolver: &Resolver| resolve_one(resolver, &frame).abs_path.unwrap();
    assert!(path_of(&resolver).ends_with("src/v1.ts"));

    fs::write(
        &map_path,
        plain_map_with_sources(&["../src/app.ts", "../src/v2.ts"], true),
    )
    .unwrap();
    set_modified(&map_path, t0 + Duration::from_secs(60));
    // Within the window the stamp read a moment ago is trusted.
    assert!(
        path_of(&resolver).ends_with("src/v1.ts"),
        "no stat within the window"
    );
    resolver.stamps.advance(window);
    assert!(
        path_of(&resolver).ends_with("src/v2.ts"),
        "re-read after the window"
    );
}

#[test]
fn resolver_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Resolver>();

    let resolver = Resolver::new();
    let frame = frame_at(
        &dist("min.js"),
        r#"new Error("marker-method")"#,
        "a.placeOrder",
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let resolved = resolve_one(&resolver, &frame);
                    assert_eq!(
                        resolved.function.as_deref(),
                        Some("OrderService.placeOrder")
                    );
                }
            });
        }
    });
}

/// An inline map longer than the tail that is searched for comments: the comment line starts
/// before the tail, so the whole file has to be read to find it.
#[test]
fn inline_map_longer_than_the_searched_tail() {
    let scratch = Scratch::new("big-inline");
    let mut map: serde_json::Value =
        serde_json::from_slice(&fs::read(dist("plain.js.map")).unwrap()).unwrap();
    map["x_padding"] = serde_json::json!("p".repeat(3 * locate::TAIL_BYTES as usize));
    let src = fixtures().join("src");
    map["sources"] = serde_json::json!([src.join("app.ts"), src.join("checks.ts")]);
    let url = format!(
        "data:application/json;charset=utf-8;base64,{}",
        data_encoding::BASE64.encode(map.to_string().as_bytes())
    );
    let js = scratch.write(
        "big.js",
        fs::read_to_string(dist("plain.js"))
            .unwrap()
            .replace("plain.js.map", &url),
    );
    let needle = r#"new Error("marker-method")"#;
    let frame = resolve_one(
        &Resolver::new(),
        &frame_at(&js, needle, "OrderService.placeOrder"),
    );
    assert_at(&frame, "app.ts", needle, "OrderService.placeOrder");
}

/// A chunk from a real `next build` (Next.js 16, Turbopack) of
/// `fixtures/next/app/api/screen/route.ts`, with the positions and names V8 printed when the
/// route threw under `next start`. The map's node_modules `sourcesContent` is dropped to keep
/// the fixture small; the chunk was renamed from `[root-of-the-server]__….js`.
#[test]
fn a_next_build_route_chunk_resolves_to_the_route_file() {
    let next = fixtures().join("next");
    let chunk = next.join(".next/server/chunks/route-chunk.js");
    let at = |col: u64, function: Option<&str>| Frame {
        function: function.map(str::to_owned),
        abs_path: Some(chunk.to_string_lossy().into_owned()),
        filename: Some(chunk.to_string_lossy().into_owned()),
        lineno: Some(1),
        colno: Some(col),
        in_app: Some(true),
        ..Frame::default()
    };
    let resolver = Resolver::new();
    let mut frames = [at(358, Some("t")), at(326, None)];
    resolver.resolve(&mut frames);
    let route = next
        .join("app/api/screen/route.ts")
        .to_string_lossy()
        .into_owned();
    let [caller, thrower] = frames;
    assert_eq!(thrower.abs_path.as_deref(), Some(route.as_str()));
    assert_eq!(thrower.lineno, Some(3), "the throw in lookupSubject");
    // The minifier inlined `lookupSubject` as an anonymous `function(e){throw …}(t)`, so V8
    // printed no name; the route file names it.
    assert_eq!(
        thrower.function.as_deref(),
        Some("lookupSubject"),
        "{thrower:?}"
    );
    assert_eq!(thrower.in_app, Some(true));
    assert!(
        thrower
            .context_line
            .as_deref()
            .unwrap_or("")
            .contains("marker-next-route"),
        "{thrower:?}"
    );
    assert_eq!(caller.abs_path.as_deref(), Some(route.as_str()));
    // The minifier inlined `screen` into the handler, which V8 printed as `t` (`GET`); the map
    // puts the call at line 8, the end of `screen`, so that is the function the frame shows,
    // as the source around it does (before issue 17 it read `GET`).
    assert_eq!(caller.lineno, Some(8), "{caller:?}");
    assert_eq!(caller.function.as_deref(), Some("screen"), "{caller:?}");
}

/// A server action, a server component and the library they call, from a real `next build`
/// (Next.js 16, Turbopack) under `next start`: `fixtures/next-example/`, with the positions and
/// names V8 printed. Turbopack emits `export function screenSubject(…)` as an anonymous
/// `function(a,c){…}` in the module's export list, so V8 prints no name for it, or one it made
/// up from the call path (`a.s.b.name`); the original source names both.
#[test]
fn a_turbopack_build_names_functions_from_the_original_source() {
    let dir = fixtures().join("next-example");
    let actions = dir.join("_1gcfe39bzp6dc._.js");
    let page = dir.join("[root-of-the-server]__0y5_0u8hl9rys._.js");
    let at = |file: &Path, col: u64, function: Option<&str>| Frame {
        function: function.map(str::to_owned),
        abs_path: Some(file.to_string_lossy().into_owned()),
        filename: Some(file.to_string_lossy().into_owned()),
        lineno: Some(1),
        colno: Some(col),
        in_app: Some(true),
        ..Frame::default()
    };
    let mut frames = [
        at(&actions, 613, None),
        at(&actions, 540, Some("a.s.b.name")),
        at(&actions, 200, Some("d")),
        at(&page, 1614, Some("d")),
    ];
    let resolver = Resolver::new();
    resolver.resolve(&mut frames);
    let expected = [
        (
            "lib/screening.ts",
            13,
            "screenSubject",
            "OFSI list unavailable",
        ),
        (
            "lib/screening.ts",
            20,
            "loadSubject",
            "has no screening record",
        ),
        (
            "app/actions.ts",
            6,
            "submitScreening",
            "screenSubject(String(",
        ),
        // The map names the file as a URL, `[id]` percent-encoded; the path is decoded.
        (
            "app/subjects/[id]/page.tsx",
            8,
            "Subject",
            "loadSubject(id)",
        ),
    ];
    for (frame, (file, line, function, code)) in frames.iter().zip(expected) {
        let abs_path = frame.abs_path.as_deref().unwrap_or("");
        assert!(abs_path.ends_with(file), "{frame:?}");
        assert_eq!(frame.lineno, Some(line), "{frame:?}");
        assert_eq!(frame.function.as_deref(), Some(function), "{frame:?}");
        assert_eq!(frame.in_app, Some(true), "{frame:?}");
        assert!(
            frame.context_line.as_deref().unwrap_or("").contains(code),
            "{frame:?}"
        );
    }

    // Whatever V8 printed, or if it printed nothing, the original source agrees.
    for (file, col, function) in [
        (&actions, 613, "screenSubject"),
        (&actions, 540, "loadSubject"),
        (&actions, 200, "submitScreening"),
        (&page, 1614, "Subject"),
    ] {
        for v8_name in [None, Some("zz"), Some("a.s.b.name")] {
            let frame = resolve_one(&resolver, &at(file, col, v8_name));
            assert_eq!(frame.function.as_deref(), Some(function), "{frame:?}");
        }
    }
    // The class's constructor, reached through `new b(…)` in those functions (V8 prints
    // `new b`, which the generated code defines as `class b`).
    let generated = fs::read_to_string(&actions).unwrap();
    let (_, col) = position(&generated, "super(a)");
    let constructor = resolve_one(&resolver, &at(&actions, col, None));
    assert_eq!(
        constructor.function.as_deref(),
        Some("new ScreeningError"),
        "{constructor:?}"
    );
    let constructor = resolve_one(&resolver, &at(&actions, col, Some("new b")));
    assert_eq!(
        constructor.function.as_deref(),
        Some("new ScreeningError"),
        "{constructor:?}"
    );
}

// --- Browser frames through the hidden maps ----------------------------------------------------

/// A browser frame at the minified fixture's throw, its chunk served at `url`.
fn browser_frame(url: &str, needle: &str, function: Option<&str>) -> Frame {
    let mut frame = frame_at(&dist("min.js"), needle, function.unwrap_or(""));
    frame.function = function.map(str::to_owned);
    frame.abs_path = Some(url.to_owned());
    frame.filename = Some(url.to_owned());
    frame
}

/// The minified fixture's map hidden as `hide-sourcemaps` hides a chunk's, sources written as
/// Turbopack writes them, and a resolver reading that folder.
fn hidden_min_map(scratch: &Scratch) -> Resolver {
    let mut map: serde_json::Value =
        serde_json::from_slice(&fs::read(dist("min.js.map")).unwrap()).unwrap();
    let sources: Vec<String> = map["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = s.as_str().unwrap().rsplit('/').next().unwrap();
            format!("turbopack:///[project]/app/{name}")
        })
        .collect();
    map["sources"] = serde_json::json!(sources);
    scratch.write("hidden/builds/b1/chunks/app-1a2b.js.map", map.to_string());
    scratch.write(
        "hidden/index.json",
        r#"{"version":1,"builds":[{"id":"b1","maps":[
            {"path":"/_next/static/chunks/app-1a2b.js","map":"builds/b1/chunks/app-1a2b.js.map"}]}]}"#,
    );
    let resolver = Resolver::new();
    resolver.set_sourcemaps_dir(&scratch.0.join("hidden"));
    resolver
}

#[test]
fn browser_frames_resolve_through_the_hidden_index_only() {
    let scratch = Scratch::new("hidden");
    let resolver = hidden_min_map(&scratch);
    let needle = r#"new RangeError("marker-arrow")"#;
    for url in [
        "https://example.test/_next/static/chunks/app-1a2b.js",
        "https://cdn.example.net/assets/_next/static/chunks/app-1a2b.js?dpl=dpl_1",
        "https://example.test/screening/_next/static/chunks/app-1a2b.js",
    ] {
        // The browser printed the minified name, or none.
        for v8_name in [Some("b"), None] {
            let frame = resolve_one(&resolver, &browser_frame(url, needle, v8_name));
            let abs_path = frame.abs_path.as_deref().unwrap();
            assert!(abs_path.ends_with("/app/app.ts"), "{frame:?}");
            assert_eq!(frame.filename.as_deref(), Some("app/app.ts"), "{frame:?}");
            assert_eq!(frame.function.as_deref(), Some("validateOrder"));
            assert_eq!(frame.in_app, Some(true));
            let (line, _) = position(&original_source("app.ts"), needle);
            assert_eq!(frame.lineno, Some(line));
            assert!(frame.context_line.as_deref().unwrap().contains(needle));
            assert_eq!(frame.pre_context.len(), 5, "context from sourcesContent");
        }
    }
    // The SDK names the URL in `filename` only.
    let mut only_filename = browser_frame(
        "https://example.test/_next/static/chunks/app-1a2b.js",
        needle,
        None,
    );
    only_filename.abs_path = None;
    let frame = resolve_one(&resolver, &only_filename);
    assert_eq!(
        frame.function.as_deref(),
        Some("validateOrder"),
        "{frame:?}"
    );

    // Unknown chunks, and paths that try to climb out, stay as the browser sent them.
    for url in [
        "https://example.test/_next/static/chunks/other.js",
        "https://example.test/_next/static/chunks/../../hidden/builds/b1/chunks/app-1a2b.js",
        "https://example.test/_next/static/%2e%2e/index.json",
        "https://example.test/app-1a2b.js",
    ] {
        let frame = browser_frame(url, needle, Some("b"));
        assert_eq!(resolve_one(&resolver, &frame), frame, "{url}");
    }
}

#[test]
fn browser_frames_resolve_by_debug_id_when_the_path_is_unknown() {
    let scratch = Scratch::new("hidden-debug-id");
    let resolver = hidden_min_map(&scratch);
    scratch.write(
        "hidden/index.json",
        r#"{"version":1,"builds":[{"id":"b1","maps":[
            {"path":"/_next/static/chunks/renamed.js","map":"builds/b1/chunks/app-1a2b.js.map",
             "debugId":"c0ffee00-1234-4abc-8def-0123456789ab"}]}]}"#,
    );
    let url = "https://example.test/_next/static/chunks/app-1a2b.js";
    let needle = r#"new RangeError("marker-arrow")"#;
    let mut frames = [browser_frame(url, needle, None)];
    resolver.resolve_with_debug_ids(
        &mut frames,
        &[(
            url.to_owned(),
            "C0FFEE00-1234-4ABC-8DEF-0123456789AB".to_owned(),
        )],
    );
    assert_eq!(frames[0].function.as_deref(), Some("validateOrder"));
    let mut frames = [browser_frame(url, needle, None)];
    resolver.resolve(&mut frames);
    assert_eq!(
        frames[0].function, None,
        "no debug id, no such path: left alone"
    );
}
