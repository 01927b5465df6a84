//! Finding a generated file's source map and debug id: the comments at its end, a sibling
//! `.map`, or an inline `data:` URL.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use url::Url;

/// How much of a file's end is searched for its comments before reading the whole file. Bundlers
/// write them last; the whole file is read only when its last line is longer than this (an
/// inline map usually is).
pub const TAIL_BYTES: u64 = 64 * 1024;

/// The comments a bundler (`sourceMappingURL`) and `sentry-cli sourcemaps inject` (`debugId`)
/// leave at the end of a generated file.
#[derive(Debug, Default, PartialEq)]
pub struct Directives {
    pub map_url: Option<String>,
    pub debug_id: Option<String>,
}

impl Directives {
    /// Scans `text` from its end. The last comment of each kind wins, as in Node and browsers:
    /// a bundle that inlines a library keeps the library's comment somewhere above its own.
    pub fn scan(text: &str) -> Directives {
        let mut found = Directives::default();
        for line in text.lines().rev() {
            let line = line.trim();
            // `//#`, the legacy `//@`, and the block form `/*# … */` that Node also accepts.
            let Some(rest) = line
                .strip_prefix("//#")
                .or_else(|| line.strip_prefix("//@"))
                .or_else(|| line.strip_prefix("/*#")?.strip_suffix("*/"))
            else {
                continue;
            };
            let rest = rest.trim_start();
            if let Some(url) = rest.strip_prefix("sourceMappingURL=") {
                let url = url.trim();
                if found.map_url.is_none() && !url.is_empty() {
                    found.map_url = Some(url.to_owned());
                }
            } else if let Some(id) = rest.strip_prefix("debugId=") {
                if found.debug_id.is_none() {
                    found.debug_id = normalize_debug_id(id.trim());
                }
            }
            if found.map_url.is_some() && found.debug_id.is_some() {
                break;
            }
        }
        found
    }
}

/// A debug id in Sentry's canonical form (lowercase, hyphenated), or `None` if it is not one.
pub fn normalize_debug_id(id: &str) -> Option<String> {
    id.parse::<sentry_types::DebugId>()
        .ok()
        .filter(|d| !d.is_nil())
        .map(|d| d.to_string())
}

/// The end of a generated file, for its comments. Returns the directives found and, when the
/// whole file had to be read to find them, its text (the caller needs it anyway if there is a
/// map, and reading it twice would be waste).
pub fn read_directives(path: &Path, len: u64) -> std::io::Result<(Directives, Option<String>)> {
    let mut file = File::open(path)?;
    if len <= TAIL_BYTES {
        let mut text = String::new();
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        return Ok((Directives::scan(&text), Some(text)));
    }
    file.seek(SeekFrom::End(-(TAIL_BYTES as i64)))?;
    let mut bytes = Vec::with_capacity(TAIL_BYTES as usize);
    file.read_to_end(&mut bytes)?;
    let tail = String::from_utf8_lossy(&bytes);
    // The first line of the tail is cut; only whole lines are searched.
    let whole_lines = tail.find('\n').map(|nl| &tail[nl + 1..]);
    let found = Directives::scan(whole_lines.unwrap_or(""));
    if found.map_url.is_some() || whole_lines.is_some_and(|l| !l.trim().is_empty()) {
        return Ok((found, None));
    }
    // The tail is one cut line (an inline map longer than the tail, or a minified bundle with no
    // comment after it): only the whole file says what that line is.
    let mut bytes = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let from = text.len().saturating_sub(TAIL_BYTES as usize);
    let from = text[..text.floor_char_boundary(from)]
        .rfind('\n')
        .map_or(0, |nl| nl + 1);
    Ok((Directives::scan(&text[from..]), Some(text)))
}

/// Where a `sourceMappingURL` points.
#[derive(Debug, PartialEq)]
pub enum MapSource {
    /// The map's JSON, decoded from a `data:` URL.
    Inline(Vec<u8>),
    /// A map file on disk.
    File(PathBuf),
}

/// Resolves a `sourceMappingURL` against the generated file's location, the way Node does
/// (`new URL(url, pathToFileURL(generated))`). `None` for a URL that is not a local file or an
/// undecodable `data:` URL.
pub fn map_source(url: &str, generated: &Path) -> Option<MapSource> {
    if let Some(data) = url.strip_prefix("data:") {
        return decode_data_url(data).map(MapSource::Inline);
    }
    let base = Url::from_file_path(generated).ok()?;
    let resolved = base.join(url).ok()?;
    if resolved.scheme() != "file" {
        return None;
    }
    resolved.to_file_path().ok().map(MapSource::File)
}

