//! On the worker, right after the stack is parsed (and before the fingerprint, which keys on
//! `abs_path`): frames in generated code (a bundle, transpiled output) rewritten to the
//! original sources through their source maps, as Node's `--enable-source-maps` and Sentry's
//! symbolicator would show them.
//!
//! - `locate`: which map a generated file has (its last `sourceMappingURL` comment, an inline
//!   `data:` URL, a sibling `.map`) and its Sentry debug id.
//! - `paths`: where each original source lives, and whether it is application code.
//! - `names`: the original name of the function a frame is in, from the name V8 printed.
//! - `enclosing`: the name of the function around a position in the original source, for
//!   frames V8 printed no name for, or a name the generated code does not define.
//! - `context`: the source lines around a frame.
//! - `cache`: what was read, kept by path and checked against the file's stamp.
//! - `indexed`: browser frames (`https://host/_next/static/…js`), through the private folder of
//!   maps `error-tracker hide-sourcemaps` fills, by key only.
//!
//! A worker resolves every frame of every event, so nothing is read or parsed twice while the
//! file on disk is unchanged: each distinct file costs a `stat` per event (two with an external
//! map). Whatever goes wrong (no map, a broken map, a position the map does not cover) leaves
//! the frame as V8 reported it.

mod cache;
mod context;
mod enclosing;
mod indexed;
mod locate;
mod names;
mod paths;
#[cfg(test)]
mod tests;

pub use indexed::{DEFAULT_DIR, DIR_VARIABLE};

use cache::{Lru, Stamp, Stamps};
use locate::MapSource;
use parking_lot::Mutex;
use paths::Source;
use sentry_types::protocol::v7::Frame;
use sourcemap::{DecodedMap, SourceMap, SourceView};
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Parsed maps kept at once, and the bytes they may hold (map plus generated text, as read).
const MAX_MAPS: usize = 64;
const MAX_MAP_BYTES: usize = 64 << 20;
/// Generated files remembered as having no usable map (most of `node_modules`), so that their
/// tails are not read again for every event. Each costs a path and a stamp.
const MAX_UNMAPPED: usize = 4096;
/// Original sources read from disk for context lines when the map does not embed them.
const MAX_SOURCES: usize = 256;
const MAX_SOURCE_BYTES: usize = 16 << 20;
/// Larger maps and source files are not read at all: parsing them would stall the worker, and
/// no build emits them for server code.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// A generated file larger than this is not kept in memory, so its frames' names come only from
/// the original sources (`enclosing`), not from V8's (locations and context are still resolved).
const MAX_GENERATED_BYTES: u64 = 32 << 20;
/// Function names remembered per map, by frame position.
const MAX_NAMES: usize = 4096;
/// How long a file's stamp is trusted before it is checked again: a deploy that rebuilds the
/// bundles in place is picked up within this.
const RECHECK: Duration = Duration::from_secs(1);

/// Resolves frames through source maps; cheap to share (`&self`), caches parsed maps and files.
pub struct Resolver {
    mapped: Mutex<Lru<Arc<Mapped>>>,
    unmapped: Mutex<Lru<Unmapped>>,
    sources: Mutex<Lru<Arc<SourceFile>>>,
    stamps: Stamps,
    /// Display paths are relative to the working directory when the resolver was made.
    cwd: Option<PathBuf>,
    /// The browser's maps, hidden by `error-tracker hide-sourcemaps`.
    hidden: indexed::Folder,
}

/// A generated file with a usable map.
struct Mapped {
    stamp: Stamp,
    map_file: Option<MapFile>,
    map: SourceMap,
    /// The generated text, for the definitions of minified function names.
    generated: Option<SourceView>,
    /// `map`'s sources, resolved once, by source id.
    sources: Vec<Source>,
    debug_id: Option<String>,
    cost: usize,
    names: Mutex<HashMap<NameKey, Option<String>>>,
}

/// A frame's 0-based generated position and the name V8 printed for it, if any: what its
/// original function name is remembered by.
type NameKey = (u32, u32, Option<String>);

