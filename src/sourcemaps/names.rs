//! The original name of the function a frame is in.
//!
//! V8 prints the name the function has in the generated code, which a minifier has renamed
//! (`u`, `a.placeOrder`). The map's token at the frame's position names whatever identifier is
//! there (a variable, a callee), not the enclosing function, so taking it would be wrong in most
//! frames. Instead the *definition* of the printed name is found in the generated code before
//! the frame (`function u(`, `b=r=>`, `a=class{`, `placeOrder(e){`), and the map's name for
//! that identifier is the original one. This is the question Sentry's symbolicator answers with
//! a parse of the minified scopes; here a lexical search suffices because the printed name tells
//! us which identifier to look for.
//!
//! The sourcemap crate's own `get_original_function_name` is tried first. It looks only for
//! `function <name>` within the 128 tokens before the frame, so it misses arrow functions
//! assigned to a binding, class methods, class names and any function longer than that; the
//! search here covers those.
//!
//! A printed name whose last part (the function's own name) has no definition here was not
//! given by the code but made up by V8 (or there was none): the resolver then asks `enclosing`
//! for the function around the frame's position in the original source instead.

use sourcemap::{SourceMap, SourceView};

/// How far before a frame the definition of its function is searched for. A function (or a
/// class, for `Class.method`) longer than this keeps its minified name.
const LOOK_BEHIND: usize = 1 << 20;

/// Most bytes scanned for the `)` closing a parameter list.
const MAX_PARAMS: usize = 16 * 1024;

/// What the generated code says about the name V8 printed for a frame.
#[derive(Debug, Default, PartialEq)]
pub struct Original {
    /// The printed name with each identifier in it that the minifier renamed replaced by its
    /// original; `None` when nothing in the name was renamed or the map does not say.
    pub name: Option<String>,
    /// Whether the function's own name (the printed name's last part) was found where it is
    /// defined, by the sourcemap crate's lookup or the search here. When it was not, V8 made the
    /// name up from how the function was reached (`a.s.b.name` for an anonymous function stored
    /// in an export list), so no part of it can be trusted to name the function.
    pub own_name_found: bool,
}

/// `v8_name` as V8 printed it (`u`, `a.placeOrder`, `new a`, `Object.l`, `x [as y]`) with each
/// identifier in it that the minifier renamed replaced by its original. `line` and `col` are
/// the frame's 0-based position in `generated` (columns in UTF-16 units).
pub fn original(
    map: &SourceMap,
    generated: &SourceView,
    line: u32,
    col: u32,
    v8_name: &str,
) -> Original {
    let (new, rest) = match v8_name.strip_prefix("new ") {
        Some(rest) => ("new ", rest),
        None => ("", v8_name),
    };
    let (path, alias) = rest.split_at(rest.find(" [as ").unwrap_or(rest.len()));
    let Some(at) = byte_offset(generated, line, col) else {
        return Original::default();
    };

    let parts: Vec<&str> = path.split('.').collect();
    let last = parts.len() - 1;
    let mut renamed = false;
    let mut own_name_found = false;
    let mut out = String::with_capacity(v8_name.len() + 16);
    out.push_str(new);
    for (i, &part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let found = if is_identifier(part) {
            let from_crate = (i == last)
                .then(|| map.get_original_function_name(line, col, part, generated))
                .flatten();
            if from_crate.is_some() {
                own_name_found = true;
                from_crate
            } else {
                definition(generated.source(), at, part).and_then(|def| {
                    own_name_found |= i == last;
                    name_at(map, generated, def)
                })
            }
        } else {
            None
        };
        match found {
            Some(original) if original != part => {
                out.push_str(original);
                renamed = true;
            }
            _ => out.push_str(part),
        }
    }
    out.push_str(alias);
    Original {
        name: renamed.then_some(out),
        own_name_found,
    }
}

/// The byte offset in `view`'s text of a 0-based line and UTF-16 column.
pub fn byte_offset(generated: &SourceView, line: u32, col: u32) -> Option<usize> {
    let text = generated.source();
    let line_text = generated.get_line(line)?;
    let start = offset_in(text, line_text);
    let mut units = 0;
    for (i, c) in line_text.char_indices() {
        if units >= col as usize {
            return Some(start + i);
        }
        units += c.len_utf16();
    }
    Some(start + line_text.len())
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// The map's name for the identifier at byte `offset` of the generated source, if the map has a
/// token starting exactly there.
fn name_at<'m>(map: &'m SourceMap, generated: &SourceView, offset: usize) -> Option<&'m str> {
    let text = generated.source();
    // Line starts grow with the line number: binary search for the line holding `offset`.
    let (mut lo, mut hi) = (0u32, u32::try_from(generated.line_count()).ok()?);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match generated.get_line(mid) {
            Some(l) if offset_in(text, l) <= offset => lo = mid,
            _ => hi = mid,
        }
    }
    let line_text = generated.get_line(lo)?;
    let line_start = offset_in(text, line_text);
    let col: usize = text
        .get(line_start..offset)?
        .chars()
        .map(char::len_utf16)
        .sum();
    let col = u32::try_from(col).ok()?;
    let token = map.lookup_token(lo, col)?;
    (token.get_dst() == (lo, col)).then(|| token.get_name())?
}

