// The cross-check `src/sourcemaps/enclosing.rs` cites: for every call, `new` and `throw` in a
// corpus of sources, the name of the innermost function around it by the TypeScript
// compiler's syntax tree, written as JSON that the Rust test `enclosing_agrees_with_typescript`
// holds the lexer's answer against. The committed file covers the repository's own sources
// (the source-map fixtures, their maps' sourcesContent, the example app); to check a larger
// corpus, name files or folders and point the test at the output:
//
//     node scripts/enclosing-typescript.mjs                      # rewrites the committed file
//     node scripts/enclosing-typescript.mjs --out /tmp/c.json node_modules/next/dist
//     ENCLOSING_CORPUS=/tmp/c.json cargo test --quiet enclosing_agrees_with_typescript
//
// Names follow V8 and Sentry, as the lexer's do: `name`, `Class.method`, `new Class`; an
// anonymous innermost function (a callback, `export default function () {}`, a function used
// where it is defined) names nothing, and neither does code outside any function.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const ts = createRequire(import.meta.url)('typescript');
const COMMITTED = join(root, 'src/sourcemaps/fixtures/enclosing-typescript.json');
const DEFAULT_CORPUS = ['src/sourcemaps/fixtures', 'examples/nextjs/app', 'examples/nextjs/lib', 'examples/nextjs'];
const EXTENSIONS = new Set(['.ts', '.tsx', '.js', '.jsx', '.mjs', '.cjs', '.mts', '.cts']);
/** Larger files are left out, as the lexer leaves them (`MAX_SOURCE`). */
const MAX_BYTES = 16 << 20;

const args = process.argv.slice(2);
let out = COMMITTED;
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = resolve(args[++i]);
  else roots.push(resolve(args[i]));
}
const corpus = [];
for (const dir of roots.length > 0 ? roots : DEFAULT_CORPUS.map((d) => join(root, d))) {
  collect(dir, roots.length === 0 && dir.endsWith('examples/nextjs'));
}

const files = [];
const seen = new Set();
let sites = 0;
for (const { name, text, path, source } of corpus) {
  // A map's sourcesContent repeats its source, and the fixture bundles repeat each other.
  if (seen.has(text)) continue;
  seen.add(text);
  const cases = sitesOf(name, text);
  if (cases.length === 0) continue;
  sites += cases.length;
  files.push({ path, ...(source === undefined ? {} : { source }), name, cases });
}
writeFileSync(out, `${JSON.stringify({ files })}\n`);
console.log(`${sites} sites in ${files.length} files → ${relative(process.cwd(), out)}`);