/// An external map file and its stamp when read, checked along with the generated file.
type MapFile = (PathBuf, Stamp);

/// A generated file without a usable map. It may still carry a debug id: the usual production
/// setup uploads maps to Sentry and deletes them from the server.
#[derive(Clone)]
struct Unmapped {
    stamp: Stamp,
    debug_id: Option<Arc<str>>,
}

enum Known {
    Mapped(Arc<Mapped>),
    Unmapped(Unmapped),
}

struct SourceFile {
    stamp: Stamp,
    view: SourceView,
}

/// Files already looked up while resolving one event, so that each is checked once.
#[derive(Default)]
struct Seen<'d> {
    debug_ids: &'d [(String, String)],
    bundles: Vec<(String, Option<Arc<Mapped>>)>,
    sources: Vec<(PathBuf, Option<Arc<SourceFile>>)>,
}

/// What resolution changes in a frame, computed before anything is written to it.
struct Resolved {
    abs_path: String,
    filename: String,
    lineno: u64,
    colno: u64,
    function: Option<String>,
    in_app: bool,
    context: Option<Frame>,
}

impl Resolver {
    pub fn new() -> Resolver {
        Resolver::with_recheck(RECHECK)
    }

    /// A resolver that trusts a file's stamp for `recheck` after reading it.
    pub fn with_recheck(recheck: Duration) -> Resolver {
        let cwd = std::env::current_dir().ok();
        Resolver {
            mapped: Mutex::new(Lru::new(MAX_MAPS, MAX_MAP_BYTES)),
            unmapped: Mutex::new(Lru::new(MAX_UNMAPPED, usize::MAX)),
            sources: Mutex::new(Lru::new(MAX_SOURCES, MAX_SOURCE_BYTES)),
            stamps: Stamps::new(recheck),
            hidden: indexed::Folder::from_env(cwd.as_deref()),
            cwd,
        }
    }

    /// Where browser frames find their maps from now on: the folder `error-tracker
    /// hide-sourcemaps` wrote (`sourcemapsDir`). Until called, `ERROR_TRACKER_SOURCEMAPS_DIR`
    /// or `.error-tracker/sourcemaps` in the working directory.
    pub fn set_sourcemaps_dir(&self, dir: &Path) {
        self.hidden.set_dir(dir);
    }

    /// Rewrites each frame that has a source map to its original file, line, column and function
    /// name, and fills pre_context/context_line/post_context (5 lines each side) for in_app
    /// frames from the map's sourcesContent or else the source file on disk. A missing or broken
    /// map leaves the frame as it was; never panics, never fails the event.
    ///
    /// A browser frame (`https://host/_next/static/chunks/…js`, in `abs_path` or `filename`) is
    /// resolved only through the maps `error-tracker hide-sourcemaps` indexed, by its URL's
    /// `/_next/static/…` path (see `resolve_with_debug_ids` for debug ids).
    pub fn resolve(&self, frames: &mut [Frame]) {
        self.resolve_with_debug_ids(frames, &[]);
    }

    /// `resolve`, where a browser frame whose chunk the index does not know by path is looked
    /// up by the Sentry debug id the event's `debug_meta` gives its URL: `(code_file,
    /// debug_id)` pairs, as the browser SDK lists `sourcemap` images.
    pub fn resolve_with_debug_ids(&self, frames: &mut [Frame], debug_ids: &[(String, String)]) {
        let mut seen = Seen {
            debug_ids,
            ..Seen::default()
        };
        for frame in frames.iter_mut() {
            // A map is untrusted input to a parser we do not own: if anything in there panics,
            // this frame stays as V8 printed it and the event goes on.
            let resolved =
                panic::catch_unwind(AssertUnwindSafe(|| self.resolve_frame(frame, &mut seen)));
            if let Ok(Some(r)) = resolved {
                apply(frame, r);
            }
        }
    }

