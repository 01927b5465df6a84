//! Browser frames: a chunk the browser ran (`https://host/_next/static/chunks/…js`) is mapped
//! through the private folder `error-tracker hide-sourcemaps` fills (`bin/hide-sourcemaps.mjs`),
//! never through anything the browser serves or the client names.
//!
//! The frame's URL is reduced to a key, the path from `/_next/static/` on: whatever comes
//! before it (the origin, an `assetPrefix` on a CDN, a `basePath`) and the query (`?dpl=…`,
//! Vercel's deployment id) and fragment after it are dropped. The key only selects an entry of
//! `index.json`; a key that is not there resolves nothing. A URL whose path has a `.` or `..`
//! segment (plain or percent-encoded), a backslash, a `%` left after decoding (double encoding)
//! or a control character has no key at all. The map file an entry names is checked the same
//! way, relative to the folder, and opened without following a symbolic link.
//!
//! `index.json`, as `hide-sourcemaps` writes it (newest build first; an entry of a newer
//! build wins over an older build's with the same key):
//!
//! ```json
//! { "version": 1,
//!   "builds": [ { "id": "<BUILD_ID>", "time": "…",
//!                 "maps": [ { "path": "/_next/static/chunks/x.js",
//!                             "map": "builds/<BUILD_ID>/chunks/x.js.map",
//!                             "debugId": "…" } ] } ] }
//! ```

use super::cache::{Stamp, Stamps};
use parking_lot::{Mutex, RwLock};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder's default, relative to the working directory: where `hide-sourcemaps` puts it
/// when `next start` runs in the project root beside `.next`.
pub const DEFAULT_DIR: &str = ".error-tracker/sourcemaps";
/// Read by the CLI as well, so one setting serves the build and the server.
pub const DIR_VARIABLE: &str = "ERROR_TRACKER_SOURCEMAPS_DIR";
const INDEX_FILE: &str = "index.json";
const VERSION: u32 = 1;
/// Larger index or map files are not read.
const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Where a chunk's URL path starts to name the chunk.
const STATIC_PREFIX: &str = "/_next/static/";

/// The index key of a frame's URL: `/_next/static/chunks/x.js`; `None` for anything that is
/// not an http(s) URL of a Next.js static chunk, or that tries to climb out of it.
pub fn url_key(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    if !url[..scheme_end].eq_ignore_ascii_case("https")
        && !url[..scheme_end].eq_ignore_ascii_case("http")
    {
        return None;
    }
    let rest = &url[scheme_end + 3..];
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let path = &rest[rest.find('/')?..];
    let raw_chunk = &path[path.find(STATIC_PREFIX)? + STATIC_PREFIX.len()..];
    let chunk = percent_decode_str(raw_chunk).decode_utf8().ok()?;
    if !is_relative_path(&chunk) || chunk.contains('%') {
        return None;
    }
    // Dot segments anywhere before the prefix too: `/a/../_next/static/x.js` is refused, not
    // read as `/_next/static/x.js` as a browser would normalise it.
    let before = percent_decode_str(&path[..path.find(STATIC_PREFIX)?]).decode_utf8_lossy();
    if before.split('/').any(|s| s == "." || s == "..") {
        return None;
    }
    Some(format!("{STATIC_PREFIX}{chunk}"))
}

/// Whether `path` is a relative path of plain segments (`a/b.js`): no empty, `.` or `..`
/// segment, no backslash, drive or control character.
fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment
                    .chars()
                    .any(|c| c.is_control() || c == '\\' || c == ':')
        })
}

/// One entry of the index: where the map of a served chunk is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The map file, inside the folder.
    pub map: PathBuf,
    pub debug_id: Option<String>,
}

#[derive(Default)]
struct Index {
    by_path: HashMap<String, Entry>,
    by_debug_id: HashMap<String, Entry>,
}

#[derive(Deserialize)]
struct IndexFile {
    version: u32,
    builds: Vec<BuildFile>,
}

#[derive(Deserialize)]
struct BuildFile {
    maps: Vec<EntryFile>,
}

#[derive(Deserialize)]
struct EntryFile {
    path: String,
    map: String,
    #[serde(rename = "debugId")]
    debug_id: Option<String>,
}

