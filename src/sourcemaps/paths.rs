//! Where an original source lives: turning a map's `sources` entry into the path Sentry shows.
//! Whether it is application code is decided on that path by [`crate::in_app`], as for a frame
//! no map resolved.

use percent_encoding::percent_decode_str;
use std::cell::OnceCell;
use std::path::{Component, Path, PathBuf};
use url::Url;

use crate::in_app::is_in_app;

/// One entry of a map's `sources`, resolved once when the map is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The original file's absolute path; a URL or bundler-internal name as written when it is
    /// not a file (`webpack://next/dist/...`, `https://...`).
    pub abs_path: String,
    /// `abs_path` relative to the working directory when under it.
    pub filename: String,
    pub in_app: bool,
    /// Where to read the source for context lines when the map does not embed it.
    pub disk: Option<PathBuf>,
}

/// What a map's sources are relative to. Built once per map: finding the project root may
/// look for `package.json` up the tree, and a bundle's map can list thousands of sources.
pub struct Base<'a> {
    /// The map's directory (the generated file's, for an inline map).
    pub map_dir: &'a Path,
    pub generated: &'a Path,
    pub cwd: Option<&'a Path>,
    project_root: OnceCell<PathBuf>,
}

impl<'a> Base<'a> {
    pub fn new(map_dir: &'a Path, generated: &'a Path, cwd: Option<&'a Path>) -> Base<'a> {
        Base {
            map_dir,
            generated,
            cwd,
            project_root: OnceCell::new(),
        }
    }

    /// Resolves `source`, a map's `sources` entry with `sourceRoot` already applied.
    pub fn resolve(&self, source: &str) -> Source {
        let disk = self.disk_path(source);
        let abs_path = disk
            .as_deref()
            .map_or_else(|| source.to_owned(), |p| p.to_string_lossy().into_owned());
        let filename = disk
            .as_deref()
            .and_then(|p| p.strip_prefix(self.cwd?).ok())
            .filter(|rel| !rel.as_os_str().is_empty())
            .map_or_else(
                || abs_path.clone(),
                |rel| rel.to_string_lossy().into_owned(),
            );
        Source {
            in_app: is_in_app(&abs_path),
            abs_path,
            filename,
            disk,
        }
    }

    fn disk_path(&self, source: &str) -> Option<PathBuf> {
        if source.starts_with("file:") {
            return Url::parse(source).ok()?.to_file_path().ok();
        }
        // A map's sources are URLs: `app/subjects/%5Bid%5D/page.tsx` is the file in `[id]/`.
        let source = &*percent_decode_str(source).decode_utf8_lossy();
        // Bundlers name sources inside the project by a namespace URL; the path after it is
        // relative to the project root, where the bundler ran.
        if let Some(rest) = source.strip_prefix("turbopack:///[project]/") {
            return Some(normalize(&self.project_root().join(rest)));
        }
        if let Some(rest) = webpack_path(source) {
            if rest.starts_with('/') {
                return Some(normalize(Path::new(rest)));
            }
            if rest.starts_with("./") || rest.starts_with("../") {
                return Some(normalize(&self.project_root().join(rest)));
            }
            // `webpack/bootstrap`, `external commonjs "x"`: bundler internals, not files.
            return None;
        }
        if has_scheme(source) {
            return None;
        }
        Some(normalize(&self.map_dir.join(source)))
    }

    /// The directory the bundler ran in: the one holding `.next` for a Next.js build, else the
    /// nearest ancestor of the bundle with a `package.json`, else the map's directory.
    fn project_root(&self) -> &Path {
        self.project_root.get_or_init(|| {
            let mut dirs = self.generated.ancestors().skip(1);
            if let Some(next) = dirs
                .clone()
                .find(|d| d.file_name().is_some_and(|n| n == ".next"))
            {
                if let Some(parent) = next.parent() {
                    return parent.to_path_buf();
                }
            }
            dirs.find(|dir| dir.join("package.json").is_file())
                .map_or_else(|| self.map_dir.to_path_buf(), Path::to_path_buf)
        })
    }
}

/// The path after the namespace of a `webpack://<namespace>/<path>` source.
fn webpack_path(source: &str) -> Option<&str> {
    let rest = source.strip_prefix("webpack://")?;
    let slash = rest.find('/')?;
    Some(&rest[slash + 1..])
}

/// `scheme:` with at least two letters, so `C:\x` stays a path.
fn has_scheme(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Resolves `.` and `..` without touching the disk: the file may not exist here (a map built
/// elsewhere), and following symlinks would show a path the user never wrote.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(source: &str, map_dir: &str, generated: &str, cwd: Option<&str>) -> Source {
        Base::new(Path::new(map_dir), Path::new(generated), cwd.map(Path::new)).resolve(source)
    }

    fn abs(source: &str, map_dir: &str, generated: &str) -> String {
        resolve(source, map_dir, generated, None).abs_path
    }

    #[test]
    fn relative_sources_resolve_against_the_map() {
        assert_eq!(
            abs("../src/a.ts", "/app/dist", "/app/dist/a.js"),
            "/app/src/a.ts"
        );
        assert_eq!(abs("./b/../c.ts", "/app", "/app/x.js"), "/app/c.ts");
        assert_eq!(abs("/abs/x.ts", "/app", "/app/x.js"), "/abs/x.ts");
        assert_eq!(
            abs("file:///abs/y%20z.ts", "/app", "/app/x.js"),
            "/abs/y z.ts"
        );
        assert_eq!(
            abs("https://example.com/x.ts", "/app", "/app/x.js"),
            "https://example.com/x.ts"
        );
    }

    #[test]
    fn next_and_webpack_sources_resolve_under_the_project() {
        let gen = "/srv/shop/.next/server/app/api/route.js";
        let map_dir = "/srv/shop/.next/server/app/api";
        assert_eq!(
            abs("webpack://_N_E/./app/api/route.ts", map_dir, gen),
            "/srv/shop/app/api/route.ts"
        );
        assert_eq!(
            abs("webpack:///./lib/db.ts", map_dir, gen),
            "/srv/shop/lib/db.ts"
        );
        assert_eq!(
            abs("turbopack:///[project]/app/page.tsx", map_dir, gen),
            "/srv/shop/app/page.tsx"
        );
        // Sources are URLs: a dynamic segment's brackets arrive percent-encoded.
        assert_eq!(
            abs("../../../../app/subjects/%5Bid%5D/page.tsx", map_dir, gen),
            "/srv/shop/app/subjects/[id]/page.tsx"
        );
        assert_eq!(
            abs("turbopack:///[project]/app/my%20page.tsx", map_dir, gen),
            "/srv/shop/app/my page.tsx"
        );
        let runtime = resolve("webpack://_N_E/webpack/bootstrap", map_dir, gen, None);
        assert_eq!(runtime.abs_path, "webpack://_N_E/webpack/bootstrap");
        assert!(!runtime.in_app);
        assert_eq!(runtime.disk, None);
        let dep = resolve(
            "webpack://_N_E/./node_modules/zod/lib/index.js",
            map_dir,
            gen,
            None,
        );
        assert_eq!(dep.abs_path, "/srv/shop/node_modules/zod/lib/index.js");
        assert!(!dep.in_app);
    }

    #[test]
    fn filename_is_relative_to_the_working_directory() {
        let at = |source: &str| {
            resolve(
                source,
                "/srv/shop/dist",
                "/srv/shop/dist/a.js",
                Some("/srv/shop"),
            )
            .filename
        };
        assert_eq!(at("../src/a.ts"), "src/a.ts");
        assert_eq!(at("/elsewhere/b.ts"), "/elsewhere/b.ts");
        assert_eq!(
            at("webpack://x/webpack/runtime/y"),
            "webpack://x/webpack/runtime/y"
        );
    }
}
