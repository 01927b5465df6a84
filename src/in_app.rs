//! Whether a frame's file is application code: the one `in_app` rule.
//!
//! Every frame gets its `in_app` here, both as `stack::parse` builds it from V8's text and as a
//! source map rewrites it to the original file. The fingerprint hashes in-app frames only, so
//! two rules would let the same error group differently depending on whether a map resolved a
//! frame (`.next/server/webpack-runtime.js` once counted as the app's unmapped and not mapped).
//!
//! Not application code, as Sentry's JavaScript SDKs decide:
//! - runtime internals: `node:` modules, native and `<anonymous>` code and bare relative names
//!   (`events.js`, `internal/...`, `evalmachine.<anonymous>`). The Node parser's
//!   `filenameIsInApp` (getsentry/sentry-javascript, `packages/core/src/utils/node-stack-trace.ts`)
//!   counts only absolute POSIX and Windows paths, paths starting with `.` and URLs with an
//!   authority (`file://`, `webpack-internal://`) as application code;
//! - dependencies: anything under `node_modules` (the same function);
//! - the bundler's runtime. `@sentry/nextjs` sets `in_app: false` on Next.js's framework and
//!   webpack runtime chunks (`clientNormalizationIntegration.ts`, for the browser's chunks); the
//!   server has its own: `webpack-runtime.js` and `webpack-api-runtime.js` in `.next/server/`,
//!   Turbopack's `[turbopack]_runtime.js`, and in source maps the modules webpack and Turbopack
//!   generate (`webpack://<ns>/webpack/bootstrap`, `webpack/runtime/...`, `external "x"`,
//!   `turbopack:///[turbopack]/...`) and Next.js's own precompiled code
//!   (`webpack://next/...`).

use crate::stack::{has_drive_letter, has_url_authority};

/// True when the code at `path` (a frame's `abs_path`: a path or URL) belongs to the
/// application. See the module documentation for the rule.
pub fn is_in_app(path: &str) -> bool {
    is_app_shaped(path) && !is_dependency(path) && !is_bundler_runtime(path)
}

/// The SDK's `filenameIsInApp` without its `node_modules` check: what the runtime prints for
/// its own code never looks like a file of the application.
fn is_app_shaped(p: &str) -> bool {
    if p.starts_with("node:") || p.starts_with('<') || p.contains("<anonymous>") {
        return false;
    }
    p.starts_with('/')
        || p.starts_with('\\')
        || p.starts_with('.')
        || has_drive_letter(p)
        || has_url_authority(p)
}

fn is_dependency(p: &str) -> bool {
    p.contains("node_modules/") || p.contains("node_modules\\")
}

/// Files the bundler writes itself, by name, wherever the build directory is.
const RUNTIME_FILES: &[&str] = &[
    "webpack-runtime.js",
    "webpack-api-runtime.js",
    "[turbopack]_runtime.js",
];

fn is_bundler_runtime(p: &str) -> bool {
    let file = p.rsplit(['/', '\\']).next().unwrap_or(p);
    if RUNTIME_FILES.contains(&file) || p.starts_with("turbopack:///[turbopack]/") {
        return true;
    }
    let Some((namespace, module)) = webpack_module(p) else {
        return false;
    };
    // A module from a file is named by its path (`./app/page.tsx`); what webpack generates is
    // named `webpack/...`, `(webpack)/...` or `external ...`.
    namespace == "next"
        || module.starts_with("webpack/")
        || module.starts_with("(webpack)/")
        || module.starts_with("external ")
}

/// `(namespace, module)` of a `webpack://<namespace>/<module>` or `webpack-internal://` name.
fn webpack_module(p: &str) -> Option<(&str, &str)> {
    let rest = p
        .strip_prefix("webpack://")
        .or_else(|| p.strip_prefix("webpack-internal://"))?;
    rest.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_code() {
        for path in [
            "/home/u/app/x.js",
            "/app/src/a.ts",
            "C:\\Users\\app\\x.js",
            "C:/Users/app/x.mjs",
            "\\\\server\\share\\x.js",
            "./relative/x.js",
            "file:///home/u/app/x.mjs",
            "https://example.com/x.ts",
            "webpack://x/./a.ts",
            "webpack://_N_E/./app/api/route.ts",
            "webpack:///./lib/db.ts",
            "webpack-internal:///./app/page.tsx",
            "webpack-internal:///(rsc)/./app/page.tsx",
            "turbopack:///[project]/app/page.tsx",
            // Application chunks hold the app's code, whatever else is bundled with it.
            "/srv/shop/.next/server/app/api/route.js",
            "/srv/shop/.next/server/chunks/ssr/[root-of-the-server]__0y5_0u8hl9rys._.js",
            // A project that happens to be called `next`, or to have a `webpack` folder.
            "/srv/next/dist/server.js",
            "/srv/app/webpack/runtime/x.js",
            "/srv/app/src/webpack-runtime-config.ts",
        ] {
            assert!(is_in_app(path), "{path} should be in app");
        }
    }

    #[test]
    fn runtime_internals() {
        for path in [
            "",
            "node:internal/process/task_queues",
            "node:events",
            "<anonymous>",
            "evalmachine.<anonymous>",
            "native",
            "internal/modules/cjs/loader.js",
            "events.js",
            "<data:text/javascript>",
        ] {
            assert!(!is_in_app(path), "{path} should not be in app");
        }
    }

    #[test]
    fn dependencies() {
        for path in [
            "/app/node_modules/lodash/index.js",
            "/app/node_modules/next/dist/server/base-server.js",
            "C:\\app\\node_modules\\lodash\\index.js",
            "file:///app/node_modules/x/y.mjs",
            "webpack-internal:///(rsc)/./node_modules/next/dist/server/x.js",
        ] {
            assert!(!is_in_app(path), "{path} should not be in app");
        }
    }

    #[test]
    fn bundler_runtime() {
        for path in [
            "/app/.next/server/webpack-runtime.js",
            "/app/.next/server/webpack-api-runtime.js",
            "C:\\app\\.next\\server\\webpack-runtime.js",
            "/app/.next/server/chunks/ssr/[turbopack]_runtime.js",
            "/app/.next/server/chunks/[turbopack]_runtime.js",
            "turbopack:///[turbopack]/shared/runtime-utils.ts",
            "webpack:///webpack/bootstrap",
            "webpack://_N_E/webpack/bootstrap",
            "webpack://_N_E/webpack/runtime/make namespace object",
            "webpack:///(webpack)/buildin/global.js",
            "webpack://_N_E/external commonjs \"next/dist/compiled/next-server/app-page.runtime.prod.js\"",
            "webpack://_N_E/external node-commonjs \"crypto\"",
            "webpack://next/dist/compiled/react.js",
        ] {
            assert!(!is_in_app(path), "{path} should not be in app");
        }
    }
}
