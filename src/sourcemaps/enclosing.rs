//! The name of the function around a position in an original source.
//!
//! `names` finds a frame's original name through the name V8 printed, by finding that name's
//! definition in the generated code. That fails when V8 printed no name (Turbopack emits
//! `export function screenSubject(…)` as an anonymous `function(a,c){…}` in an export list) or
//! a name of its own making from the minified code (`a.s.b.name`, from the property the
//! anonymous function was stored under). The original source still says which function the
//! position is in, so it is read here instead: the map's sourcesContent, or the file on disk.
//!
//! A small lexer runs from the start of the source up to the position and keeps a stack of the
//! scopes open there. It skips comments, strings, template literals (a `${…}` in one opens a
//! scope of its own), regular expressions (told from a division by the token before, as
//! JavaScript's grammar does) and, outside `.ts` files, JSX text. Each `{` is labelled when it
//! opens, by the tokens just before it:
//!
//! - `function name(…) {`, `function* name`, `async function name`, with TypeScript generics
//!   and a return type (`function f<T>(a: T): Promise<void> {`);
//! - `name = (…) => {`, `name = async (…) => {`, `name = x => {`, `name: (…) => {`,
//!   `name = function (…) {`, also with a type on the binding (`const f: Handler = (r) => {`);
//! - methods: `name(…) {` in a class body or an object literal, after `async`, `static`, `get`,
//!   `set`, `*` or TypeScript's `public`, `private`, `protected`, `override`, `readonly`…;
//! - `class Name … {`, whose methods are named `Name.method` (and the constructor `new Name`),
//!   as V8 and Sentry name JavaScript methods;
//! - anything else (a block, an object literal, an object type, `if (…) {`) is transparent.
//!
//! An arrow function without braces (`x => x.id`) is a scope too; its body ends at the `,`, `;`
//! or closing bracket of the level it started on, at the `:` of a conditional around it, or at a
//! line break where a statement would end.
//!
//! The innermost *function* around the position decides. When it has a name, that is the
//! answer; when it is anonymous (a callback, `export default function () {}`), the answer is
//! `None`: naming a callback after the function that passes it would point at the wrong code.
//! Code outside any function (a module's top level, a class field's initializer) has no name
//! either. A `function` expression named by its binding that turns out to be used in place
//! (`x = function () {…}()`, `….call(this)`) is anonymous too, as V8 has it; finding that out
//! is the one time the lexer reads past the position, to the end of that function.
//!
//! This is a heuristic, not a parser: syntax it misreads (a regular expression after `)` or `}`,
//! an apostrophe in JSX text of a `.ts` file) can mislabel or unbalance the scopes after it,
//! and then the answer may be wrong. It is checked against the TypeScript compiler's syntax
//! tree by `scripts/enclosing-typescript.mjs` and the test `enclosing_agrees_with_typescript`:
//! all 1,970 calls, `new`s and `throw`s of the repository's own corpus (fixtures, their maps'
//! sourcesContent, real Next.js chunks, the example app) agree. On 21,391 sites of
//! `@sentry/core`, `@sentry/node`, `autocannon` and `js-yaml` (sources and maps) 37 differ,
//! every one the lexer naming nothing where TypeScript names a function, never another name:
//! an arrow bound through parentheses (`const f = ((o) => {…})`), and a function whose return
//! type is a function type (`on(…): () => void {`, `(): void | (() => void) => {`). Such a frame
//! keeps the name V8 printed, translated. Lexing runs at about 150 MB/s (release build),
//! once per frame position: the resolver remembers the answer per map. Tokens inside closed
//! brackets are dropped as the scan goes, so memory follows the nesting, not the file size.

/// Sources larger than this are not scanned.
const MAX_SOURCE: usize = 16 << 20;

/// How far past the position the end of a function expression is looked for, to tell whether
/// it is used in place.
const MAX_LOOKAHEAD: usize = 256 << 10;

/// Most tokens a backward look at the text before a `{` (a return type, a binding's type, a
/// class heading) steps over; a jump over a bracketed group counts as one.
const MAX_WALK: usize = 256;

/// Which syntax a source is scanned as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Whether a `<` where an expression starts opens a JSX element. Not in `.ts` files, where
    /// it starts a type argument list (`<T>(x: T) => x`) or a cast (`<Foo>bar`).
    jsx: bool,
}

impl Dialect {
    /// The dialect of a source by its path's extension (a query, a hash, or Turbopack's
    /// ` [app-rsc] (ecmascript)` suffix after it are ignored). `None` for sources that are not
    /// JavaScript or TypeScript (`.vue`, `.svelte`, `.css`); a name without an extension is
    /// taken for JavaScript.
    pub fn of(path: &str) -> Option<Dialect> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let Some(dot) = name.rfind('.') else {
            return Some(Dialect { jsx: true });
        };
        let ext = &name[dot + 1..];
        let ext = &ext[..ext
            .bytes()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(ext.len())];
        match ext.to_ascii_lowercase().as_str() {
            "ts" | "mts" | "cts" => Some(Dialect { jsx: false }),
            "js" | "jsx" | "mjs" | "cjs" | "tsx" => Some(Dialect { jsx: true }),
            _ => None,
        }
    }
}

/// The name of the innermost function around byte `at` of `source`: `name`, `Class.method` or
/// `new Class`; `None` when that function is anonymous or there is none.
pub fn function_at(source: &str, at: usize, dialect: Dialect) -> Option<String> {
    if source.len() > MAX_SOURCE || at > source.len() {
        return None;
    }
    let mut scanner = Scanner {
        text: source,
        bytes: source.as_bytes(),
        pos: 0,
        stop: at,
        jsx: dialect.jsx,
        toks: Vec::new(),
        stack: Vec::new(),
        pending_arrow: None,
        held: None,
    };
    scanner.run();
    scanner.answer()
}

/// No matching opener (`Tok::open`).
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Identifiers and keywords, `#private` names included.
    Ident,
    Str,
    Num,
    /// A template literal, or the part of one up to a `${` or from a `}`.
    Template,
    Regex,
    /// The start of a JSX element, or (empty) the end of one: an operand to what follows.
    Jsx,
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    start: u32,
    end: u32,
    /// For `)`, `]` and `}`, the index of the token that opened the group.
    open: u32,
}

/// A byte range of the source: a function's or class's name.
type Span = (u32, u32);

#[derive(Debug, Clone, Copy)]
enum Scope {
    /// `(` or `[`, by its token index.
    Paren(u32),
    /// A `{` that is not a function's or class's: a block, an object literal or type.
    Block(u32),
    Function {
        open: u32,
        name: Option<Span>,
        /// A `function` expression named by what it is assigned to, which may yet turn out to
        /// be used in place (`x = function () {…}()`).
        by_binding: bool,
    },
    Class {
        open: u32,
        name: Option<Span>,
    },
    /// The body of an arrow function without braces.
    Arrow {
        name: Option<Span>,
        /// After a `:`, so perhaps a function type (`a: (x: T) => U = …`): a `=` ends it.
        typed: bool,
        /// `?` of conditionals in the body still waiting for their `:`; another `:` ends it
        /// (`c ? () => a : b`).
        conditionals: u32,
    },
    /// `${…}` in a template literal.
    Template,
    /// `{…}` in JSX.
    JsxExpr(u32),
    /// A JSX element, in its tag (`<a href="…"`) or among its children.
    JsxElement {
        in_tag: bool,
    },
}

