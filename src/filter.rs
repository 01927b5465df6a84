//! Stage 3b, on the worker: errors the app said not to send (`ignoreErrors`), matched against
//! the built event before anything else is done with it, and counted (`stats().ignored`).
//! Matching happens here, not on the calling thread, so a long list costs the app nothing.

use regex::Regex;
use sentry_types::protocol::v7::Event;

/// One `ignoreErrors` entry.
#[derive(Debug, Clone)]
pub enum Rule {
    /// A string: matches a text that contains it.
    Contains(String),
    /// A RegExp, compiled with its flags: matches a text it finds a match in.
    Matches(Regex),
}

impl Rule {
    fn matches(&self, text: &str) -> bool {
        match self {
            Rule::Contains(part) => text.contains(part.as_str()),
            Rule::Matches(re) => re.is_match(text),
        }
    }
}

/// Whether `event` matches a rule. The texts are Sentry's: the thrown error's `Type: message`
/// and its message, or a message event's text.
pub fn ignored(rules: &[Rule], event: &Event<'_>) -> bool {
    if rules.is_empty() {
        return false;
    }
    let mut texts: Vec<String> = Vec::with_capacity(2);
    if let Some(main) = event.exception.values.last() {
        let value = main.value.as_deref().unwrap_or_default();
        texts.push(format!("{}: {value}", main.ty));
        texts.push(value.to_owned());
    }
    if let Some(entry) = &event.logentry {
        texts.push(entry.message.clone());
    }
    rules
        .iter()
        .any(|rule| texts.iter().any(|text| rule.matches(text)))
}

/// A JavaScript RegExp (`{ regex: source, flags }`, as `index.js` hands it over) in Rust's
/// syntax: the flags that change what matches (`i`, `m`, `s`) become inline flags; `g`, `y`,
/// `u`, `d` do not change whether a text matches.
pub fn regex(source: &str, flags: &str) -> Result<Regex, regex::Error> {
    let inline: String = flags.chars().filter(|f| "ims".contains(*f)).collect();
    if inline.is_empty() {
        Regex::new(source)
    } else {
        Regex::new(&format!("(?{inline}){source}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_types::protocol::v7::{Exception, LogEntry};

    fn error(ty: &str, value: &str) -> Event<'static> {
        let mut event = Event::default();
        event.exception.values.push(Exception {
            ty: ty.to_owned(),
            value: Some(value.to_owned()),
            ..Exception::default()
        });
        event
    }

    #[test]
    fn strings_match_inside_type_and_message_and_regexps_take_their_flags() {
        let rules = [
            Rule::Contains("ResizeObserver loop".to_owned()),
            Rule::Matches(regex("^abort", "i").unwrap()),
        ];
        assert!(ignored(
            &rules,
            &error("Error", "ResizeObserver loop limit exceeded")
        ));
        assert!(ignored(
            &rules,
            &error("AbortError", "ABORTED by the client")
        ));
        assert!(ignored(
            &[Rule::Contains("TypeError: x".to_owned())],
            &error("TypeError", "x is undefined")
        ));
        assert!(!ignored(&rules, &error("Error", "screening failed")));
        let mut message = Event::default();
        message.logentry = Some(LogEntry {
            message: "aborted upload".to_owned(),
            params: Vec::new(),
        });
        assert!(ignored(&rules, &message));
        assert!(!ignored(&[], &error("Error", "anything")));
    }
}