/// The byte offset of the nearest definition of `name` before byte `before` of `text`.
fn definition(text: &str, before: usize, name: &str) -> Option<usize> {
    let start = text.floor_char_boundary(before.saturating_sub(LOOK_BEHIND));
    text.get(start..before)?
        .rmatch_indices(name)
        .map(|(i, _)| start + i)
        .find(|&at| is_definition(text, at, at + name.len()))
}

/// Whether the identifier at `text[at..end]` is where a function, method or class gets that
/// name: `function n(`, `class n`, `n=function`, `n=(…)=>`, `n=e=>`, `n=class`, `{n:…=>`,
/// `n(…){` in a class body or object literal.
fn is_definition(text: &str, at: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    if (at > 0 && is_identifier_byte(bytes[at - 1]))
        || bytes.get(end).is_some_and(|&b| is_identifier_byte(b))
    {
        return false;
    }
    let before = text[..at].trim_end();
    let after = text[end..].trim_start();

    let keyword_before = before.strip_suffix('*').map_or(before, str::trim_end);
    if ends_with_word(keyword_before, "function") || ends_with_word(before, "class") {
        return true;
    }
    if let Some(value) = after.strip_prefix('=') {
        return !value.starts_with(['=', '>']) && is_function_value(value.trim_start());
    }
    if let Some(value) = after.strip_prefix(':') {
        return before.ends_with(['{', ',']) && is_function_value(value.trim_start());
    }
    if after.starts_with('(') {
        let method_start = before.ends_with(['{', '}', ';', ',', '*'])
            || ["static", "async", "get", "set"]
                .iter()
                .any(|w| ends_with_word(before, w));
        return method_start
            && after_parens(after).is_some_and(|rest| rest.trim_start().starts_with('{'));
    }
    false
}

/// Whether an assigned value is a function or class: `function`, `async`, `class`, `(…)=>`,
/// `e=>`.
fn is_function_value(value: &str) -> bool {
    if ["function", "async", "class"]
        .iter()
        .any(|w| starts_with_word(value, w))
    {
        return true;
    }
    let rest = if value.starts_with('(') {
        after_parens(value)
    } else {
        let ident = value.bytes().take_while(|&b| is_identifier_byte(b)).count();
        (ident > 0).then(|| &value[ident..])
    };
    rest.is_some_and(|r| r.trim_start().starts_with("=>"))
}

/// The text after the `)` matching the `(` that `s` starts with. Strings are not parsed: a
/// parenthesis inside a default parameter's string throws the count off, and the name stays
/// minified.
fn after_parens(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().take(MAX_PARAMS).enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

fn starts_with_word(s: &str, word: &str) -> bool {
    s.strip_prefix(word)
        .is_some_and(|rest| !rest.bytes().next().is_some_and(is_identifier_byte))
}

fn ends_with_word(s: &str, word: &str) -> bool {
    s.strip_suffix(word)
        .is_some_and(|rest| !rest.bytes().next_back().is_some_and(is_identifier_byte))
}

/// Bytes that can continue a JavaScript identifier; every non-ASCII byte counts, so a name with
/// Unicode letters is never split.
fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && !s.as_bytes()[0].is_ascii_digit() && s.bytes().all(is_identifier_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(text: &str, name: &str) -> Option<usize> {
        definition(text, text.len(), name)
    }

    #[test]
    fn finds_the_nearest_definition_of_each_kind() {
        let cases = [
            ("function n(e){return e}x(", "n", 9),
            ("async function* n(e){x(", "n", 16),
            ("var n=e=>{x(", "n", 4),
            ("let n = async (e) => {x(", "n", 4),
            ("n=(e,t)=>{x(", "n", 0),
            ("a.n=function(){x(", "n", 2),
            ("var a=class extends b{x(", "a", 4),
            ("class a{constructor(){x(", "a", 6),
            ("a=class{p=[];n(e){x(", "n", 13),
            ("a=class{static n(e){x(", "n", 15),
            ("({n:()=>{x(", "n", 2),
            ("var o={k:1,n(e,t){x(", "n", 11),
            ("function n(){}function q(){let n=1;x(", "n", 9),
        ];
        for (text, name, want) in cases {
            assert_eq!(def(text, name), Some(want), "{text}");
        }
    }

    #[test]
    fn uses_and_values_are_not_definitions() {
        for (text, name) in [
            ("n(e);x(", "n"),
            ("let s=n(e);x(", "n"),
            ("let n=e+1;x(", "n"),
            ("if(a){b()}n(e);x(", "n"),
            ("a?n:b;x(", "n"),
            ("nn=()=>1;x(", "n"),
            ("n==e;x(", "n"),
            ("this.n=[];x(", "n"),
            ("Object.defineProperty(", "Object"),
        ] {
            assert_eq!(def(text, name), None, "{text}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("a"));
        assert!(is_identifier("$_x1"));
        assert!(is_identifier("ünïcode"));
        assert!(!is_identifier("?"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("<anonymous>"));
    }
}