impl Scope {
    /// The opening token of a scope a `}` closes.
    fn brace(self) -> Option<u32> {
        match self {
            Scope::Block(open)
            | Scope::Function { open, .. }
            | Scope::Class { open, .. }
            | Scope::JsxExpr(open) => Some(open),
            _ => None,
        }
    }
}

struct Scanner<'s> {
    text: &'s str,
    bytes: &'s [u8],
    pos: usize,
    /// The position asked about: lexing stops at the first token that starts there or later.
    stop: usize,
    jsx: bool,
    toks: Vec<Tok>,
    stack: Vec<Scope>,
    /// A `=>` whose body has not started yet: a `{` makes it a function scope, anything else
    /// an expression body.
    pending_arrow: Option<usize>,
    /// The token at the position asked about, lexed but not applied.
    held: Option<Tok>,
}

/// Keywords after which a `/` starts a regular expression and a `<` a JSX element, and which
/// do not end an expression.
const OPERATOR_KEYWORDS: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
    "extends",
    "as",
    "satisfies",
    "keyof",
];

/// Words that cannot be part of a type annotation or class heading, nor a plain function's
/// name: a backward look stops at them.
const STATEMENT_KEYWORDS: &[&str] = &[
    "if",
    "else",
    "for",
    "while",
    "do",
    "try",
    "catch",
    "finally",
    "switch",
    "case",
    "default",
    "return",
    "throw",
    "break",
    "continue",
    "const",
    "let",
    "var",
    "function",
    "class",
    "new",
    "export",
    "import",
    "await",
    "yield",
    "with",
    "delete",
    "in",
    "instanceof",
    "of",
    "super",
    "async",
    "static",
    "debugger",
];

/// Words before `(…) {` that make it a statement rather than a method, where a method could
/// also stand (after `{` or `,`). Any word names a method in a class body.
const NOT_A_METHOD: &[&str] = &["if", "for", "while", "switch", "catch", "with"];

/// Words that may stand before a method's name.
const METHOD_MODIFIERS: &[&str] = &[
    "async",
    "static",
    "get",
    "set",
    "public",
    "private",
    "protected",
    "override",
    "readonly",
    "abstract",
    "declare",
    "accessor",
    "*",
];

