// The package's entry point. `binding.js` is the loader `napi build` generates: it picks the
// prebuilt binary for this machine, from a `.node` file next to it or from the platform package
// (`@calmony/error-tracker-<platform>`) npm installed as an optional dependency. When none
// loads, napi's own message blames an npm bug; this one says what to do: build it, in a source
// checkout or a package packed from one (neither has a platform package to install), or install
// the package that has the binary, or, on a platform with none, build from source.
'use strict';

let binding;
try {
  binding = require('./binding.js');
} catch (err) {
  throw explain(err);
}
// One assignment per export, so that Node's ESM loader (cjs-module-lexer) sees the names and
// `import { trackError } from '@calmony/error-tracker'` works. `trackError` goes through its
// JavaScript fast path; `captureFields`, that path's native half, is not API. `handleTunnel`
// reads the Web `Request` in JavaScript; `tunnelCheck` and `tunnelAccept` are its native half.
module.exports.configuration = binding.configuration;
module.exports.handleTunnel = require('./src/tunnel/handle.js').makeHandleTunnel(binding);
module.exports.stats = binding.stats;
module.exports.verifyAuditTrail = binding.verifyAuditTrail;

// Scopes and breadcrumbs (src/capture/scope.js): every capture merges the process-wide scope,
// the request's and `withScope`'s under the call's own. The natives take that merged scope as
// a last argument that `index.d.ts` does not show.
const scopes = require('./src/capture/scope.js');
scopes.instrumentServers();
scopes.instrumentConsole();
scopes.instrumentOutgoing();
scopes.connect(binding);
const { fastTrackError, isNextControlFlow } = require('./src/capture/fast.js');
const trackErrorFast = fastTrackError(binding);
module.exports.trackError = function trackError(error, context, scope) {
  if (isNextControlFlow(error)) return '';
  const id = trackErrorFast(error, context, scopes.captureScope(scope, false));
  scopes.deliverBeforeFreeze();
  return id;
};
module.exports.onRequestError = function onRequestError(error, request, context) {
  const id = binding.onRequestError(error, request, context, scopes.captureScope(undefined, true));
  scopes.deliverBeforeFreeze();
  return id;
};
module.exports.errorResponse = function errorResponse(error, extra) {
  const body = binding.errorResponse(error, extra, scopes.captureScope(undefined, false));
  scopes.deliverBeforeFreeze();
  return body;
};
module.exports.internalServerError = function internalServerError(error, extra) {
  const response = binding.internalServerError(error, extra, scopes.captureScope(undefined, false));
  scopes.deliverBeforeFreeze();
  return response;
};
// Release-health counts go over at most once a minute; `close()` hands over the rest.
module.exports.flush = function flush(timeoutMs) {
  scopes.handOverSessions(false);
  return binding.flush(timeoutMs);
};
module.exports.close = function close(timeoutMs) {
  scopes.handOverSessions(true);
  return binding.close(timeoutMs);
};
module.exports.captureMessage = function captureMessage(message, level, scope) {
  const id = binding.captureMessage(message, level, scopes.scopeFor(scope));
  scopes.deliverBeforeFreeze();
  return id;
};
module.exports.init = function init(options) {
  binding.init(scopes.nativeOptions(options));
  scopes.configure(options);
};
module.exports.setUser = (user) => void scopes.isolationScope().setUser(user);
module.exports.setTag = (key, value) => void scopes.isolationScope().setTag(key, value);
module.exports.setTags = (tags) => void scopes.isolationScope().setTags(tags);
module.exports.setContext = (name, context) => void scopes.isolationScope().setContext(name, context);
module.exports.addBreadcrumb = (crumb) => void scopes.isolationScope().addBreadcrumb(crumb);
module.exports.withScope = scopes.withScope;
module.exports.getCurrentScope = scopes.currentScope;
module.exports.getIsolationScope = scopes.isolationScope;

function explain(cause) {
  if (/version mismatch/.test(String(cause && cause.message))) return cause;
  const { existsSync } = require('fs');
  const { join } = require('path');
  const { name, napi, optionalDependencies = {} } = require('./package.json');
  const platform = thisPlatform();
  const prebuilt = napi.targets.map(platformOf);
  // A source checkout (installed with `npm install /path/to/checkout`, which links it, or run
  // in place): its binary is built there, never installed.
  const checkout = existsSync(join(__dirname, 'Cargo.toml')) && existsSync(join(__dirname, 'src', 'lib.rs'));
  // Published, and packed by `npm run pack:local`, the package lists its platform packages as
  // optional dependencies. Without that list it was packed from a checkout with `npm pack`, which
  // ships no binary, and the platform package it would name was never published.
  const published = Object.keys(optionalDependencies).some((dep) => dep.startsWith(`${name}-`));
  const message = checkout
    ? `${name}: the native binary for ${platform} is not built. This is a source checkout ` +
      `(${__dirname}): run \`npm run build\` there (needs Rust), or \`npm run pack:local\` ` +
      `there and install both tarballs from its pack/ folder. The load errors are in this ` +
      `error's cause.`
    : !published
      ? `${name}: this copy has no native binary. It was packed from a source checkout ` +
        `(\`npm pack\` ships no binary), not published, so there is no ${name}-${platform} ` +
        `package to install. In the checkout, run \`npm run pack:local\` (needs Rust) and ` +
        `install both tarballs from its pack/ folder. The load errors are in this error's cause.`
      : prebuilt.includes(platform)
        ? `${name}: the native binary for ${platform} did not load. It comes in the package ` +
          `${name}-${platform}, an optional dependency that npm can skip ` +
          `(https://github.com/npm/cli/issues/4828). Install it with ` +
          `\`npm install ${name}-${platform}\`, or remove node_modules and package-lock.json and ` +
          `run \`npm install\` again. The load errors are in this error's cause.`
        : `${name}: there is no prebuilt binary for ${platform}. Prebuilt binaries exist for ` +
          `${prebuilt.join(', ')}; on another platform, build from source with \`npm run build\` ` +
          `(needs Rust).`;
  const error = new Error(message);
  error.code = 'ERR_ERROR_TRACKER_BINARY';
  error.cause = cause;
  return error;
}

// This machine as napi names platform packages: linux-x64-gnu, darwin-arm64, win32-x64-msvc…
function thisPlatform() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  let glibc = false;
  try {
    glibc = Boolean(process.report.getReport().header.glibcVersionRuntime);
  } catch {}
  return `${base}-${glibc ? 'gnu' : 'musl'}`;
}

// A Rust target triple as a napi platform name: x86_64-unknown-linux-gnu → linux-x64-gnu.
function platformOf(triple) {
  const [cpu, , os, abi] = triple.split('-');
  const arch = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[cpu] ?? cpu;
  if (os === 'darwin') return `darwin-${arch}`;
  if (os === 'windows') return `win32-${arch}-${abi}`;
  return `${os}-${arch}-${abi}`;
}
