//! The spool's on-disk framing: one record per line, `<crc32 as 8 hex> <json>\n`. A crash can
//! only cut the last line short; a line without its newline or whose checksum fails is skipped
//! and counted, and the lines after it still read.

use std::io::{self, BufRead, Read, Write};

/// Appends one framed record to `out`; a payload over `MAX_RECORD` is refused.
pub fn write(out: &mut impl Write, payload: &[u8]) -> io::Result<usize> {
    if payload.len() > MAX_RECORD {
        return Err(io::Error::other(format!(
            "a record of {} bytes is over the spool's limit",
            payload.len()
        )));
    }
    let crc = crc32fast::hash(payload);
    let head = format!("{crc:08x} ");
    out.write_all(head.as_bytes())?;
    out.write_all(payload)?;
    out.write_all(b"\n")?;
    Ok(head.len() + payload.len() + 1)
}

/// Longest record the spool writes, and so the longest line a reader takes in: a tampered
/// file cannot make a reader hold more than this at once.
pub const MAX_RECORD: usize = 128 * 1024 * 1024;

/// Calls `each` with the payload of every intact record `reader` holds, one at a time, and
/// returns how many lines were damaged: a checksum that fails, a line longer than
/// `MAX_RECORD`, or a torn last line.
pub fn read(mut reader: impl BufRead, mut each: impl FnMut(&[u8])) -> usize {
    // The longest line a record makes: checksum, space, payload, newline.
    const LINE: u64 = MAX_RECORD as u64 + 10;
    let mut line = Vec::new();
    let mut corrupt = 0;
    loop {
        line.clear();
        match (&mut reader).take(LINE).read_until(b'\n', &mut line) {
            Ok(0) => return corrupt,
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                match check(&line) {
                    Some(payload) => each(payload),
                    None => corrupt += 1,
                }
            }
            Ok(n) if n as u64 == LINE => {
                corrupt += 1;
                if reader.skip_until(b'\n').is_err() {
                    return corrupt;
                }
            }
            // A torn last line, or a file that cannot be read on.
            Ok(_) | Err(_) => return corrupt + 1,
        }
    }
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
        let all = |bytes: &[u8]| {
            let mut records: Vec<Vec<u8>> = Vec::new();
            let corrupt = read(bytes, |p| records.push(p.to_vec()));
            (records, corrupt)
        };
        let (records, corrupt) = all(&file);
        assert_eq!(records.len(), 3);
        assert_eq!(corrupt, 0);

        // A flipped byte in the middle record: skipped, the others kept.
        let mut damaged = file.clone();
        damaged[second + 12] ^= 0x20;
        let (records, corrupt) = all(&damaged);
        assert_eq!(records, [&br#"{"a":1}"#[..], br#"{"c":3}"#]);
        assert_eq!(corrupt, 1);

        // A torn tail: the last record cut short.
        let torn = &file[..file.len() - 4];
        let (records, corrupt) = all(torn);
        assert_eq!(records.len(), 2);
        assert_eq!(corrupt, 1);

        // A line longer than any record is skipped without being held whole.
        let mut long = vec![b'x'; MAX_RECORD + 100];
        long.push(b'\n');
        long.extend_from_slice(&file);
        let (records, corrupt) = all(&long);
        assert_eq!((records.len(), corrupt), (3, 1));
    }
}