    /// Context lines from the frame's own file, for an in-app frame that no map resolved
    /// (plain JavaScript, or a bundle whose map is missing or broken), as Sentry's ContextLines
    /// integration reads them.
    pub fn context_from_file(&self, frame: &mut Frame) {
        if frame.in_app != Some(true) || frame.context_line.is_some() {
            return;
        }
        let (Some(abs_path), Some(lineno)) = (frame.abs_path.as_deref(), frame.lineno) else {
            return;
        };
        let Some(path) = locate::frame_path(abs_path) else {
            return;
        };
        let colno = frame.colno.unwrap_or(1);
        let filled = panic::catch_unwind(AssertUnwindSafe(|| {
            let file = self.source_once(&path, &mut Seen::default())?;
            let mut with_context = Frame::default();
            context::fill(
                &mut with_context,
                &file.view,
                u32::try_from(lineno).ok()?,
                u32::try_from(colno).ok()?,
            );
            Some(with_context)
        }));
        if let Ok(Some(c)) = filled {
            frame.pre_context = c.pre_context;
            frame.context_line = c.context_line;
            frame.post_context = c.post_context;
        }
    }

    /// The Sentry debug id of the bundle at `abs_path`, if it carries one (`//# debugId=<uuid>`
    /// comment as written by `sentry-cli sourcemaps inject`, or a `debug_id`/`debugId` field in
    /// its map).
    pub fn debug_id(&self, abs_path: &str) -> Option<String> {
        panic::catch_unwind(AssertUnwindSafe(|| match self.lookup(abs_path)? {
            Known::Mapped(m) => m.debug_id.clone(),
            Known::Unmapped(u) => u.debug_id.as_deref().map(str::to_owned),
        }))
        .ok()
        .flatten()
    }

    fn resolve_frame(&self, frame: &Frame, seen: &mut Seen) -> Option<Resolved> {
        // The browser SDK names a frame's URL in `filename` (and `abs_path` after Relay).
        let abs_path = frame.abs_path.as_deref().or_else(|| {
            frame
                .filename
                .as_deref()
                .filter(|f| indexed::url_key(f).is_some())
        })?;
        let mapped = self.mapped_once(abs_path, seen)?;
        let line = u32::try_from(frame.lineno?.checked_sub(1)?).ok()?;
        let col = u32::try_from(frame.colno.unwrap_or(1).saturating_sub(1)).ok()?;

        let token = mapped.map.lookup_token(line, col)?;
        // The nearest token before the position may sit on an earlier line when this line has
        // no mappings (code the bundler added); it says nothing about this line.
        if token.get_dst_line() != line || !token.has_source() || token.get_src_line() == !0 {
            return None;
        }
        let source = mapped.sources.get(token.get_src_id() as usize)?;
        let lineno = token.get_src_line().saturating_add(1);
        let colno = token.get_src_col().saturating_add(1);

        // The original text: embedded in the map, else (for application code only, as for
        // context lines) the file on disk.
        let embedded = mapped.map.get_source_view(token.get_src_id());
        let from_disk = match (embedded, source.in_app, source.disk.as_deref()) {
            (None, true, Some(path)) => self.source_once(path, seen),
            _ => None,
        };
        let original = embedded.or(from_disk.as_deref().map(|f| &f.view));

        let context = source.in_app.then(|| {
            let mut with_context = Frame::default();
            if let Some(view) = original {
                context::fill(&mut with_context, view, lineno, colno);
            }
            with_context
        });
        let function = mapped.function_name(line, col, frame.function.as_deref(), || {
            let view = original?;
            let dialect = enclosing::Dialect::of(&source.abs_path)?;
            let at = names::byte_offset(view, token.get_src_line(), token.get_src_col())?;
            enclosing::function_at(view.source(), at, dialect)
        });

        Some(Resolved {
            abs_path: source.abs_path.clone(),
            filename: source.filename.clone(),
            lineno: lineno.into(),
            colno: colno.into(),
            function,
            in_app: source.in_app,
            context,
        })
    }

