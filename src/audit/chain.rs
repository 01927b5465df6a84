//! The hash chain that makes the audit trail tamper-evident, defined on bytes so that any tool
//! can check it without parsing JSON the way we do:
//!
//! ```text
//! {"prev":"<P>",<members>,"hash":"<H>"}\n
//! └──────────── body ─────┘
//! ```
//!
//! `H` is the lowercase hex SHA-256 of the body: the line's bytes from its opening `{` up to,
//! not including, the final `,"hash":"`. `P` is the `H` of the line before, across files: the
//! first line of a day's file carries the last `H` of the newest earlier file, or, when
//! retention deleted every earlier day, the `hash` in `anchor.json`; the very first line ever
//! carries [`GENESIS`]. Editing a line breaks its own `H`; deleting or moving one breaks the
//! `P` of the line that now follows its old neighbour.

use sha2::{Digest, Sha256};

/// The `prev` of the first line a trail ever had: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const PREV: &[u8] = b"{\"prev\":\"";
const HASH: &[u8] = b",\"hash\":\"";
const HEX_LEN: usize = 64;
/// `,"hash":"` + 64 hex digits + `"}`.
const TAIL_LEN: usize = HASH.len() + HEX_LEN + 2;

/// Appends to `out` the line that follows the one whose hash is `prev`, holding the members of
/// `object` (a serialized JSON object with at least one member), with its newline. Returns the
/// new line's hash.
pub fn seal(out: &mut Vec<u8>, prev: &str, object: &[u8]) -> String {
    debug_assert!(object.len() > 2 && object[0] == b'{' && object[object.len() - 1] == b'}');
    let start = out.len();
    out.extend_from_slice(PREV);
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(&object[1..object.len() - 1]);
    let hash = digest(&out[start..]);
    out.extend_from_slice(HASH);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    hash
}

/// A chained line taken apart.
pub struct Link<'a> {
    pub prev: &'a str,
    pub hash: &'a str,
    body: &'a [u8],
}

impl Link<'_> {
    /// Whether the line's content is what its hash was computed over.
    pub fn intact(&self) -> bool {
        digest(self.body) == self.hash
    }
}

/// Takes a line (without its newline) apart, or says why it is not a chained line.
pub fn open(line: &[u8]) -> Result<Link<'_>, &'static str> {
    let hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let head = PREV.len() + HEX_LEN + 2;
    if line.len() < head + TAIL_LEN
        || !line.starts_with(PREV)
        || &line[PREV.len() + HEX_LEN..head] != b"\","
        || !hex(&line[PREV.len()..PREV.len() + HEX_LEN])
    {
        return Err("does not start with a {\"prev\":\"<sha-256>\", member");
    }
    let tail = &line[line.len() - TAIL_LEN..];
    if !tail.starts_with(HASH) || !tail.ends_with(b"\"}") || !hex(&tail[HASH.len()..][..HEX_LEN]) {
        return Err("does not end with a ,\"hash\":\"<sha-256>\"} member");
    }
    let text = |b| std::str::from_utf8(b).expect("checked hex");
    Ok(Link {
        prev: text(&line[PREV.len()..PREV.len() + HEX_LEN]),
        hash: text(&tail[HASH.len()..][..HEX_LEN]),
        body: &line[..line.len() - TAIL_LEN],
    })
}

/// The `prev` the line after `line` must carry: its hash, or, for a line that is not chained
/// (torn by a full disk, or written before the chain), the SHA-256 of its bytes, so what
/// follows still commits to it while verification reports it.
pub fn hash_after(line: &[u8]) -> String {
    match open(line) {
        Ok(link) => link.hash.to_owned(),
        Err(_) => digest(line),
    }
}

fn digest(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition in bytes, pinned: `bin/audit.mjs` documents it and tools outside this
    /// crate (sha256sum, node:crypto) must get the same hash.
    #[test]
    fn a_line_is_its_body_then_the_bodys_sha256() {
        let mut out = Vec::new();
        let hash = seal(
            &mut out,
            GENESIS,
            br#"{"ts":"2026-01-01T00:00:00Z","action":"captured"}"#,
        );
        let body =
            format!(r#"{{"prev":"{GENESIS}","ts":"2026-01-01T00:00:00Z","action":"captured"}}"#);
        let body = &body[..body.len() - 1];
        assert_eq!(hash, digest(body.as_bytes()));
        // `printf '%s' "$body" | sha256sum`, computed outside this crate.
        assert_eq!(
            hash,
            "eb3ebfb4f8bb4bb3e64f2472da559d6754bcc647d66135d20436fbd56151577a"
        );
        assert_eq!(out, format!("{body},\"hash\":\"{hash}\"}}\n").as_bytes());
        let line = &out[..out.len() - 1];
        assert!(serde_json::from_slice::<serde_json::Value>(line).is_ok());
        let link = open(line).unwrap();
        assert_eq!((link.prev, link.hash), (GENESIS, hash.as_str()));
        assert!(link.intact());
        assert_eq!(hash_after(line), hash);
    }

    #[test]
    fn an_edit_anywhere_but_the_hash_breaks_it() {
        let mut out = Vec::new();
        seal(
            &mut out,
            GENESIS,
            br#"{"eventId":"a","action":"delivered"}"#,
        );
        let line = String::from_utf8(out[..out.len() - 1].to_vec()).unwrap();
        let edited = line.replace("delivered", "failed");
        assert!(!open(edited.as_bytes()).unwrap().intact());
        assert!(open(b"{\"ts\":1}").is_err());
        assert_eq!(hash_after(b"torn"), digest(b"torn"));
    }
}