/// Operators, longest first.
const PUNCTUATORS: &[&str] = &[
    ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=",
    "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "**", "<<", ">>",
];

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The length of the UTF-8 character starting with `b`.
fn char_len(b: u8) -> usize {
    match b {
        0..0xC0 => 1,
        0xC0..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

impl Scanner<'_> {
    /// Lexes up to the position asked about; the token found there is kept in `held`.
    fn run(&mut self) {
        while let Some(tok) = self.next_token() {
            if tok.start as usize >= self.stop {
                self.held = Some(tok);
                return;
            }
            self.push(tok);
        }
    }

    fn push(&mut self, tok: Tok) {
        self.toks.push(tok);
        self.apply(self.toks.len() - 1);
    }

    /// The next token, JSX text and attributes skipped; `None` at the end of the source, or
    /// when JSX text reaches the position asked about.
    fn next_token(&mut self) -> Option<Tok> {
        while matches!(self.stack.last(), Some(Scope::JsxElement { .. })) {
            if !self.jsx_step() {
                return None;
            }
        }
        let newline = self.skip_trivia();
        if self.pos >= self.bytes.len() {
            return None;
        }
        let tok = self.lex();
        if let Some(arrow) = self.pending_arrow.take() {
            if self.tok_text(&tok) != "{" {
                let before = self.before_arrow(arrow);
                self.stack.push(Scope::Arrow {
                    name: before.and_then(|b| self.binding_name(b)),
                    typed: before.is_some_and(|b| self.is(b, ":")),
                    conditionals: 0,
                });
            }
        }
        if newline
            && matches!(self.stack.last(), Some(Scope::Arrow { .. }))
            && self.last_ends_expression()
            && !self.continues(&tok)
        {
            self.pop_arrows();
        }
        Some(tok)
    }

    /// Whether the function scope at `depth` in the stack is used where it is defined rather
    /// than assigned (`x = function () {…}()`, `x = function () {…}.call(this)`, `.bind(o)`),
    /// lexing on to its end: V8 then names the function after nothing, not after the variable
    /// that receives the result. Gives up (no) past `MAX_LOOKAHEAD`.
    fn used_in_place(&mut self, depth: usize) -> bool {
        self.stop = usize::MAX;
        let limit = self.pos.saturating_add(MAX_LOOKAHEAD);
        if let Some(tok) = self.held.take() {
            self.push(tok);
        }
        while self.stack.len() > depth {
            if self.pos > limit {
                return false;
            }
            let Some(tok) = self.next_token() else {
                return false;
            };
            self.push(tok);
        }
        self.next_token()
            .is_some_and(|tok| matches!(self.tok_text(&tok), "(" | "." | "?."))
    }

    /// The name the innermost function scope gives the position (the scan stopped there).
    fn answer(&mut self) -> Option<String> {
        let (depth, scope) = self
            .stack
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| {
                matches!(
                    s,
                    Scope::Function { .. } | Scope::Arrow { .. } | Scope::Class { .. }
                )
            })
            .map(|(i, s)| (i, *s))?;
        let (name, by_binding) = match scope {
            Scope::Function {
                name, by_binding, ..
            } => (name?, by_binding),
            Scope::Arrow { name, .. } => (name?, false),
            _ => return None,
        };
        let name = self.span_text(name)?.to_owned();
        let class = match depth.checked_sub(1).map(|c| self.stack[c]) {
            Some(Scope::Class {
                name: Some(class), ..
            }) => Some(self.span_text(class)?.to_owned()),
            // `new class extends Base { constructor() {…} }`: a constructor of nothing named.
            Some(Scope::Class { name: None, .. }) if name == "constructor" => return None,
            _ => None,
        };
        if by_binding && self.used_in_place(depth) {
            return None;
        }
        Some(match class {
            Some(class) if name == "constructor" => format!("new {class}"),
            Some(class) => format!("{class}.{name}"),
            None => name,
        })
    }

    // --- Lexing ----------------------------------------------------------------------------

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// Skips whitespace and comments; whether a line break was among them.
    fn skip_trivia(&mut self) -> bool {
        let mut newline = false;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | 0x0b | 0x0c => self.pos += 1,
                b'\n' | b'\r' => {
                    newline = true;
                    self.pos += 1;
                }
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'#' if self.pos == 0 && self.peek(1) == Some(b'!') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => {
                    let body = self.pos + 2;
                    let end = self.text[body..]
                        .find("*/")
                        .map_or(self.bytes.len(), |i| body + i + 2);
                    newline |= self.bytes[self.pos..end]
                        .iter()
                        .any(|&c| c == b'\n' || c == b'\r');
                    self.pos = end;
                }
                0x80.. => {
                    let c = self.text.get(self.pos..).and_then(|s| s.chars().next());
                    match c {
                        Some(c @ ('\u{2028}' | '\u{2029}')) => {
                            newline = true;
                            self.pos += c.len_utf8();
                        }
                        Some(c) if c.is_whitespace() || c == '\u{feff}' => self.pos += c.len_utf8(),
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        newline
    }

    fn skip_line(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|&b| b != b'\n' && b != b'\r')
        {
            self.pos += 1;
        }
    }

    /// One token at `pos` (not whitespace), `pos` moved past it.
    fn lex(&mut self) -> Tok {
        let start = self.pos;
        let b = self.bytes[start];
        let next = self.peek(1);
        let kind = match b {
            b'\'' | b'"' => {
                self.skip_string(b);
                Kind::Str
            }
            b'`' => {
                self.pos += 1;
                self.skip_template();
                Kind::Template
            }
            b'}' if self.closes_template() => {
                self.pos += 1;
                self.skip_template();
                Kind::Template
            }
            b'0'..=b'9' => self.number(),
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => self.number(),
            b'/' if self.regex_allowed() && self.skip_regex() => Kind::Regex,
            b'<' if self.jsx && self.regex_allowed() && self.jsx_starts() => {
                self.pos += 1;
                Kind::Jsx
            }
            b'#' if next.is_some_and(is_ident_start) => {
                self.pos += 1;
                self.identifier();
                Kind::Ident
            }
            b'\\' => {
                self.identifier();
                Kind::Ident
            }
            _ if is_ident_start(b) => {
                self.identifier();
                Kind::Ident
            }
            _ => {
                let rest = &self.bytes[start..];
                let len = match b {
                    b'(' | b')' | b'[' | b']' | b'{' | b'}' | b';' | b',' | b':' | b'~' | b'@' => 1,
                    b'.' if !rest.starts_with(b"...") => 1,
                    b'=' if next != Some(b'=') && next != Some(b'>') => 1,
                    _ => PUNCTUATORS
                        .iter()
                        .find(|p| rest.starts_with(p.as_bytes()))
                        .map_or(1, |p| p.len()),
                };
                // `a?.5:0` is a conditional, not optional chaining.
                let len =
                    if rest.starts_with(b"?.") && rest.get(2).is_some_and(|d| d.is_ascii_digit()) {
                        1
                    } else {
                        len
                    };
                self.pos += len;
                Kind::Punct
            }
        };
        Tok {
            kind,
            start: start as u32,
            end: self.pos as u32,
            open: NONE,
        }
    }

    fn identifier(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'\\' {
                self.pos += 1 + self.bytes.get(self.pos + 1).map_or(0, |&c| char_len(c));
            } else if is_ident_byte(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn number(&mut self) -> Kind {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            self.pos += 1;
        }
        Kind::Num
    }

    /// A quoted string; an unterminated one ends at the line break.
    fn skip_string(&mut self, quote: u8) {
        self.pos += 1;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\\' => self.pos += 1 + self.bytes.get(self.pos + 1).map_or(0, |&c| char_len(c)),
                b'\n' | b'\r' => return,
                _ if b == quote => {
                    self.pos += 1;
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Template text up to and including the closing backtick or a `${`.
    fn skip_template(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\\' => self.pos += 1 + self.bytes.get(self.pos + 1).map_or(0, |&c| char_len(c)),
                b'`' => {
                    self.pos += 1;
                    return;
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.pos += 2;
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Whether a `}` here ends a template literal's `${…}`.
    fn closes_template(&self) -> bool {
        self.stack
            .iter()
            .rev()
            .find(|s| !matches!(s, Scope::Arrow { .. }))
            .is_some_and(|s| matches!(s, Scope::Template))
    }

    /// A regular expression literal at `pos`, if it ends on this line; else `pos` is unmoved
    /// and the `/` is a division.
    fn skip_regex(&mut self) -> bool {
        let mut i = self.pos + 1;
        let mut class = false;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'\\' => match self.bytes.get(i + 1) {
                    Some(b'\n' | b'\r') | None => return false,
                    Some(&c) => i += 1 + char_len(c),
                },
                b'\n' | b'\r' => return false,
                b'[' => {
                    class = true;
                    i += 1;
                }
                b']' => {
                    class = false;
                    i += 1;
                }
                b'/' if !class => {
                    i += 1;
                    while self.bytes.get(i).is_some_and(|&f| is_ident_byte(f)) {
                        i += 1;
                    }
                    self.pos = i;
                    return true;
                }
                _ => i += 1,
            }
        }
        false
    }

    /// Whether an expression may start here, by the token before: then `/` starts a regular
    /// expression, and `<` a JSX element.
    fn regex_allowed(&self) -> bool {
        let Some(prev) = self.toks.last() else {
            return true;
        };
        match prev.kind {
            Kind::Punct => match self.tok_text(prev) {
                // `if (x) /re/.test(s)`: the parenthesis of a statement.
                ")" => self
                    .open_of(self.toks.len() - 1)
                    .and_then(|o| o.checked_sub(1))
                    .is_some_and(|k| matches!(self.text(k), "if" | "while" | "for" | "with")),
                "]" | "}" | "++" | "--" => false,
                _ => true,
            },
            Kind::Ident => OPERATOR_KEYWORDS.contains(&self.tok_text(prev)),
            _ => false,
        }
    }

    /// Whether the `<` at `pos` opens a JSX element rather than a type parameter list of a
    /// generic arrow function (`<T,>(x: T) => x`, `<T extends X>(…)`).
    fn jsx_starts(&self) -> bool {
        let mut i = self.pos + 1;
        match self.bytes.get(i) {
            Some(b'>') => return true,
            Some(&b) if is_ident_start(b) => {}
            _ => return false,
        }
        while self.bytes.get(i).is_some_and(|&b| is_ident_byte(b)) {
            i += 1;
        }
        while self.bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let rest = &self.bytes[i..];
        !(rest.starts_with(b",")
            || rest.starts_with(b"=")
            || (rest.starts_with(b"extends") && !rest.get(7).is_some_and(|&b| is_ident_byte(b))))
    }

    /// Advances through a JSX element's tag or children up to the next JavaScript: a `{…}`,
    /// or what follows the element. `false` when the position asked about (or the end) was
    /// reached first.
    fn jsx_step(&mut self) -> bool {
        let Some(&Scope::JsxElement { in_tag }) = self.stack.last() else {
            return true;
        };
        let top = self.stack.len() - 1;
        while let Some(&b) = self.bytes.get(self.pos) {
            if self.pos >= self.stop {
                return false;
            }
            match b {
                b'{' => {
                    self.toks.push(Tok {
                        kind: Kind::Punct,
                        start: self.pos as u32,
                        end: self.pos as u32 + 1,
                        open: NONE,
                    });
                    self.stack.push(Scope::JsxExpr(self.toks.len() as u32 - 1));
                    self.pos += 1;
                    return true;
                }
                b'/' if in_tag && self.peek(1) == Some(b'>') => {
                    self.pos += 2;
                    self.end_element();
                    return true;
                }
                b'>' if in_tag => {
                    self.pos += 1;
                    self.stack[top] = Scope::JsxElement { in_tag: false };
                    return true;
                }
                b'"' | b'\'' if in_tag => {
                    // Attribute strings have no escapes and may span lines.
                    self.pos += 1;
                    while self.bytes.get(self.pos).is_some_and(|&c| c != b) {
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                b'<' if !in_tag && self.peek(1) == Some(b'/') => {
                    while self.bytes.get(self.pos).is_some_and(|&c| c != b'>') {
                        self.pos += 1;
                    }
                    self.pos += 1;
                    self.end_element();
                    return true;
                }
                b'<' if !in_tag => {
                    self.pos += 1;
                    self.stack.push(Scope::JsxElement { in_tag: true });
                    return true;
                }
                _ => self.pos += 1,
            }
        }
        false
    }

    fn end_element(&mut self) {
        self.pos = self.pos.min(self.bytes.len());
        self.stack.pop();
        if !matches!(self.stack.last(), Some(Scope::JsxElement { .. })) {
            // The whole element is one operand to what follows it.
            self.toks.push(Tok {
                kind: Kind::Jsx,
                start: self.pos as u32,
                end: self.pos as u32,
                open: NONE,
            });
        }
    }

    // --- Scopes ------------------------------------------------------------------------------

    /// What token `i`, just lexed, does to the scopes.
    fn apply(&mut self, i: usize) {
        let tok = self.toks[i];
        match tok.kind {
            Kind::Template => {
                let text = self.tok_text(&tok);
                let closes = text.starts_with('}');
                let opens = text.len() >= 2 && text.ends_with("${");
                if closes {
                    self.pop_arrows();
                    if matches!(self.stack.last(), Some(Scope::Template)) {
                        self.stack.pop();
                    }
                }
                if opens {
                    self.stack.push(Scope::Template);
                }
            }
            Kind::Jsx => self.stack.push(Scope::JsxElement { in_tag: true }),
            Kind::Punct => match self.tok_text(&tok) {
                "(" | "[" => self.stack.push(Scope::Paren(i as u32)),
                ")" | "]" => {
                    self.pop_arrows();
                    if let Some(&Scope::Paren(open)) = self.stack.last() {
                        self.stack.pop();
                        self.close_group(open);
                    }
                }
                "{" => {
                    let scope = self.open_brace(i);
                    self.stack.push(scope);
                }
                "}" => {
                    self.pop_arrows();
                    // A parenthesis left open inside (a misread regular expression) ends here.
                    while matches!(self.stack.last(), Some(Scope::Paren(_))) {
                        self.stack.pop();
                    }
                    if let Some(open) = self.stack.last().and_then(|s| s.brace()) {
                        self.stack.pop();
                        self.close_group(open);
                    }
                }
                "," | ";" => self.pop_arrows(),
                // In `const f: (a: A) => B = …` the arrow was a type's.
                "=" => {
                    while let Some(Scope::Arrow { typed: true, .. }) = self.stack.last() {
                        self.stack.pop();
                    }
                }
                "?" => {
                    if let Some(Scope::Arrow { conditionals, .. }) = self.stack.last_mut() {
                        *conditionals += 1;
                    }
                }
                ":" => {
                    while let Some(Scope::Arrow { conditionals, .. }) = self.stack.last_mut() {
                        if *conditionals > 0 {
                            *conditionals -= 1;
                            break;
                        }
                        self.stack.pop();
                    }
                }
                "=>" => self.pending_arrow = Some(i),
                _ => {}
            },
            _ => {}
        }
    }

    /// Matches the closing token just pushed with its opener at `open`, and drops the tokens
    /// between them: every look back from a later token steps over a closed group from its
    /// closer to its opener, so what is inside is never read again, and the tokens kept stay
    /// those of the groups still open, not the whole source's.
    fn close_group(&mut self, open: u32) {
        let Some(mut closer) = self.toks.pop() else {
            return;
        };
        closer.open = open;
        self.toks.truncate(open as usize + 1);
        self.toks.push(closer);
    }

    fn pop_arrows(&mut self) {
        while matches!(self.stack.last(), Some(Scope::Arrow { .. })) {
            self.stack.pop();
        }
    }

    /// Whether the last token can end an expression, so that a line break after it may end
    /// the statement.
    fn last_ends_expression(&self) -> bool {
        let Some(last) = self.toks.last() else {
            return false;
        };
        match last.kind {
            Kind::Ident => !OPERATOR_KEYWORDS.contains(&self.tok_text(last)),
            Kind::Punct => matches!(self.tok_text(last), ")" | "]" | "}" | "++" | "--"),
            Kind::Template => !self.tok_text(last).ends_with("${"),
            _ => true,
        }
    }

    /// Whether `tok`, first on its line, continues the expression before the line break.
    fn continues(&self, tok: &Tok) -> bool {
        match tok.kind {
            Kind::Punct => !matches!(self.tok_text(tok), "{" | "!" | "~" | "++" | "--" | "@"),
            Kind::Ident => matches!(self.tok_text(tok), "in" | "instanceof" | "as" | "satisfies"),
            Kind::Template => true,
            _ => false,
        }
    }

    /// The scope the `{` at token `b` opens, from the tokens before it.
    fn open_brace(&self, b: usize) -> Scope {
        let open = b as u32;
        let Some(k) = b.checked_sub(1) else {
            return Scope::Block(open);
        };
        if self.is(k, "=>") {
            return Scope::Function {
                open,
                name: self.arrow_name(k),
                by_binding: false,
            };
        }
        if let Some(class) = self.class_keyword(k) {
            let name = Some(class + 1)
                .filter(|&n| n < b && self.toks[n].kind == Kind::Ident)
                .filter(|&n| !matches!(self.text(n), "extends" | "implements"))
                .map(|n| self.span(n))
                .or_else(|| self.binding_name(class.checked_sub(1)?));
            return Scope::Class { open, name };
        }
        let function = if self.is(k, ")") {
            self.function_at_params(k)
                .or_else(|| self.function_at_params(self.return_type_params(k)?))
        } else if self.is(k, ":") {
            None
        } else {
            self.return_type_params(k)
                .and_then(|p| self.function_at_params(p))
        };
        match function {
            Some((name, by_binding)) => Scope::Function {
                open,
                name,
                by_binding,
            },
            None => Scope::Block(open),
        }
    }

    /// When the `)` at `p` closes a function's parameters, the function's name (`None` inside
    /// for an anonymous one) and whether it is a `function` expression named by what it is
    /// assigned to; `None` when it does not.
    fn function_at_params(&self, p: usize) -> Option<(Option<Span>, bool)> {
        let o = self.open_of(p)?;
        if !self.is(o, "(") {
            return None;
        }
        let j = self.before_type_params(o.checked_sub(1)?)?;
        // `function* (…) {`: an anonymous generator.
        let j = match j.checked_sub(1) {
            Some(f) if self.is(j, "*") && self.is(f, "function") => f,
            _ => j,
        };
        let tok = self.toks[j];
        match tok.kind {
            Kind::Ident => {
                let word = self.text(j);
                let in_class = matches!(self.stack.last(), Some(Scope::Class { .. }));
                if word == "function" && !in_class {
                    // `function (…) {`, maybe `name = function (…) {`.
                    let before = self.skip_back(j.checked_sub(1), &["async"]);
                    let name = before.and_then(|s| self.binding_name(s));
                    return Some((name, name.is_some()));
                }
                let before = j.checked_sub(1);
                let keyword = before
                    .and_then(|s| {
                        if self.is(s, "*") {
                            s.checked_sub(1)
                        } else {
                            Some(s)
                        }
                    })
                    .filter(|&s| self.is(s, "function"));
                if keyword.is_some() {
                    return Some((Some(self.span(j)), false));
                }
                if !in_class && NOT_A_METHOD.contains(&word) {
                    return None;
                }
                self.is_method(j).then(|| (Some(self.span(j)), false))
            }
            // `[Symbol.iterator]() {`, `'quoted name'() {`: a method we do not name.
            Kind::Str | Kind::Num => self.is_method(j).then_some((None, false)),
            Kind::Punct if self.is(j, "]") => {
                self.is_method(self.open_of(j)?).then_some((None, false))
            }
            _ => None,
        }
    }

    /// Whether the method name (or computed key) at token `j` is one: in a class body, or
    /// after the `{` or `,` of an object literal, modifiers aside.
    fn is_method(&self, j: usize) -> bool {
        if matches!(self.stack.last(), Some(Scope::Class { .. })) {
            return true;
        }
        match self.skip_back(j.checked_sub(1), METHOD_MODIFIERS) {
            Some(m) => matches!(self.text(m), "{" | ","),
            None => false,
        }
    }

    /// The name an arrow function gets from where it stands, for the `=>` at token `a`.
    fn arrow_name(&self, a: usize) -> Option<Span> {
        self.binding_name(self.before_arrow(a)?)
    }

    /// The token before the arrow function whose `=>` is token `a` (before its parameters and
    /// any `async`).
    fn before_arrow(&self, a: usize) -> Option<usize> {
        let k = a.checked_sub(1)?;
        let params_start = if self.is(k, ")") {
            let o = self.open_of(k)?;
            self.generic_start(o)
        } else if let Some(p) = self.return_type_params(k) {
            self.generic_start(self.open_of(p)?)
        } else if self.toks[k].kind == Kind::Ident {
            k
        } else {
            return None;
        };
        self.skip_back(params_start.checked_sub(1), &["async"])
    }

    /// The start of `<T>(…)` for the `(` at `o`: `o`, or the `<` before it.
    fn generic_start(&self, o: usize) -> usize {
        o.checked_sub(1)
            .filter(|&j| self.closing_angles(j) > 0)
            .and_then(|j| self.before_type_params(j))
            .map_or(o, |j| j + 1)
    }

    /// The name a function or class expression gets from what stands before it (token `s`):
    /// `name =`, `name: Type =` or an object literal's `name:`.
    fn binding_name(&self, s: usize) -> Option<Span> {
        match self.text(s) {
            "=" => {
                let before = s.checked_sub(1)?;
                if let Some(colon) = self.annotation_colon(before) {
                    let mut n = colon.checked_sub(1)?;
                    if matches!(self.text(n), "?" | "!") {
                        n = n.checked_sub(1)?;
                    }
                    if self.is_name(n) {
                        return Some(self.span(n));
                    }
                }
                self.is_name(before).then(|| self.span(before))
            }
            ":" => {
                let n = s.checked_sub(1)?;
                let before = n.checked_sub(1)?;
                if !matches!(self.text(before), "{" | ",") {
                    return None;
                }
                match self.toks[n].kind {
                    Kind::Ident | Kind::Num => Some(self.span(n)),
                    Kind::Str if self.toks[n].end - self.toks[n].start >= 2 => {
                        let (start, end) = self.span(n);
                        Some((start + 1, end - 1))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether token `n` can name a binding: an identifier that is not a keyword, unless it
    /// is a property (`exports.default`).
    fn is_name(&self, n: usize) -> bool {
        self.toks[n].kind == Kind::Ident
            && (!STATEMENT_KEYWORDS.contains(&self.text(n)) || self.after_dot(n))
    }

    /// Whether token `i` follows a `.`: a property, whatever its name (`_react.default`).
    fn after_dot(&self, i: usize) -> bool {
        i.checked_sub(1)
            .is_some_and(|d| matches!(self.text(d), "." | "?."))
    }

    /// For a return type ending at token `k` (`): Promise<void>`), the `)` before its colon.
    fn return_type_params(&self, k: usize) -> Option<usize> {
        let colon = self.annotation_colon(k)?;
        let p = colon.checked_sub(1)?;
        self.is(p, ")").then_some(p)
    }

    /// The `:` that starts the type annotation ending at token `from`, looking back over
    /// what a type can hold; `None` at anything else.
    fn annotation_colon(&self, from: usize) -> Option<usize> {
        let mut j = from;
        let mut angles = 0usize;
        for _ in 0..MAX_WALK {
            let tok = self.toks[j];
            match tok.kind {
                Kind::Punct => match self.text(j) {
                    ":" if angles == 0 => return Some(j),
                    ")" | "]" | "}" => j = self.open_of(j)?,
                    "<" => angles = angles.checked_sub(1)?,
                    "." | "|" | "&" | "=>" | "?" | "?." | "-" | "..." => {}
                    "," | "=" if angles > 0 => {}
                    _ if self.closing_angles(j) > 0 => angles += self.closing_angles(j),
                    _ => return None,
                },
                // `import('typescript').Program` is a type.
                Kind::Ident if self.is(j, "import") && self.is(j + 1, "(") => {}
                Kind::Ident if STATEMENT_KEYWORDS.contains(&self.text(j)) && !self.after_dot(j) => {
                    return None
                }
                Kind::Ident | Kind::Str | Kind::Num | Kind::Template => {}
                Kind::Regex | Kind::Jsx => return None,
            }
            j = j.checked_sub(1)?;
        }
        None
    }

    /// The `class` keyword of the class heading ending at token `k` (`class A extends B<C>`).
    fn class_keyword(&self, k: usize) -> Option<usize> {
        let mut j = k;
        let mut angles = 0usize;
        for _ in 0..MAX_WALK {
            let tok = self.toks[j];
            match tok.kind {
                Kind::Ident if self.after_dot(j) => {}
                Kind::Ident => match self.text(j) {
                    // `class(c) {`: a method named `class`.
                    "class" if self.is(j + 1, "(") => return None,
                    "class" => return Some(j),
                    "extends" | "implements" => {}
                    word if STATEMENT_KEYWORDS.contains(&word) => return None,
                    _ => {}
                },
                Kind::Punct => match self.text(j) {
                    ")" | "]" => j = self.open_of(j)?,
                    "}" if angles > 0 => j = self.open_of(j)?,
                    "<" => angles = angles.checked_sub(1)?,
                    "." | "," => {}
                    // Type arguments and parameters: `<O extends Opts = Opts>`, `<A | B>`.
                    "=" | "|" | "&" | "=>" | "?" | ":" | "..." | "-" if angles > 0 => {}
                    _ if self.closing_angles(j) > 0 => angles += self.closing_angles(j),
                    _ => return None,
                },
                Kind::Str | Kind::Num | Kind::Template if angles > 0 => {}
                _ => return None,
            }
            j = j.checked_sub(1)?;
        }
        None
    }

    /// The token before the type parameters `<…>` ending at token `j`; `j` itself when it
    /// does not end any.
    fn before_type_params(&self, j: usize) -> Option<usize> {
        let closing = self.closing_angles(j);
        if closing == 0 {
            return Some(j);
        }
        let mut depth = closing;
        let mut i = j;
        for _ in 0..MAX_WALK {
            i = i.checked_sub(1)?;
            match self.text(i) {
                "<" => {
                    depth -= 1;
                    if depth == 0 {
                        return i.checked_sub(1);
                    }
                }
                ")" | "]" | "}" => i = self.open_of(i)?,
                "(" | "[" | "{" | ";" => return None,
                _ => depth += self.closing_angles(i),
            }
        }
        None
    }

    /// How many `>` token `i` is (`>>` closes two type argument lists).
    fn closing_angles(&self, i: usize) -> usize {
        let text = self.text(i);
        if self.toks[i].kind == Kind::Punct && text.bytes().all(|b| b == b'>') {
            text.len()
        } else {
            0
        }
    }

    /// The first token at or before `i` that is not one of `words`.
    fn skip_back(&self, i: Option<usize>, words: &[&str]) -> Option<usize> {
        let mut i = i?;
        while words.contains(&self.text(i)) {
            i = i.checked_sub(1)?;
        }
        Some(i)
    }

    fn open_of(&self, i: usize) -> Option<usize> {
        let open = self.toks[i].open;
        (open != NONE).then_some(open as usize)
    }

    fn is(&self, i: usize, s: &str) -> bool {
        self.toks.get(i).is_some_and(|t| self.tok_text(t) == s)
    }

    fn text(&self, i: usize) -> &str {
        self.tok_text(&self.toks[i])
    }

    fn tok_text(&self, tok: &Tok) -> &str {
        self.text
            .get(tok.start as usize..tok.end as usize)
            .unwrap_or("")
    }

    fn span(&self, i: usize) -> Span {
        (self.toks[i].start, self.toks[i].end)
    }

    fn span_text(&self, (start, end): Span) -> Option<&str> {
        self.text
            .get(start as usize..end as usize)
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: Dialect = Dialect { jsx: false };
    const TSX: Dialect = Dialect { jsx: true };

    /// The name at the `‸` marking the position in `source` (the marker is removed first).
    fn name_in(dialect: Dialect, source: &str) -> Option<String> {
        let at = source.find('‸').expect("a ‸ marks the position");
        let text = source.replacen('‸', "", 1);
        function_at(&text, at, dialect)
    }

    fn ts(source: &str) -> Option<String> {
        name_in(TS, source)
    }

    fn tsx(source: &str) -> Option<String> {
        name_in(TSX, source)
    }

    #[track_caller]
    fn named(dialect: Dialect, cases: &[(&str, &str)]) {
        for (source, want) in cases {
            assert_eq!(name_in(dialect, source).as_deref(), Some(*want), "{source}");
        }
    }

    #[track_caller]
    fn unnamed(dialect: Dialect, cases: &[&str]) {
        for source in cases {
            assert_eq!(name_in(dialect, source), None, "{source}");
        }
    }

    /// The cross-check this module's doc cites, committed: `scripts/enclosing-typescript.mjs`
    /// names the innermost function around every call, `new` and `throw` of a corpus with the
    /// TypeScript compiler's syntax tree, and the lexer must agree at each. The committed corpus
    /// is the repository's own sources (fixtures, their maps' sourcesContent, the example app);
    /// `ENCLOSING_CORPUS=<file>` checks one the script wrote for any other folder.
    #[test]
    fn enclosing_agrees_with_typescript() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus = std::env::var_os("ENCLOSING_CORPUS").map_or_else(
            || root.join("src/sourcemaps/fixtures/enclosing-typescript.json"),
            std::path::PathBuf::from,
        );
        let corpus: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&corpus).unwrap()).unwrap();
        let (mut sites, mut differ) = (0, Vec::new());
        for file in corpus["files"].as_array().unwrap() {
            let name = file["name"].as_str().unwrap();
            let path = root.join(file["path"].as_str().unwrap());
            let text = match file["source"].as_u64() {
                None => std::fs::read_to_string(&path).unwrap(),
                Some(i) => {
                    let map: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                    map["sourcesContent"][i as usize]
                        .as_str()
                        .unwrap()
                        .to_owned()
                }
            };
            let dialect = Dialect::of(name.rsplit('#').next().unwrap()).unwrap();
            for case in file["cases"].as_array().unwrap() {
                let at = case[0].as_u64().unwrap() as usize;
                let want = case[1].as_str();
                let got = function_at(&text, at, dialect);
                sites += 1;
                if got.as_deref() != want {
                    let line = text[..at].matches('\n').count() + 1;
                    differ.push(format!(
                        "{name}:{line} (byte {at}): lexer {got:?}, typescript {want:?}"
                    ));
                }
            }
        }
        assert!(sites > 1000, "the corpus has {sites} sites");
        assert!(
            differ.is_empty(),
            "{} of {sites} sites differ:\n{}",
            differ.len(),
            differ[..differ.len().min(60)].join("\n")
        );
    }

    #[test]
    fn function_declarations() {
        named(
            TS,
            &[
                ("function f(a) { ‸x(); }", "f"),
                ("function* gen() { yield ‸1; }", "gen"),
                ("function *gen() { yield ‸1; }", "gen"),
                ("async function load(id) { await ‸x; }", "load"),
                ("export function screen(n: string, d: string): never { ‸throw 1; }", "screen"),
                ("export default async function Page({ p }: { p: Promise<{ id: string }> }) { ‸x }", "Page"),
                ("function f<T>(a: T): Promise<void> { ‸x }", "f"),
                ("function f<T extends Map<K, Array<V>>>(a: T): Map<K, V> { ‸x }", "f"),
                ("function f(a: { b: number }): { c: string } { ‸x }", "f"),
                ("function f(v: unknown): asserts v is string { ‸x }", "f"),
                ("function f(a = {}, [b] = [], ...c) { ‸x }", "f"),
                ("const x = function named() { ‸x };", "named"),
                ("const gen = function* () { ‸x };", "gen"),
                ("var s = function () { ‸x };\n(a)", "s"),
                ("var s = function named() { ‸x }();", "named"),
                ("var s = function () { function inner() { ‸x } }();", "inner"),
                ("class A extends React.default.Component { render() { ‸x } }", "A.render"),
                ("exports.default = function () { ‸x };", "default"),
            ],
        );
    }

    #[test]
    fn bound_function_expressions_and_arrows() {
        named(
            TS,
            &[
                ("const f = (a, b) => { ‸x };", "f"),
                ("const f = async (a) => { ‸x };", "f"),
                ("let f = a => { ‸x };", "f"),
                ("let f = async a => { ‸x };", "f"),
                ("var f = function (a) { ‸x };", "f"),
                ("var f = async function () { ‸x };", "f"),
                ("const f: Handler = (req) => { ‸x };", "f"),
                ("const f: (a: number) => void = (a) => { ‸x };", "f"),
                ("const f: Record<string, () => void> = () => { ‸x };", "f"),
                ("const f = (a: A): Promise<B> => { ‸x };", "f"),
                ("const f = <T,>(a: T): T => { ‸x };", "f"),
                ("export const GET = async (req: Request) => { ‸x };", "GET"),
                ("exports.handler = async (event) => { ‸x };", "handler"),
                ("const api = { load: (id) => { ‸x } };", "load"),
                (
                    "const api = { a: 1, load: async function (id) { ‸x } };",
                    "load",
                ),
                ("const api = { 'load-all': () => { ‸x } };", "load-all"),
                ("const f = (a) => ‸a.b;", "f"),
                ("const f = (a) =>\n  a\n    .‸b();", "f"),
            ],
        );
    }

    #[test]
    fn methods_and_classes() {
        named(
            TS,
            &[
                ("class A { m(a) { ‸x } }", "A.m"),
                ("class A { async m() { ‸x } }", "A.m"),
                ("class A { static m() { ‸x } }", "A.m"),
                ("class A { get value() { ‸x } }", "A.value"),
                ("class A { set value(v) { ‸x } }", "A.value"),
                ("class A { *items() { ‸x } }", "A.items"),
                ("class A { async *items() { ‸x } }", "A.items"),
                ("class A { private readonly m(): void { ‸x } }", "A.m"),
                ("class A { public override m<T>(a: T): T { ‸x } }", "A.m"),
                ("class A { protected static async m() { ‸x } }", "A.m"),
                ("class A { #secret() { ‸x } }", "A.#secret"),
                ("class A { get(key) { ‸x } delete(key) { } }", "A.get"),
                ("class A { get(key) { } delete(key) { ‸x } }", "A.delete"),
                (
                    "class A { constructor(readonly s?: { n: string }) { ‸x } }",
                    "new A",
                ),
                (
                    "export class E extends Error { constructor(m) { super(m); ‸x } }",
                    "new E",
                ),
                (
                    "class A<T> extends B<{ a: T }> implements C, D { m() { ‸x } }",
                    "A.m",
                ),
                ("class A extends mixin(B, { c: 1 }) { m() { ‸x } }", "A.m"),
                ("class A { handler = (req) => { ‸x }; }", "A.handler"),
                ("class A { handler = async () => ‸x; }", "A.handler"),
                (
                    "class A { private handler: H = () => { ‸x }; }",
                    "A.handler",
                ),
                ("class A { @Get() find() { ‸x } }", "A.find"),
                ("const A = class { m() { ‸x } };", "A.m"),
                ("const o = { m() { ‸x } };", "m"),
                ("const o = { a: 1, async m() { ‸x } };", "m"),
                ("const o = { get v() { ‸x } };", "v"),
                ("class A { m() { if (a) { for (;;) { ‸x } } } }", "A.m"),
            ],
        );
        // Class bodies outside any method: field initializers, static blocks.
        unnamed(
            TS,
            &[
                "class A { x = ‸f(); }",
                "class A { static { ‸f(); } }",
                "class A { ‸x }",
                // The constructor of a class nothing names (found by the TypeScript cross-check
                // in a real Next.js server chunk, where it read `constructor`).
                "new (class extends B { constructor() { super(‸x); } })();",
            ],
        );
    }

    #[test]
    fn the_innermost_function_decides() {
        named(
            TS,
            &[
                ("function outer() { function inner() { ‸x } }", "inner"),
                ("function outer() { function inner() { } ‸x }", "outer"),
                ("function outer() { const cb = () => { ‸x }; }", "cb"),
                ("function outer() { items.map((i) => i.id); ‸x }", "outer"),
                (
                    "function outer() { items.forEach((i) => { }); ‸x }",
                    "outer",
                ),
                ("function outer() { if (a) { ‸x } else { } }", "outer"),
                (
                    "function outer() { const o = { a: { b: 1 } }; ‸x }",
                    "outer",
                ),
                (
                    "function outer() { switch (a) { case 1: { ‸x } } }",
                    "outer",
                ),
                (
                    "function outer() { try { } catch (e) { ‸x } finally { } }",
                    "outer",
                ),
                ("function outer() { while (a) { ‸x } }", "outer"),
                (
                    "class A { m() { return new (class B { n() { ‸x } })(); } }",
                    "B.n",
                ),
                (
                    "function outer() { const f = (a) => a + 1\n  ‸x() }",
                    "outer",
                ),
                (
                    "function outer() { const f = (a) => a\n  .b\n  ‸x() }",
                    "outer",
                ),
                (
                    "function outer() { const f = (a) => g(a, (b) => b), y = ‸1 }",
                    "outer",
                ),
            ],
        );
        // An anonymous function around the position is not named after the one around it.
        unnamed(
            TS,
            &[
                "function outer() { items.forEach((i) => { ‸x }); }",
                "function outer() { items.map((i) => ‸i.id); }",
                "function outer() { setTimeout(function () { ‸x }); }",
                "function outer() { (() => { ‸x })(); }",
                "const f = () => co(function* () { ‸x });",
                "var s = function () { ‸x }();",
                "var s = function () { if (a) { ‸x } return { a: 1 }; }(a, b);",
                "const o = { p: async function () { ‸x }() };",
                "var s = function () { ‸x }.call(this);",
                "const o = { p: function () { ‸x }.bind(this) };",
                "export default function () { ‸x }",
                "export default () => { ‸x };",
                "export default (a) => ‸a;",
                "class A { [Symbol.iterator]() { ‸x } }",
                "‸x",
                "const a = 1; ‸x",
                "function f() { } ‸x",
            ],
        );
    }

    #[test]
    fn braces_in_strings_comments_templates_and_regexes_are_not_scopes() {
        named(
            TS,
            &[
                ("function f() { const s = '}'; ‸x }", "f"),
                ("function f() { const s = \"}}\"; ‸x }", "f"),
                ("function f() { const s = 'it\\'s }'; ‸x }", "f"),
                ("function f() { // }\n ‸x }", "f"),
                ("function f() { /* } function g() { */ ‸x }", "f"),
                ("function f() { const t = `}`; ‸x }", "f"),
                ("function f() { const t = `${a}}${b + '}'}`; ‸x }", "f"),
                ("function f() { const t = `${`${'}'}`}`; ‸x }", "f"),
                ("function f() { const t = `a ${{ b: 1 }.b} c`; ‸x }", "f"),
                (
                    "function f() { const t = `${items.map((i) => `${i}`)}`; ‸x }",
                    "f",
                ),
                ("function f() { return `${g(‸x)}`; }", "f"),
                ("function f() { const r = /}/g; ‸x }", "f"),
                ("function f() { const r = /[/}]\\//; ‸x }", "f"),
                ("function f() { if (/{/.test(s)) { } ‸x }", "f"),
                ("function f() { return /'/.test(s) && ‸x }", "f"),
                (
                    "function f() { const h = a / 2 / 3; const s = '}'; ‸x }",
                    "f",
                ),
                ("function f() { const h = (a) / 2; const s = '{'; ‸x }", "f"),
                (
                    "function f() { const h = a[0] / b[1] }\nfunction g() { ‸x }",
                    "g",
                ),
                ("function f() { if (a) /}/.test(s); ‸x }", "f"),
                ("#!/usr/bin/env node\nfunction f() { ‸x }", "f"),
                ("function f() { const s = 'unterminated\n  ‸x }", "f"),
                (
                    "function f() { const é = 'ü}'; const s = \"\\é\"; ‸x }",
                    "f",
                ),
            ],
        );
        // Inside a template's `${}` the position is still in the function.
        assert_eq!(
            ts("function f() { return `a ${‸b} c`; }").as_deref(),
            Some("f")
        );
        assert_eq!(
            ts("function f() { return `a ‸b c`; }").as_deref(),
            Some("f")
        );
    }

    #[test]
    fn jsx_text_and_attributes_are_skipped_outside_ts_files() {
        named(
            TSX,
            &[
                ("export default function Page() { return <p>Don't {a} {b}</p>; }\nfunction g() { ‸x }", "g"),
                ("function Page() { return <a href=\"}\" title='{'>x</a>; }\nfunction g() { ‸x }", "g"),
                ("function Page() { return <><A b={() => { }} />{‸x}</>; }", "Page"),
                ("function Page() { const f = () => { ‸x }; return <div onClick={f}>{f()}</div>; }", "f"),
                ("function Page() { return <ul>{items.map((i) => <li key={i}>{i}</li>)}</ul>; }\nfunction g() { ‸x }", "g"),
                ("function Page() { return <p>{`}`}</p>; }\nfunction g() { ‸x }", "g"),
                ("const f = <T,>(a: T) => { ‸x };", "f"),
                ("const f = <T extends object>(a: T) => { ‸x };", "f"),
                ("function Page() { const a = b < c; const s = '}'; ‸x }", "Page"),
                ("function Page() { return (\n  <div>\n    <p>It's</p>\n  </div>\n);\n}\nfunction g() { ‸x }", "g"),
            ],
        );
        // In a `.ts` file a `<` is a type argument list or a cast, never JSX.
        named(
            TS,
            &[
                ("const f = <T>(a: T) => { ‸x };", "f"),
                (
                    "function f() { const a = <Foo>bar; const s = '}'; ‸x }",
                    "f",
                ),
            ],
        );
        assert_eq!(
            tsx("function Page() { return <p>{‸a}</p>; }").as_deref(),
            Some("Page")
        );
        assert_eq!(
            tsx("function Page() { return <p>te‸xt</p>; }").as_deref(),
            Some("Page")
        );
        assert_eq!(tsx("items.map((i) => <p>{‸i}</p>)"), None);
        assert_eq!(
            tsx("function Page() { return <A b={() => { ‸x }} />; }"),
            None
        );
        assert_eq!(ts("function f() { return `${(() => { ‸x })()}`; }"), None);
    }

    #[test]
    fn the_position_ends_the_scan() {
        let source = "function f() { a(); }\nfunction g() { b(); }";
        let at = |needle: &str| source.find(needle).unwrap();
        assert_eq!(function_at(source, at("a()"), TS).as_deref(), Some("f"));
        assert_eq!(function_at(source, at("b()"), TS).as_deref(), Some("g"));
        assert_eq!(function_at(source, at("function g"), TS), None);
        assert_eq!(function_at(source, 0, TS), None);
        assert_eq!(function_at(source, source.len(), TS), None);
        assert_eq!(function_at(source, source.len() + 1, TS), None);
        assert_eq!(function_at("", 0, TS), None);
    }

    #[test]
    fn malformed_sources_never_panic() {
        let source = "class A<T> extends B { m(a: { b: `x${'}'}` }): Promise<T> { return /[}]/.test(a) && <p a='}'>{a}</p> } }\n\
                      const f = async <T,>(a) => a ? `${b}` : (c) => { d(\"é\\ü\") }; /* é */ // ü\n";
        for dialect in [TS, TSX] {
            for end in 0..=source.len() {
                let Some(prefix) = source.get(..end) else {
                    continue;
                };
                for at in (0..=prefix.len()).step_by(3) {
                    let _ = function_at(prefix, at, dialect);
                }
            }
        }
        for junk in [
            "}}}", ")))", "{{{(", "``${", "<<<>>>", "=>=>", "/", "\\", "#", "'", "<p>{",
        ] {
            for dialect in [TS, TSX] {
                let _ = function_at(junk, junk.len(), dialect);
            }
        }
    }

    #[test]
    fn dialects_by_extension() {
        assert_eq!(Dialect::of("/app/lib/screening.ts"), Some(TS));
        assert_eq!(Dialect::of("/app/x.mts"), Some(TS));
        assert_eq!(Dialect::of("/app/page.tsx"), Some(TSX));
        assert_eq!(Dialect::of("webpack://_N_E/./app/page.tsx?1a2b"), Some(TSX));
        assert_eq!(
            Dialect::of("[project]/app/page.tsx [app-rsc] (ecmascript)"),
            Some(TSX)
        );
        assert_eq!(Dialect::of("/app/x.JS"), Some(TSX));
        assert_eq!(Dialect::of("/app/x.cjs"), Some(TSX));
        assert_eq!(Dialect::of("webpack/runtime/checks"), Some(TSX));
        assert_eq!(Dialect::of("/app/x.vue"), None);
        assert_eq!(Dialect::of("/app/x.css"), None);
    }
}