/// The payload of a base64 `data:` URL (text after `data:`) with a JSON media type and any
/// parameters (`charset=utf-8`, `charset=UTF-8`, `charset:utf-8` from older webpack). The crate's
/// own `decode_data_url` accepts only the two exact spellings Chrome writes.
fn decode_data_url(data: &str) -> Option<Vec<u8>> {
    let (header, payload) = data.split_once(',')?;
    let mut params = header.split(';');
    let media_type = params.next()?.trim().to_ascii_lowercase();
    if !(media_type.is_empty() || media_type.ends_with("json") || media_type == "text/plain") {
        return None;
    }
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let payload = payload.trim();
    data_encoding::BASE64
        .decode(payload.as_bytes())
        .or_else(|_| data_encoding::BASE64_NOPAD.decode(payload.as_bytes()))
        .ok()
}

/// The filesystem path a frame's `abs_path` names: a plain absolute path or a `file://` URL.
/// `None` for `node:` built-ins, `<anonymous>`, `data:` modules and relative names.
pub fn frame_path(abs_path: &str) -> Option<PathBuf> {
    if abs_path.starts_with("file:") {
        return Url::parse(abs_path).ok()?.to_file_path().ok();
    }
    let path = Path::new(abs_path);
    path.is_absolute().then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_comment_wins_and_other_lines_are_ignored() {
        let js = "var a = 1;\n//# sourceMappingURL=lib.js.map\nvar b = '//# sourceMappingURL=str';\n\
                  //# debugId=C0FFEE00-1234-4ABC-8DEF-0123456789AB\n//@ sourceMappingURL=app.js.map \n\n";
        assert_eq!(
            Directives::scan(js),
            Directives {
                map_url: Some("app.js.map".into()),
                debug_id: Some("c0ffee00-1234-4abc-8def-0123456789ab".into()),
            }
        );
        assert_eq!(
            Directives::scan("x\n//# debugId=not-a-uuid\n").debug_id,
            None
        );
        assert_eq!(
            Directives::scan("x\n/*# sourceMappingURL=block.js.map */\n").map_url,
            Some("block.js.map".into())
        );
        assert_eq!(Directives::scan(""), Directives::default());
    }

    #[test]
    fn data_urls_in_their_spellings() {
        let b64 = data_encoding::BASE64.encode(b"{\"version\":3}");
        for prefix in [
            "application/json;base64",
            "application/json;charset=utf-8;base64",
            "application/json;charset=UTF-8;base64",
            "application/json;charset:utf-8;base64",
            "application/json; charset=utf8 ;base64",
        ] {
            let url = format!("data:{prefix},{b64}");
            assert_eq!(
                map_source(&url, Path::new("/x/a.js")),
                Some(MapSource::Inline(b"{\"version\":3}".to_vec())),
                "{prefix}"
            );
        }
        let unpadded = b64.trim_end_matches('=');
        assert!(map_source(
            &format!("data:application/json;base64,{unpadded}"),
            Path::new("/a.js")
        )
        .is_some());
        assert_eq!(
            map_source("data:application/json,{}", Path::new("/a.js")),
            None
        );
        assert_eq!(
            map_source("data:text/javascript;base64,e30=", Path::new("/a.js")),
            None
        );
        assert_eq!(
            map_source("data:application/json;base64,!!!", Path::new("/a.js")),
            None
        );
    }

    #[test]
    fn file_references_resolve_against_the_generated_file() {
        let gen = Path::new("/srv/app/dist/main.js");
        let file = |url: &str| map_source(url, gen);
        assert_eq!(
            file("main.js.map"),
            Some(MapSource::File("/srv/app/dist/main.js.map".into()))
        );
        assert_eq!(
            file("../maps/main%20x.js.map?v=3"),
            Some(MapSource::File("/srv/app/maps/main x.js.map".into()))
        );
        assert_eq!(
            file("/abs/main.js.map"),
            Some(MapSource::File("/abs/main.js.map".into()))
        );
        assert_eq!(
            file("file:///other/main.js.map"),
            Some(MapSource::File("/other/main.js.map".into()))
        );
        assert_eq!(file("https://cdn.example.com/main.js.map"), None);
    }

    #[test]
    fn frame_paths() {
        assert_eq!(frame_path("/a/b.js"), Some(PathBuf::from("/a/b.js")));
        assert_eq!(
            frame_path("file:///a/b%20c.mjs"),
            Some(PathBuf::from("/a/b c.mjs"))
        );
        for not_a_file in [
            "node:internal/x",
            "<anonymous>",
            "<data:text/javascript>",
            "x.js",
            "",
        ] {
            assert_eq!(frame_path(not_a_file), None, "{not_a_file}");
        }
    }
}
