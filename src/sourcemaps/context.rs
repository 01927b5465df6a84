//! The source lines around a frame, as the Sentry SDKs attach them.

use sentry_types::protocol::v7::Frame;
use sourcemap::SourceView;

/// Lines shown before and after the frame's line (the SDKs' default).
const LINES_AROUND: u32 = 5;

/// Fills `pre_context`, `context_line` and `post_context` from `source` for the 1-based
/// `lineno`; leaves the frame alone if the source has no such line (it is not the file the map
/// was built from).
pub fn fill(frame: &mut Frame, source: &SourceView, lineno: u32, colno: u32) {
    let Some(index) = lineno.checked_sub(1) else {
        return;
    };
    let Some(line) = line_of(source, index) else {
        return;
    };
    frame.context_line = Some(snip(line, colno.saturating_sub(1) as usize));
    frame.pre_context = (index.saturating_sub(LINES_AROUND)..index)
        .filter_map(|i| line_of(source, i))
        .map(|l| snip(l, 0))
        .collect();
    frame.post_context = (index + 1..=index.saturating_add(LINES_AROUND))
        .map_while(|i| line_of(source, i))
        .map(|l| snip(l, 0))
        .collect();
}

/// Line `index` of `source`. The view counts an empty line after a final line break; editors
/// (and the SDKs, which read files line by line) do not, so neither do we.
fn line_of(source: &SourceView, index: u32) -> Option<&str> {
    let line = source.get_line(index)?;
    let is_last = index
        .checked_add(1)
        .is_none_or(|next| source.get_line(next).is_none());
    (!(line.is_empty() && is_last && index > 0)).then_some(line)
}

/// A long line cut to about 140 characters around `col`, marked with `{snip}` where cut: the
/// Sentry SDKs' `snipLine` (`@sentry/core`), so a stray minified line cannot bloat the event.
/// The stray `'` before the leading `{snip}` is theirs too; keeping it makes our context lines
/// identical to what the SDK would send.
fn snip(line: &str, col: usize) -> String {
    const KEEP_WHOLE: usize = 150;
    const WINDOW: usize = 140;
    let len = line.chars().count();
    if len <= KEEP_WHOLE {
        return line.to_owned();
    }
    let col = col.min(len);
    let mut start = col.saturating_sub(60);
    if start < 5 {
        start = 0;
    }
    let mut end = (start + WINDOW).min(len);
    if end > len - 5 {
        end = len;
    }
    if end == len {
        start = end.saturating_sub(WINDOW);
    }
    let kept: String = line.chars().skip(start).take(end - start).collect();
    let mut out = String::with_capacity(kept.len() + 14);
    if start > 0 {
        out.push_str("'{snip} ");
    }
    out.push_str(&kept);
    if end < len {
        out.push_str(" {snip}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(lines: u32) -> SourceView {
        let text: String = (1..=lines).map(|i| format!("line {i}\n")).collect();
        SourceView::from_string(text)
    }

    #[test]
    fn five_lines_each_side_clipped_at_the_ends() {
        let mut frame = Frame::default();
        fill(&mut frame, &view(20), 10, 1);
        assert_eq!(frame.context_line.as_deref(), Some("line 10"));
        assert_eq!(
            frame.pre_context,
            ["line 5", "line 6", "line 7", "line 8", "line 9"]
        );
        assert_eq!(
            frame.post_context,
            ["line 11", "line 12", "line 13", "line 14", "line 15"]
        );

        let mut first = Frame::default();
        fill(&mut first, &view(3), 1, 1);
        assert!(first.pre_context.is_empty());
        assert_eq!(first.post_context, ["line 2", "line 3"]);

        let mut past_the_end = Frame::default();
        fill(&mut past_the_end, &view(3), 9, 1);
        assert_eq!(past_the_end, Frame::default());
        fill(&mut past_the_end, &view(3), 0, 1);
        assert_eq!(past_the_end, Frame::default());
    }

    #[test]
    fn long_lines_are_snipped_around_the_column() {
        let line: String = ('a'..='z').cycle().take(1000).collect();
        let at_500 = snip(&line, 500);
        assert!(at_500.starts_with("'{snip} ") && at_500.ends_with(" {snip}"));
        assert_eq!(at_500.len(), "'{snip} ".len() + 140 + " {snip}".len());
        assert!(at_500.contains(&line[440..580]));
        assert_eq!(snip(&line, 0), format!("{} {{snip}}", &line[..140]));
        assert_eq!(snip(&line, 1000), format!("'{{snip}} {}", &line[860..]));
        assert_eq!(snip("short", 3), "short");
        let wide: String = "é".repeat(200);
        assert_eq!(snip(&wide, 0).chars().count(), 140 + " {snip}".len());
    }
}
