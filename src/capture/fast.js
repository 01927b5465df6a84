// The JavaScript half of capture: `trackError`'s fast path. See fast.rs beside this file for
// why it exists. For a native Error with no `cause` or `errors`, whose context, scope and own
// properties JSON carries exactly, it reads the fields here and hands strings to the native
// `captureFields` in one call. For anything else it calls the native `trackError`, which
// copies any value; so does any exception thrown while reading (a getter, a Proxy trap).
// Each value is read once here: the check builds a copy of what it reads, and JSON.stringify
// writes that copy, never the caller's object, so a getter or a Proxy cannot pass the check
// with a small value and then hand JSON a huge one. A getter runs once here, and again
// natively only if this path gives up (the native copy has its own limits).
// Nothing here may change the event: the limits below keep to the ones the native copy has
// (src/capture/snapshot.rs, `Limits::CONTEXT`), on the safe side, and whatever JSON would
// write differently from it (undefined, NaN, big integers, dates, class instances, functions,
// lone surrogates, cycles) is left to the native copy.
'use strict';

// Levels of nesting copied here; deeper values go native (which marks them past 8).
const MAX_DEPTH = 6;
// Keys or items per object or array (native: 200, then a marker).
const MAX_BREADTH = 200;
// Values in all (native: 5,000, then markers).
const MAX_NODES = 4000;
// UTF-16 units of a string or key that surely fit the native byte limits (16 KiB and 256
// bytes, at most 3 UTF-8 bytes per unit), so nothing needs cutting.
const MAX_STRING = 5461;
const MAX_KEY = 85;
// Integers JSON and the native copy write alike (native: floats from 9e15 up).
const MAX_NUMBER = 9e15;
// The error's fields that are the exception itself, not its properties.
const NOT_PROPS = new Set(['name', 'message', 'stack', 'cause', 'errors']);

const objectToString = Object.prototype.toString;
const wellFormed = String.prototype.isWellFormed;
const hasOwnProperty = Object.prototype.hasOwnProperty;
const defineProperty = Object.defineProperty;

/** `trackError` with the fast path in front of `binding.trackError`. */
function fastTrackError(binding) {
  const { captureFields, trackError } = binding;
  if (typeof captureFields !== 'function' || typeof wellFormed !== 'function') return trackError;
  return function trackErrorFast(error, context, scope) {
    let id;
    try {
      id = fast(captureFields, error, context, scope);
    } catch {
      // Reading threw; the native copy reads it again and records what it can.
    }
    return typeof id === 'string' ? id : trackError(error, context, scope);
  };
}

function fast(captureFields, error, context, scope) {
  // Native errors only, as napi_is_error sees them: a Proxy or an object with its own
  // Symbol.toStringTag says something else.
  if (typeof error !== 'object' || error === null) return;
  if (objectToString.call(error) !== '[object Error]') return;
  if (error.cause !== undefined || Array.isArray(error.errors)) return;
  const message = error.message;
  if (typeof message !== 'string') return;
  const type = typeOf(error);
  if (type === undefined) return;
  const stack = error.stack;
  const props = ownProperties(error);
  if (props === null) return;
  const contextJson = json(context);
  if (contextJson === null) return;
  const scopeJson = json(scope);
  if (scopeJson === null) return;
  return captureFields(type, message, typeof stack === 'string' ? stack : undefined, props, contextJson, scopeJson);
}

// The exception type as the native copy names it: `name`, unless it is missing or plain
// "Error", then the constructor's name (`class NotFound extends Error {}`).
function typeOf(error) {
  const name = error.name;
  if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
  if (name !== undefined && typeof name !== 'string') return;
  const ctor = error.constructor;
  if (typeof ctor !== 'function') return 'Error';
  const ctorName = ctor.name;
  return typeof ctorName === 'string' && ctorName !== '' ? ctorName : 'Error';
}

