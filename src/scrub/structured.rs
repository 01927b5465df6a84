//! Strings that carry keyed data of their own: JSON, URLs and query strings, and `key=value`
//! text in messages. Each is scrubbed by key inside, through the `filter` callback, which
//! decides per key and remembers what it removed.

use super::policy::FILTERED;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// Decides whether the value under `key` goes; if so, it has been remembered as tainted.
pub trait KeyFilter {
    fn filter(&mut self, key: &str, value: &Value) -> bool;
    /// How many values `filter` has removed so far.
    fn filtered(&self) -> usize;
    /// Scrubs a parsed JSON document by key, as for any other part of the event.
    fn document(&mut self, doc: &mut Value, depth: usize);
}

/// The `key=` or `key: ` of an assignment in free text; the value follows.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[\s,;&?{(\[])["']?([A-Za-z_][A-Za-z0-9_-]{1,40})["']?\s*[=:]\s*"#)
        .expect("the assignment pattern compiles")
});

/// `text` scrubbed by key inside, or `None` when nothing in it was keyed personal data.
pub fn scrub(text: &str, f: &mut dyn KeyFilter, depth: usize) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with(['{', '[']) {
        if let Ok(mut doc) = serde_json::from_str::<Value>(text) {
            let before = f.filtered();
            f.document(&mut doc, depth + 1);
            return (f.filtered() != before).then(|| doc.to_string());
        }
    }
    if let Some(out) = url_or_query(text, f) {
        return Some(out);
    }
    if let Some(decoded) = base64_text(text) {
        // Keyed data inside base64 (`eyJmdWxsTmFtZSI6…` is `{"fullName":…}`): the values are
        // remembered as tainted, and the string goes whole, since re-encoding it would not
        // make it any more readable.
        let before = f.filtered();
        let inner = scrub(&decoded, f, depth + 1);
        return (inner.is_some() || f.filtered() != before).then(|| FILTERED.to_owned());
    }
    assignments(text, f)
}

/// Base64 strings shorter than this are left alone: ids and words are often that short.
const MIN_BASE64: usize = 16;

/// What `text` says if it is base64 (standard or URL-safe, padded or not) of UTF-8 text:
/// `None` for anything else, including base64 of binary (hashes, random ids), which stays.
pub fn base64_text(text: &str) -> Option<String> {
    let body = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    // Checked before decoding: most strings are not base64, and this asks no allocation.
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'/' | b'_');
    if body.len() < MIN_BASE64 || body.len() % 4 == 1 || !body.bytes().all(alphabet) {
        return None;
    }
    let mut bytes = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let decoded = String::from_utf8(bytes).ok()?;
    let text_like = decoded
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    text_like.then_some(decoded)
}

/// A URL (its credentials and query) or a bare query string (`a=1&b=2`, with or without `?`).
fn url_or_query(text: &str, f: &mut dyn KeyFilter) -> Option<String> {
    if text.is_empty()
        || text.contains(char::is_whitespace)
        || !text.contains('=') && !text.contains('@')
    {
        return None;
    }
    let (head, rest) = match text.find('?') {
        Some(q) => text.split_at(q + 1),
        None if text.contains("://") => (text, ""),
        None => ("", text),
    };
    let (query, fragment) = match rest.find('#') {
        Some(h) => rest.split_at(h),
        None => (rest, ""),
    };
    let head_out = credentials(head, f);
    let query_out = query_string(query, f);
    if head_out.is_none() && query_out.is_none() {
        return None;
    }
    Some(format!(
        "{}{}{}",
        head_out.as_deref().unwrap_or(head),
        query_out.as_deref().unwrap_or(query),
        fragment
    ))
}