    fn mapped_once(&self, abs_path: &str, seen: &mut Seen) -> Option<Arc<Mapped>> {
        if let Some((_, known)) = seen.bundles.iter().find(|(p, _)| p == abs_path) {
            return known.clone();
        }
        let known = match indexed::url_key(abs_path) {
            Some(_) => self.lookup_hidden(abs_path, seen.debug_ids),
            None => match self.lookup(abs_path) {
                Some(Known::Mapped(m)) => Some(m),
                _ => None,
            },
        };
        seen.bundles.push((abs_path.to_owned(), known.clone()));
        known
    }

    fn source_once(&self, path: &Path, seen: &mut Seen) -> Option<Arc<SourceFile>> {
        if let Some((_, known)) = seen.sources.iter().find(|(p, _)| p == path) {
            return known.clone();
        }
        let known = self.source_file(path);
        seen.sources.push((path.to_path_buf(), known.clone()));
        known
    }

    /// The hidden map of the chunk at `url`, by its path key, else by the debug id `debug_ids`
    /// gives the URL; from the cache while the map file is unchanged.
    fn lookup_hidden(&self, url: &str, debug_ids: &[(String, String)]) -> Option<Arc<Mapped>> {
        let entry = self.hidden.entry_for_url(url, &self.stamps).or_else(|| {
            let (_, id) = debug_ids.iter().find(|(code_file, _)| code_file == url)?;
            self.hidden.entry_for_debug_id(id, &self.stamps)
        })?;
        let stamp = self.stamps.read(&entry.map)?;
        let cached = self.mapped.lock().get(&entry.map);
        if let Some(m) = cached.filter(|m| m.stamp == stamp) {
            return Some(m);
        }
        let key = indexed::url_key(url)?;
        let mapped = Arc::new(load_hidden(&entry, stamp, &key, self.cwd.as_deref())?);
        self.mapped
            .lock()
            .insert(entry.map.clone(), mapped.clone(), mapped.cost);
        Some(mapped)
    }

    /// What is known about the generated file at `abs_path`, from the cache while the file (and
    /// its map file) are unchanged, else freshly read.
    fn lookup(&self, abs_path: &str) -> Option<Known> {
        let path = locate::frame_path(abs_path)?;
        let stamp = self.stamps.read(&path)?;
        let cached = self.mapped.lock().get(&path);
        if let Some(m) = cached {
            if m.stamp == stamp && m.map_file_unchanged(&self.stamps) {
                return Some(Known::Mapped(m));
            }
        }
        let cached = self.unmapped.lock().get(&path);
        if let Some(u) = cached {
            if u.stamp == stamp {
                return Some(Known::Unmapped(u));
            }
        }
        // Read and parse without holding a lock: another worker may need a different file
        // meanwhile. Two threads loading the same file at once both parse it; the last one
        // stored wins, which is harmless.
        let known = load(&path, stamp, self.cwd.as_deref());
        match &known {
            Known::Mapped(m) => {
                if let Some((map_path, map_stamp)) = &m.map_file {
                    self.stamps.remember(map_path, *map_stamp);
                }
                self.unmapped.lock().remove(&path);
                self.mapped.lock().insert(path, m.clone(), m.cost);
            }
            Known::Unmapped(u) => {
                self.mapped.lock().remove(&path);
                self.unmapped.lock().insert(path, u.clone(), 0);
            }
        }
        Some(known)
    }

    /// An original source file read from disk, for context lines.
    fn source_file(&self, path: &Path) -> Option<Arc<SourceFile>> {
        let stamp = self.stamps.read(path)?;
        let cached = self.sources.lock().get(path);
        if let Some(file) = cached.filter(|f| f.stamp == stamp) {
            return Some(file);
        }
        if stamp.len() > MAX_FILE_BYTES {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let file = Arc::new(SourceFile {
            stamp,
            view: SourceView::from_string(text),
        });
        self.sources
            .lock()
            .insert(path.to_path_buf(), file.clone(), bytes.len());
        Some(file)
    }
}

impl Default for Resolver {
    fn default() -> Resolver {
        Resolver::new()
    }
}

impl Mapped {
    fn map_file_unchanged(&self, stamps: &Stamps) -> bool {
        self.map_file
            .as_ref()
            .is_none_or(|(path, stamp)| stamps.read(path) == Some(*stamp))
    }