// The error's own enumerable properties (`code`, `status`…) as JSON, `undefined` when there
// are none, `null` when JSON would not carry them exactly. Each is read once, into the copy
// that is serialised, with the limits of a context object. Object.keys, not for…in with an
// own-property check: for…in walks the prototype chain too, and on an Error that took 85 ns
// against 28 (200,000 errors, medians of 7, above the floor of reading `err.stack`).
function ownProperties(error) {
  const keys = Object.keys(error);
  let props;
  let n = 0;
  nodes = 1; // the properties' object, as a context object counts itself
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (NOT_PROPS.has(key)) continue;
    if (++n > MAX_BREADTH || key.length > MAX_KEY || !wellFormed.call(key)) return null;
    const item = exact(error[key], 1);
    if (item === NOT_EXACT) return null;
    props ??= {};
    put(props, key, item);
  }
  return props === undefined ? undefined : JSON.stringify(props);
}

// JSON text of a context or scope: `undefined` for none (null or undefined, as the native
// call treats them), `null` when JSON would not carry it exactly.
function json(value) {
  if (value === undefined || value === null) return undefined;
  nodes = 0;
  const copy = exact(value, 0);
  return copy === NOT_EXACT ? null : JSON.stringify(copy);
}

// What `exact` returns for a value JSON would not carry exactly. No copy is ever undefined
// (`exact` turns undefined away), so it needs no object of its own.
const NOT_EXACT = undefined;

// Values `exact` has looked at in the current check (a counter, not an object per call).
let nodes = 0;

// A copy of `value` made of plain data (strings, numbers, booleans, null, arrays and plain
// objects), reading each property once, or NOT_EXACT when JSON would not carry it exactly
// or it is past the limits. Only own enumerable keys are copied, as JSON and the native copy
// take them; an array's length is read once, so a getter that grows it cannot grow the copy.
function exact(value, depth) {
  if (++nodes > MAX_NODES) return NOT_EXACT;
  switch (typeof value) {
    case 'string':
      return value.length <= MAX_STRING && wellFormed.call(value) ? value : NOT_EXACT;
    case 'number':
      return value > -MAX_NUMBER && value < MAX_NUMBER ? value : NOT_EXACT;
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      return NOT_EXACT; // undefined, functions, symbols, bigints
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return NOT_EXACT;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) return NOT_EXACT;
    const length = value.length; // a Proxy's could be anything: only a whole number will do
    if (!(length >>> 0 === length && length <= MAX_BREADTH)) return NOT_EXACT;
    const out = [];
    for (let i = 0; i < length; i++) {
      const item = exact(value[i], depth + 1);
      if (item === NOT_EXACT) return NOT_EXACT;
      out.push(item);
    }
    return out;
  }
  // Plain objects only: a Date, a Map or a class instance is copied differently by JSON.
  if (proto !== Object.prototype && proto !== null) return NOT_EXACT;
  const out = {};
  let n = 0;
  for (const key in value) {
    // Enumerable keys that Object.prototype was given (by a library) are not the object's.
    // For a plain object V8 answers this check from the for…in cache: the JS half took 295 ns
    // with it, 296 without it and 319 with Object.keys (context {a,b,c}, 1,000,000 calls,
    // medians of 7).
    if (!hasOwnProperty.call(value, key)) continue;
    if (++n > MAX_BREADTH || key.length > MAX_KEY || !wellFormed.call(key)) return NOT_EXACT;
    const item = exact(value[key], depth + 1);
    if (item === NOT_EXACT) return NOT_EXACT;
    put(out, key, item);
  }
  return out;
}

// Sets `out[key]` as an own data property: assigning "__proto__" would set the prototype.
function put(out, key, item) {
  if (key === '__proto__') {
    defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
  } else {
    out[key] = item;
  }
}

// Next.js's control-flow throws (`redirect()`, `notFound()`, `forbidden()`, `unauthorized()`)
// are how a route says where to go, not errors; Next's own onRequestError skips them, and so
// does trackError. Next marks them by `digest`.
function isNextControlFlow(error) {
  if (typeof error !== 'object' || error === null) return false;
  let digest;
  try {
    digest = error.digest;
  } catch {
    return false;
  }
  return (
    typeof digest === 'string' &&
    (digest.startsWith('NEXT_REDIRECT') ||
      digest === 'NEXT_NOT_FOUND' ||
      digest.startsWith('NEXT_HTTP_ERROR_FALLBACK;'))
  );
}

module.exports = { fastTrackError, isNextControlFlow };