/// `https://user:pass@host/…` loses `user:pass`.
fn credentials(head: &str, f: &mut dyn KeyFilter) -> Option<String> {
    let scheme_end = head.find("://")? + 3;
    let authority_end = head[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(head.len(), |i| scheme_end + i);
    let at = head[scheme_end..authority_end].rfind('@')? + scheme_end;
    let userinfo = &head[scheme_end..at];
    f.filter("password", &Value::from(decode(userinfo)));
    for part in userinfo.split(':') {
        f.filter("password", &Value::from(decode(part)));
    }
    Some(format!("{}{FILTERED}{}", &head[..scheme_end], &head[at..]))
}

fn query_string(query: &str, f: &mut dyn KeyFilter) -> Option<String> {
    if !query.contains('=') {
        return None;
    }
    let mut changed = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if f.filter(&decode(k), &Value::from(decode(v))) => {
                changed = true;
                format!("{k}={FILTERED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

fn assignments(text: &str, f: &mut dyn KeyFilter) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    let mut at = 0;
    while let Some(caps) = ASSIGNMENT.captures_at(text, at) {
        let key = caps.get(1).expect("group 1 always takes part");
        // "file name: screen.js", "function name: screen": the word before says it is code.
        if super::keys::technical_phrase(&text[..key.start()], key.as_str()) {
            at = key.end();
            continue;
        }
        let start = caps.get(0).expect("group 0 is the match").end();
        let end = start + value_len(&text[start..]);
        let bare = text[start..end].trim_matches(['"', '\'']);
        if end > start && f.filter(key.as_str(), &Value::from(bare)) {
            out.push_str(&text[last..start]);
            out.push_str(FILTERED);
            last = end;
            at = end;
        } else {
            at = key.end();
        }
    }
    (last > 0).then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// The length of the value at the start of `rest`: a quoted string, a bracketed list or
/// object (to its matching bracket), or up to a separator.
fn value_len(rest: &str) -> usize {
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].find(q).map_or(rest.len(), |i| i + 2),
        Some(open @ ('[' | '{')) => {
            let close = if open == '[' { ']' } else { '}' };
            let mut depth = 0usize;
            for (i, c) in rest.char_indices() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
            }
            rest.len()
        }
        _ => rest
            .find(|c: char| c.is_whitespace() || ",;&)}]\"'".contains(c))
            .unwrap_or(rest.len()),
    }
}

/// `a=1; b=2` becomes `a=[Filtered]; b=[Filtered]` (the caller has tainted the values).
pub fn cookie_names_only(cookies: &str) -> String {
    cookies
        .split(';')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={FILTERED}"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters the keys it is given and records the values it removed.
    struct Filter(Vec<String>);

    impl KeyFilter for Filter {
        fn filter(&mut self, key: &str, value: &Value) -> bool {
            let hit = ["email", "name", "password", "dob", "token"]
                .contains(&key.to_lowercase().as_str());
            if hit {
                self.0.push(value.as_str().unwrap_or_default().to_owned());
            }
            hit
        }
        fn filtered(&self) -> usize {
            self.0.len()
        }
        fn document(&mut self, doc: &mut Value, _depth: usize) {
            if let Value::Object(map) = doc {
                for (k, v) in map.iter_mut() {
                    if self.filter(k, v) {
                        *v = Value::from(FILTERED);
                    }
                }
            }
        }
    }

    fn run(text: &str) -> (Option<String>, Vec<String>) {
        let mut f = Filter(Vec::new());
        (scrub(text, &mut f, 0), f.0)
    }

    #[test]
    fn json_strings() {
        let (out, removed) = run(r#"{"name":"Jane Roe","ref":"A1"}"#);
        assert_eq!(out.unwrap(), r#"{"name":"[Filtered]","ref":"A1"}"#);
        assert_eq!(removed, ["Jane Roe"]);
        assert_eq!(run(r#"{"ref":"A1"}"#).0, None);
    }

    #[test]
    fn urls_and_query_strings() {
        let (out, removed) = run("https://app.example/screen?name=Jane%20Roe&list=OFSI#top");
        assert_eq!(
            out.unwrap(),
            "https://app.example/screen?name=[Filtered]&list=OFSI#top"
        );
        assert_eq!(removed, ["Jane Roe"]);
        let (out, _) = run("email=a%40b.com&page=2");
        assert_eq!(out.unwrap(), "email=[Filtered]&page=2");
        let (out, removed) = run("postgres://admin:s3cret@db.internal:5432/app");
        assert_eq!(out.unwrap(), "postgres://[Filtered]@db.internal:5432/app");
        assert!(removed.contains(&"s3cret".to_owned()));
        assert_eq!(run("https://app.example/screen?list=OFSI").0, None);
    }

    #[test]
    fn base64_of_text_is_read_inside() {
        // base64 of {"name":"Jane Roe"} and of {"ref":"A1","list":"OFSI"}
        let (out, removed) = run("eyJuYW1lIjoiSmFuZSBSb2UifQ==");
        assert_eq!(out.unwrap(), FILTERED);
        assert_eq!(removed, ["Jane Roe"]);
        assert_eq!(run("eyJyZWYiOiJBMSIsImxpc3QiOiJPRlNJIn0").0, None);
        assert_eq!(
            base64_text("cGxlYXNlIGNhbGwgbWU").as_deref(),
            Some("please call me")
        );
        // Binary, a hex digest, a plain word, a UUID: not base64 of text.
        for s in [
            "3q2+7wATn4D/QQLDKJB+EapV",
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "checkSanctionsList",
            "550e8400-e29b-41d4-a716-446655440000",
            "REFER_TO_ANALYST",
        ] {
            assert_eq!(base64_text(s), None, "{s}");
        }
    }

    #[test]
    fn cookies_keep_their_names() {
        assert_eq!(
            cookie_names_only("sid=abc123; theme=dark"),
            "sid=[Filtered]; theme=[Filtered]"
        );
    }

    #[test]
    fn assignments_in_free_text() {
        let (out, removed) = run("screening failed: name=\"Jane Roe\" dob=1970-01-01 list=OFSI");
        assert_eq!(
            out.unwrap(),
            "screening failed: name=[Filtered] dob=[Filtered] list=OFSI"
        );
        assert_eq!(removed, ["Jane Roe", "1970-01-01"]);
        let (out, removed) = run("scoreMatches([{ name: ['x', 'y'] }, {}])");
        assert_eq!(out.unwrap(), "scoreMatches([{ name: [Filtered] }, {}])");
        assert_eq!(removed, ["['x', 'y']"]);
        // File positions in stack text are not assignments.
        assert_eq!(run("    at screen (/srv/app/name.js:10:5)").0, None);
        // Nor is a technical name, said in two words.
        assert_eq!(run("file name: screen.js, function name: screen").0, None);
    }
}
