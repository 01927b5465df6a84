//! The spool's on-disk framing: one record per line, `<crc32 as 8 hex> <json>\n`. A crash can
//! only cut the last line short; a line without its newline or whose checksum fails is skipped
//! and counted, and the lines after it still read.

use std::io::{self, Write};

/// Appends one framed record to `out`.
pub fn write(out: &mut impl Write, payload: &[u8]) -> io::Result<usize> {
    let crc = crc32fast::hash(payload);
    let head = format!("{crc:08x} ");
    out.write_all(head.as_bytes())?;
    out.write_all(payload)?;
    out.write_all(b"\n")?;
    Ok(head.len() + payload.len() + 1)
}

/// What a spool file held: the payloads that check out, and how many lines did not.
pub struct Read<'a> {
    pub records: Vec<(u64, &'a [u8])>,
    pub corrupt: usize,
}

/// Every intact record in `bytes`, with its offset.
pub fn read_all(bytes: &[u8]) -> Read<'_> {
    let mut records = Vec::new();
    let mut corrupt = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some(len) = bytes[at..].iter().position(|b| *b == b'\n') else {
            corrupt += 1; // a torn last line
            break;
        };
        match check(&bytes[at..at + len]) {
            Some(payload) => records.push((at as u64, payload)),
            None => corrupt += 1,
        }
        at += len + 1;
    }
    Read { records, corrupt }
}

/// The payload of one line (without its newline), if its checksum holds.
pub fn check(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 9 || line[8] != b' ' {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    let payload = &line[9..];
    (crc32fast::hash(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut file = Vec::new();
        write(&mut file, br#"{"a":1}"#).unwrap();
        let second = file.len();
        write(&mut file, br#"{"b":2}"#).unwrap();
        write(&mut file, br#"{"c":3}"#).unwrap();
        let read = read_all(&file);
        assert_eq!(read.records.len(), 3);
        assert_eq!(read.corrupt, 0);

        // A flipped byte in the middle record: skipped, the others kept.
        let mut damaged = file.clone();
        damaged[second + 12] ^= 0x20;
        let read = read_all(&damaged);
        assert_eq!(
            read.records.iter().map(|r| r.1).collect::<Vec<_>>(),
            [&br#"{"a":1}"#[..], br#"{"c":3}"#]
        );
        assert_eq!(read.corrupt, 1);

        // A torn tail: the last record cut short.
        let torn = &file[..file.len() - 4];
        let read = read_all(torn);
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.corrupt, 1);
        assert_eq!(read.records[1].0, second as u64);
    }
}