impl Index {
    /// The index in `bytes`, entries whose map path is not a plain relative path left out.
    fn parse(dir: &Path, bytes: &[u8]) -> Option<Index> {
        let file: IndexFile = serde_json::from_slice(bytes).ok()?;
        if file.version != VERSION {
            return None;
        }
        let mut index = Index::default();
        for entry in file.builds.into_iter().flat_map(|b| b.maps) {
            if !is_relative_path(&entry.map) || !entry.path.starts_with(STATIC_PREFIX) {
                continue;
            }
            let resolved = Entry {
                map: dir.join(&entry.map),
                debug_id: entry
                    .debug_id
                    .as_deref()
                    .and_then(super::locate::normalize_debug_id),
            };
            if let Some(id) = &resolved.debug_id {
                index
                    .by_debug_id
                    .entry(id.clone())
                    .or_insert_with(|| resolved.clone());
            }
            index.by_path.entry(entry.path).or_insert(resolved);
        }
        Some(index)
    }
}

/// The folder of hidden maps and its index, read again when `index.json` changes.
pub struct Folder {
    dir: RwLock<PathBuf>,
    loaded: Mutex<Option<(PathBuf, Stamp, Arc<Index>)>>,
}

impl Folder {
    /// The folder named by `ERROR_TRACKER_SOURCEMAPS_DIR`, else the default under `cwd`, until
    /// `set_dir` says otherwise (`init`'s `sourcemapsDir`).
    pub fn from_env(cwd: Option<&Path>) -> Folder {
        let dir = std::env::var_os(DIR_VARIABLE)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| cwd.unwrap_or(Path::new(".")).join(DEFAULT_DIR));
        Folder {
            dir: RwLock::new(dir),
            loaded: Mutex::new(None),
        }
    }

    pub fn set_dir(&self, dir: &Path) {
        if *self.dir.read() != dir {
            *self.dir.write() = dir.to_path_buf();
        }
    }

    /// The entry for a browser frame's URL, by its path key.
    pub fn entry_for_url(&self, url: &str, stamps: &Stamps) -> Option<Entry> {
        let key = url_key(url)?;
        self.index(stamps)?.by_path.get(&key).cloned()
    }

    /// The entry for a Sentry debug id (from the event's `debug_meta`).
    pub fn entry_for_debug_id(&self, debug_id: &str, stamps: &Stamps) -> Option<Entry> {
        let id = super::locate::normalize_debug_id(debug_id)?;
        self.index(stamps)?.by_debug_id.get(&id).cloned()
    }

    fn index(&self, stamps: &Stamps) -> Option<Arc<Index>> {
        let dir = self.dir.read().clone();
        let path = dir.join(INDEX_FILE);
        let stamp = stamps.read(&path)?;
        if let Some((p, s, index)) = &*self.loaded.lock() {
            if *p == path && *s == stamp {
                return Some(index.clone());
            }
        }
        let bytes = read_private(&path)?;
        let index = Arc::new(Index::parse(&dir, &bytes)?);
        *self.loaded.lock() = Some((path, stamp, index.clone()));
        Some(index)
    }
}