    /// The original name for a frame V8 named `v8_name` at this 0-based position; `None` to
    /// keep what V8 printed. Remembered per position, since the same errors recur.
    ///
    /// The function around the position in the original source decides (`enclosing`, computed
    /// by `in_original`): a minifier inlines small functions into their callers, so the
    /// function V8 ran (`GET`) may not be the one whose line the map gives (`loadList`'s).
    /// The name V8 printed, translated through the generated code (`names`), is kept when it
    /// names the same function, for what V8 adds around it (`Object.handleRequest`, `new
    /// Order`, `[as run]`). When the original source names no function there (an anonymous
    /// callback, the module's top level, no source at hand), the translated name stands as
    /// before, or, if the generated code does not define it (`a.s.b.name`, made up from how an
    /// anonymous function was reached), the printed name stays as it was, whole: half of it
    /// translated would name nothing.
    fn function_name(
        &self,
        line: u32,
        col: u32,
        v8_name: Option<&str>,
        in_original: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        let key = (line, col, v8_name.map(str::to_owned));
        if let Some(known) = self.names.lock().get(&key) {
            return known.clone();
        }
        let from_generated = match (v8_name, &self.generated) {
            (Some(name), Some(generated)) => names::original(&self.map, generated, line, col, name),
            _ => names::Original::default(),
        };
        let translated = from_generated
            .own_name_found
            .then(|| from_generated.name.or_else(|| v8_name.map(str::to_owned)))
            .flatten();
        let found = match (in_original(), translated) {
            (Some(scope), Some(translated)) if own_name(&scope) == own_name(&translated) => {
                Some(translated)
            }
            (Some(scope), _) => Some(scope),
            (None, translated) => translated,
        };
        let mut memo = self.names.lock();
        if memo.len() >= MAX_NAMES {
            memo.clear();
        }
        memo.insert(key, found.clone());
        found
    }
}

/// Reads what the generated file at `path` says about its map, and the map itself.
fn load(path: &Path, stamp: Stamp, cwd: Option<&Path>) -> Known {
    let unmapped = |debug_id: Option<String>| {
        Known::Unmapped(Unmapped {
            stamp,
            debug_id: debug_id.map(Arc::from),
        })
    };
    if stamp.len() > MAX_FILE_BYTES {
        return unmapped(None);
    }
    let Ok((directives, text)) = locate::read_directives(path, stamp.len()) else {
        return unmapped(None);
    };
    let source = match &directives.map_url {
        Some(url) => locate::map_source(url, path),
        None => {
            let mut sibling = path.as_os_str().to_owned();
            sibling.push(".map");
            let sibling = PathBuf::from(sibling);
            sibling.is_file().then_some(MapSource::File(sibling))
        }
    };
    let read = match source {
        Some(MapSource::Inline(bytes)) => Some((bytes, None)),
        Some(MapSource::File(map_path)) => read_map_file(map_path),
        None => None,
    };
    let Some((bytes, map_file)) = read else {
        return unmapped(directives.debug_id);
    };
    let Some((map, map_debug_id)) = parse(&bytes) else {
        return unmapped(directives.debug_id);
    };

    let text = match text {
        Some(text) => Some(text),
        None if stamp.len() <= MAX_GENERATED_BYTES => std::fs::read(path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        None => None,
    };
    let map_dir = map_file
        .as_ref()
        .map_or(path, |(p, _)| p.as_path())
        .parent()
        .unwrap_or(Path::new("/"));
    let base = paths::Base::new(map_dir, path, cwd);
    let sources = (0..map.get_source_count())
        .map(|i| base.resolve(map.get_source(i).unwrap_or_default()))
        .collect();
    // Decoded tokens outweigh their few bytes of VLQ; count them as held in memory.
    let tokens = map.get_token_count() as usize * std::mem::size_of::<sourcemap::RawToken>();
    let cost = bytes.len() + tokens + text.as_ref().map_or(0, String::len);
    Known::Mapped(Arc::new(Mapped {
        stamp,
        map_file,
        map,
        generated: text.map(SourceView::from_string),
        sources,
        debug_id: directives.debug_id.or(map_debug_id),
        cost,
        names: Mutex::new(HashMap::new()),
    }))
}

/// A hidden browser map, for the chunk served at `key` (`/_next/static/chunks/x.js`). Its
/// sources resolve as if the map were still at `.next/static/chunks/x.js.map` under the
/// working directory (the project root under `next start`), so `webpack://_N_E/./app/…` and
/// `turbopack:///[project]/app/…` name the app's files. Context comes from `sourcesContent`
/// only: nothing about a browser frame reads the disk outside the folder.
fn load_hidden(
    entry: &indexed::Entry,
    stamp: Stamp,
    key: &str,
    cwd: Option<&Path>,
) -> Option<Mapped> {
    let bytes = indexed::read_private(&entry.map)?;
    let (map, map_debug_id) = parse(&bytes)?;
    let served = cwd
        .unwrap_or(Path::new("/"))
        .join(".next")
        .join(key.strip_prefix("/_next/")?);
    let base = paths::Base::new(served.parent()?, &served, cwd);
    let sources = (0..map.get_source_count())
        .map(|i| Source {
            disk: None,
            ..base.resolve(map.get_source(i).unwrap_or_default())
        })
        .collect();
    let tokens = map.get_token_count() as usize * std::mem::size_of::<sourcemap::RawToken>();
    Some(Mapped {
        stamp,
        map_file: None,
        cost: bytes.len() + tokens,
        map,
        generated: None,
        sources,
        debug_id: entry.debug_id.clone().or(map_debug_id),
        names: Mutex::new(HashMap::new()),
    })
}

fn read_map_file(path: PathBuf) -> Option<(Vec<u8>, Option<MapFile>)> {
    let stamp = Stamp::read(&path)?;
    if stamp.len() > MAX_FILE_BYTES {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    Some((bytes, Some((path, stamp))))
}

/// A map as one flat `SourceMap` (an index map's sections merged), with its debug id.
fn parse(bytes: &[u8]) -> Option<(SourceMap, Option<String>)> {
    let decoded = sourcemap::decode_slice(bytes).ok()?;
    let debug_id = decoded
        .debug_id()
        .and_then(|id| locate::normalize_debug_id(&id.to_string()));
    let map = match decoded {
        DecodedMap::Regular(map) => map,
        // Sections that reference other map files by URL cannot be flattened; such an index
        // counts as broken.
        DecodedMap::Index(index) => index.flatten().ok()?,
        DecodedMap::Hermes(hermes) => SourceMap::clone(&hermes),
    };
    Some((map, debug_id))
}

/// The function's own name in a name as V8 or `enclosing` write it: `placeOrder` in
/// `Object.placeOrder [as run]` and `OrderService.placeOrder`, `Order` in `new Order`.
fn own_name(name: &str) -> &str {
    let name = name.strip_prefix("new ").unwrap_or(name);
    let name = &name[..name.find(" [as ").unwrap_or(name.len())];
    name.rsplit('.').next().unwrap_or(name)
}

fn apply(frame: &mut Frame, r: Resolved) {
    frame.abs_path = Some(r.abs_path);
    frame.filename = Some(r.filename);
    frame.lineno = Some(r.lineno);
    frame.colno = Some(r.colno);
    if r.function.is_some() {
        frame.function = r.function;
    }
    frame.in_app = Some(r.in_app);
    if let Some(context) = r.context {
        frame.pre_context = context.pre_context;
        frame.context_line = context.context_line;
        frame.post_context = context.post_context;
    }
}
