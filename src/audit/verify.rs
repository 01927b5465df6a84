//! Checks an audit directory: every line's hash, every link from line to line and from day
//! to day, starting where retention left the chain (`anchor.json`) or at the genesis; and that
//! the files are readable by their owner alone, as the tracker writes them. Stops at the first
//! broken link: everything after it is unproven.

use super::{chain, day_of, read_anchor, Anchor};
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// What [`verify`] found.
pub struct Verification {
    /// Day files checked, and their lines.
    pub files: u32,
    pub lines: u64,
    /// The hash of the last line: record it, and a later verification that reaches the same
    /// hash proves nothing before it changed since.
    pub head: String,
    pub oldest_day: Option<String>,
    pub newest_day: Option<String>,
    pub anchor: Option<Anchor>,
    /// The first line that does not follow from the one before it.
    pub broken: Option<Broken>,
    /// Anything else that keeps the trail from being proven: permissions, unreadable files.
    pub problems: Vec<String>,
    /// Lines at the start of the trail written before the chain began: not proven.
    pub unchained: u64,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.broken.is_none() && self.problems.is_empty()
    }
}

pub struct Broken {
    /// The file's name within the audit directory.
    pub file: String,
    /// 1-based.
    pub line: u64,
    pub reason: String,
}

pub fn verify(dir: &Path) -> Verification {
    let mut v = Verification {
        files: 0,
        lines: 0,
        head: chain::GENESIS.to_owned(),
        oldest_day: None,
        newest_day: None,
        anchor: None,
        broken: None,
        problems: Vec::new(),
        unchained: 0,
    };
    if let Err(e) = walk(dir, &mut v) {
        v.problems.push(format!("{}: {e}", dir.display()));
    }
    v
}

fn walk(dir: &Path, v: &mut Verification) -> io::Result<()> {
    private(dir, true, &mut v.problems)?;
    let mut names: Vec<(time::Date, String)> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((day_of(&name)?, name))
        })
        .collect();
    names.sort();
    v.anchor = read_anchor(dir)?;
    if let Some(anchor) = &v.anchor {
        v.head = anchor.hash.clone();
        // Days at or before the anchor were being deleted when a process stopped; the kept
        // chain starts after them, and the next rotation deletes them.
        let retired = names.iter().filter(|(d, _)| d.to_string() <= anchor.day);
        for (_, name) in retired {
            v.problems.push(format!(
                "{name}: older than anchor.json ({}) yet not deleted",
                anchor.day
            ));
        }
        names.retain(|(d, _)| d.to_string() > anchor.day);
    }
    v.oldest_day = names.first().map(|(d, _)| d.to_string());
    v.newest_day = names.last().map(|(d, _)| d.to_string());
    let mut previous: Option<String> = None;
    let mut last_unchained = None;
    for (_, name) in names {
        let path = dir.join(&name);
        private(&path, false, &mut v.problems)?;
        v.files += 1;
        let mut reader = BufReader::new(crate::files::read_regular(&path)?);
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            number += 1;
            let mut broken = |reason: String| {
                v.broken = Some(Broken {
                    file: name.clone(),
                    line: number,
                    reason,
                })
            };
            let Some(text) = line.strip_suffix(b"\n") else {
                broken("the line is cut short (no newline after it)".into());
                return Ok(());
            };
            let link = match chain::open(text) {
                Ok(link) => link,
                // Before the first chained line: written by a version without the chain. Not
                // proven, but the chain after it is checked, from the hash of its bytes.
                Err(_) if v.lines == 0 => {
                    v.unchained += 1;
                    v.head = chain::hash_after(text);
                    last_unchained = Some((name.clone(), number));
                    continue;
                }
                Err(why) => {
                    broken(format!("not a chained audit line: it {why}"));
                    return Ok(());
                }
            };
            if !link.intact() {
                broken("edited: its content does not match its hash".into());
                return Ok(());
            }
            if link.prev != v.head {
                broken(match (number, &previous, &v.anchor) {
                    (1, Some(file), _) => format!(
                        "does not follow the last line of {file}: lines were removed or moved \
                         across days"
                    ),
                    (1, None, Some(anchor)) => format!(
                        "does not follow anchor.json (the end of {}, the last day retention \
                         deleted): the oldest kept day was altered or a day removed",
                        anchor.day
                    ),
                    (1, None, None) => "is not the start of the chain (no anchor.json): an \
                         earlier day was removed"
                        .into(),
                    _ => format!(
                        "does not follow line {}: a line before it was removed, or lines \
                         were moved",
                        number - 1
                    ),
                });
                return Ok(());
            }
            v.head = link.hash.to_owned();
            v.lines += 1;
        }
        previous = Some(name);
    }
    if let Some((file, line)) = last_unchained {
        v.problems.push(format!(
            "{} lines, from the start of the trail to {file}:{line}, were written before the \
             chain began (by an older version) and cannot be proven; the chain is checked from \
             the line after. The trail verifies once retention has deleted those days",
            v.unchained
        ));
    }
    Ok(())
}

/// Notes a symbolic link, a non-regular file or one that group or others may read or write.
fn private(path: &Path, dir: bool, problems: &mut Vec<String>) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if meta.file_type().is_symlink() {
        problems.push(format!(
            "{name}: a symbolic link, not written by the tracker"
        ));
    } else if dir != meta.is_dir() {
        problems.push(format!(
            "{name}: not a regular {}",
            if dir { "folder" } else { "file" }
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            problems.push(format!(
                "{name}: mode {mode:o}, readable or writable beyond its owner (the tracker \
                 writes {})",
                if dir { "700" } else { "600" }
            ));
        }
    }
    Ok(())
}