/// A file of the folder, read whole; never through a symbolic link, never past the size cap.
pub fn read_private(path: &Path) -> Option<Vec<u8>> {
    let file = crate::files::read_regular(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_INDEX_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_INDEX_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_drop_origin_asset_prefix_base_path_and_query() {
        let key = Some("/_next/static/chunks/app/page-1a2b.js".to_owned());
        for url in [
            "https://example.test/_next/static/chunks/app/page-1a2b.js",
            "http://127.0.0.1:3000/_next/static/chunks/app/page-1a2b.js",
            // basePath
            "https://example.test/screening/_next/static/chunks/app/page-1a2b.js",
            // assetPrefix on a CDN, with a path of its own
            "https://cdn.example.net/assets/v2/_next/static/chunks/app/page-1a2b.js",
            // Vercel's deployment id, and a fragment
            "https://example.test/_next/static/chunks/app/page-1a2b.js?dpl=dpl_5x9Q",
            "https://example.test/_next/static/chunks/app/page-1a2b.js?dpl=a&b=c#x",
            "HTTPS://example.test/_next/static/chunks/app/page-1a2b.js",
            // percent-encoded characters of an ordinary name
            "https://example.test/_next/static/chunks/app/page%2D1a2b.js",
        ] {
            assert_eq!(url_key(url), key, "{url}");
        }
        assert_eq!(
            url_key("https://x.test/_next/static/chunks/%5Broot%5D__0y5._.js").as_deref(),
            Some("/_next/static/chunks/[root]__0y5._.js"),
            "Turbopack's bracketed names arrive percent-encoded"
        );
    }

    #[test]
    fn no_key_for_paths_files_or_other_schemes() {
        for url in [
            "/srv/app/.next/static/chunks/a.js",
            "/_next/static/chunks/a.js",
            "file:///srv/app/.next/static/chunks/a.js",
            "webpack://_N_E/./app/page.tsx",
            "app:///_next/static/chunks/a.js",
            "https://example.test/static/chunks/a.js",
            "https://example.test/_next/static/",
            "https://example.test/_next/static",
            "https://example.test/?u=/_next/static/chunks/a.js",
            "https://example.test#/_next/static/chunks/a.js",
            "<anonymous>",
            "",
        ] {
            assert_eq!(url_key(url), None, "{url}");
        }
    }

    #[test]
    fn traversal_in_any_spelling_has_no_key() {
        for url in [
            "https://x.test/_next/static/../../../etc/passwd",
            "https://x.test/_next/static/chunks/../../BUILD_ID",
            "https://x.test/_next/static/./chunks/a.js",
            "https://x.test/_next/static/%2e%2e/%2E%2E/etc/passwd",
            "https://x.test/_next/static/.%2e/server/app.js",
            "https://x.test/_next/static/chunks%2f..%2f..%2findex.json",
            "https://x.test/_next/static/%252e%252e/index.json",
            "https://x.test/_next/static/..%5c..%5cindex.json",
            "https://x.test/_next/static/chunks\\..\\a.js",
            "https://x.test/_next/static//etc/passwd",
            "https://x.test/_next/static/chunks//a.js",
            "https://x.test/_next/static/C:/a.js",
            "https://x.test/_next/static/chunks/a.js%00.map",
            "https://x.test/a/../_next/static/chunks/a.js",
            "https://x.test/%2e%2e/_next/static/chunks/a.js",
            "https://x.test/_next/static/%ff.js",
        ] {
            assert_eq!(url_key(url), None, "{url}");
        }
    }

    fn folder_with(index: &str) -> (PathBuf, Folder) {
        let dir =
            std::env::temp_dir().join(format!("et-indexed-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(INDEX_FILE), index).unwrap();
        let folder = Folder::from_env(None);
        folder.set_dir(&dir);
        (dir, folder)
    }

    #[test]
    fn newest_build_wins_and_map_paths_stay_inside() {
        let (dir, folder) = folder_with(
            r#"{"version":1,"builds":[
              {"id":"new","maps":[
                {"path":"/_next/static/chunks/a.js","map":"builds/new/chunks/a.js.map",
                 "debugId":"C0FFEE00-1234-4ABC-8DEF-0123456789AB"},
                {"path":"/_next/static/chunks/evil.js","map":"../../etc/passwd"},
                {"path":"/_next/static/chunks/abs.js","map":"/etc/passwd"},
                {"path":"/elsewhere/b.js","map":"builds/new/b.js.map"}]},
              {"id":"old","maps":[
                {"path":"/_next/static/chunks/a.js","map":"builds/old/chunks/a.js.map"},
                {"path":"/_next/static/chunks/gone.js","map":"builds/old/chunks/gone.js.map"}]}]}"#,
        );
        let stamps = Stamps::new(std::time::Duration::ZERO);
        let at = |url: &str| folder.entry_for_url(url, &stamps).map(|e| e.map);
        assert_eq!(
            at("https://x.test/_next/static/chunks/a.js?dpl=1"),
            Some(dir.join("builds/new/chunks/a.js.map"))
        );
        assert_eq!(
            at("https://x.test/_next/static/chunks/gone.js"),
            Some(dir.join("builds/old/chunks/gone.js.map")),
            "a tab left open across a deploy still runs the old build's chunks"
        );
        assert_eq!(at("https://x.test/_next/static/chunks/evil.js"), None);
        assert_eq!(at("https://x.test/_next/static/chunks/abs.js"), None);
        assert_eq!(at("https://x.test/_next/static/chunks/other.js"), None);
        assert_eq!(
            folder
                .entry_for_debug_id("c0ffee0012344abc8def0123456789ab", &stamps)
                .map(|e| e.map),
            Some(dir.join("builds/new/chunks/a.js.map"))
        );

        // A new build's index is read again; a broken or foreign one resolves nothing.
        std::fs::write(dir.join(INDEX_FILE), r#"{"version":2,"builds":[]}"#).unwrap();
        assert_eq!(at("https://x.test/_next/static/chunks/a.js"), None);
        std::fs::write(dir.join(INDEX_FILE), "{").unwrap();
        assert_eq!(at("https://x.test/_next/static/chunks/a.js"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