/** Sources under `path`: files by extension, and the sourcesContent of `.map` files. */
function collect(path, shallow = false) {
  if (!existsSync(path)) return;
  const stat = statSync(path);
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path).sort()) {
      if (entry === 'node_modules' && roots.length === 0) continue;
      const child = join(path, entry);
      if (shallow && statSync(child).isDirectory()) continue;
      collect(child);
    }
    return;
  }
  if (stat.size > MAX_BYTES) return;
  const name = relative(root, path).startsWith('..') ? path : relative(root, path);
  // Where the Rust test reads the text: the file, or the map's sourcesContent[source].
  if (path.endsWith('.map')) {
    let map;
    try {
      map = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      return;
    }
    (map.sources ?? []).forEach((source, i) => {
      const text = map.sourcesContent?.[i];
      const ext = extname(
        String(source)
          .split(/[?#]/)[0]
          .replace(/ \[.*$/, ''),
      );
      if (typeof text === 'string' && EXTENSIONS.has(ext) && !/node_modules/.test(source)) {
        corpus.push({ name: `${name}#${source}`, text, path: name, source: i });
      }
    });
  } else if (EXTENSIONS.has(extname(path)) && !corpus.some((c) => c.name === name)) {
    corpus.push({ name, text: readFileSync(path, 'utf8'), path: name });
  }
}

function scriptKind(name) {
  const ext = extname(name.split('#').at(-1).split(/[?#]/)[0]).toLowerCase();
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') return ts.ScriptKind.TS;
  if (ext === '.tsx') return ts.ScriptKind.TSX;
  return ts.ScriptKind.JSX;
}

/** `[byteOffset, name | null]` for each call, `new` and `throw` in `text`. */
function sitesOf(name, text) {
  const file = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true, scriptKind(name));
  if (file.parseDiagnostics?.length) return []; // the lexer's answers on broken syntax are not a contract
  const cases = [];
  const bytes = (offset) => Buffer.byteLength(text.slice(0, offset));
  const visit = (node) => {
    let at;
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) at = calleeStart(node);
    else if (ts.isThrowStatement(node)) at = node.getStart(file);
    if (at !== undefined) {
      const inner = innermost(node, at);
      cases.push([bytes(at), inner ? nameOf(inner, file) : null]);
    }
    ts.forEachChild(node, visit);
  };
  const calleeStart = (call) => {
    const callee = call.expression;
    if (ts.isPropertyAccessExpression(callee)) return callee.name.getStart(file);
    return callee.getStart(file);
  };
  // The innermost function whose body holds `at` (a parameter's default is outside it);
  // none when a class body is nearer (a field's initializer, a method's parameter default).
  const innermost = (node, at) => {
    for (let n = node; n; n = n.parent) {
      if (isFunction(n) && n.body) {
        const start = n.body.getStart(file);
        if (ts.isBlock(n.body) ? start < at && at < n.body.end : start <= at && at < n.body.end) return n;
      }
      if (ts.isClassLike(n) && n.members.pos <= at && at < n.members.end) return undefined;
    }
    return undefined;
  };
  visit(file);
  return cases;
}

function isFunction(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** The name V8 (and so Sentry) gives the function `fn`, or null for an anonymous one. */
function nameOf(fn, file) {
  const text = (n) => n.getText(file);
  const className = (cls) => (cls.name ? text(cls.name) : bindingOf(cls));
  if (ts.isConstructorDeclaration(fn)) {
    const cls = className(fn.parent);
    return cls ? `new ${cls}` : null;
  }
  if (ts.isMethodDeclaration(fn) || ts.isGetAccessorDeclaration(fn) || ts.isSetAccessorDeclaration(fn)) {
    if (!isPlainName(fn.name)) return null;
    const method = nameText(fn.name);
    if (ts.isClassLike(fn.parent)) {
      const cls = className(fn.parent);
      return cls ? `${cls}.${method}` : method;
    }
    return method;
  }
  if (fn.name) return text(fn.name);
  if (ts.isFunctionDeclaration(fn)) return null; // export default function () {}
  if (usedInPlace(fn)) return null;
  const bound = bindingOf(fn);
  if (bound && ts.isPropertyDeclaration(outer(fn.parent)) && ts.isClassLike(outer(fn.parent).parent)) {
    const cls = className(outer(fn.parent).parent);
    return cls ? `${cls}.${bound}` : bound;
  }
  return bound;
}

/** The name an anonymous function or class gets from where it is bound. */
function bindingOf(node) {
  const parent = outer(node.parent);
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) && isPlainName(parent.name)) {
    return nameText(parent.name);
  }
  if (
    ts.isBinaryExpression(parent) &&
    parent.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
    outerChild(node) === parent.right
  ) {
    const left = parent.left;
    if (ts.isIdentifier(left)) return left.text;
    if (ts.isPropertyAccessExpression(left)) return left.name.text;
  }
  if (ts.isParameter(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return null;
}

/** Past parentheses, `as`, `satisfies` and `!` around a node. */
function outer(node) {
  let n = node;
  while (
    n &&
    (ts.isParenthesizedExpression(n) ||
      ts.isAsExpression(n) ||
      ts.isSatisfiesExpression(n) ||
      ts.isNonNullExpression(n))
  ) {
    n = n.parent;
  }
  return n;
}

function outerChild(node) {
  let n = node;
  while (n.parent && n.parent !== outer(n.parent)) n = n.parent;
  return n;
}

/** `(function () {…})()`, `function () {…}.call(this)`: V8 names such a function after nothing. */
function usedInPlace(fn) {
  const child = outerChild(fn);
  const parent = child.parent;
  if (ts.isCallExpression(parent) && parent.expression === child) return true;
  if ((ts.isPropertyAccessExpression(parent) || ts.isElementAccessExpression(parent)) && parent.expression === child) {
    return true;
  }
  return false;
}

/** A name V8 takes over: `n`, `#n`, and (as in webpack's module table) `912` or `'n'`. */
function isPlainName(name) {
  return (
    name &&
    (ts.isIdentifier(name) || ts.isPrivateIdentifier(name) || ts.isNumericLiteral(name) || ts.isStringLiteral(name))
  );
}

function nameText(name) {
  return ts.isIdentifier(name) || ts.isPrivateIdentifier(name) ? name.getText() : name.text;
}
