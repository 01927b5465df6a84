//! What a browser event needs beyond the policy every event gets (`Scrubber::event`). A page
//! knows things a server error does not: the URL the user typed or was sent to, what the app
//! logged to the console, who is signed in. The rules, in the order they run:
//!
//! | where | rule | why |
//! |---|---|---|
//! | the whole event | the full policy first, by key then by value | a personal key in the page's query (`?name=…`) taints its value everywhere, the message included |
//! | `request.url`, `request.headers.Referer`, breadcrumb URLs (`data.url`, `from`, `to`) | query and fragment removed | search terms, tokens and form fields travel there |
//! | `request` | only `url`, `method` and the `User-Agent` and `Referer` headers kept | the SDK sends no more; anything else came from elsewhere |
//! | console breadcrumbs | message `[Filtered]`, data (the logged arguments) removed | apps log whole objects: form state, API replies |
//! | `user` | only `id` kept (pseudonymised with `userIdSalt`); `email`, `ip_address` (`{{auto}}` too), `username`, `geo`, `data` go | who the user is stays on the server |
//! | `sdk.settings.infer_ip` | `never` (set as the envelope is written) | Sentry would otherwise fill in the address it sees |

use super::policy::FILTERED;
use super::{Scrubber, Texts};
use sentry_types::protocol::v7::{Event, Request, Url, User};

/// Request headers a browser event keeps (after the policy has scrubbed them).
const KEPT_HEADERS: &[&str] = &["user-agent", "referer"];
/// Breadcrumb data fields that hold URLs.
const URL_FIELDS: &[&str] = &["url", "from", "to"];

impl Scrubber {
    /// A browser event with its personal data removed: the full policy, then the rules above.
    pub fn browser_event(&self, event: Event<'static>, texts: Texts<'_>) -> Event<'static> {
        let mut event = self.event(event, texts);
        event.request = event.request.take().map(|r| Request {
            url: r.url.map(without_query),
            method: r.method,
            headers: r
                .headers
                .into_iter()
                .filter(|(k, _)| KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| (k, text_without_query(&v)))
                .collect(),
            ..Request::default()
        });
        for crumb in event.breadcrumbs.values.iter_mut() {
            if crumb.category.as_deref() == Some("console") {
                crumb.message = crumb.message.as_ref().map(|_| FILTERED.to_owned());
                crumb.data.clear();
                continue;
            }
            for field in URL_FIELDS {
                if let Some(serde_json::Value::String(s)) = crumb.data.get_mut(*field) {
                    *s = text_without_query(s);
                }
            }
        }
        event.user = event.user.take().and_then(|u| {
            u.id.map(|id| User {
                id: Some(id),
                ..User::default()
            })
        });
        event.server_name = None;
        event
    }
}

fn without_query(mut url: Url) -> Url {
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// `text` up to its first `?` or `#`.
fn text_without_query(text: &str) -> String {
    text.split(['?', '#']).next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::ScrubConfig;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_browser_rules_hold() {
        let event: Event<'static> = serde_json::from_value(json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "message": "Screening failed for Adaeze Okonkwo",
            "request": {
                "url": "https://app.example/screen?name=Adaeze%20Okonkwo&dob=1984-03-17#x",
                "headers": {
                    "User-Agent": "Mozilla/5.0",
                    "Referer": "https://app.example/list?q=Adaeze",
                    "Cookie": "session=abc"
                }
            },
            "breadcrumbs": { "values": [
                { "category": "console", "message": "state {\"dob\":\"1984-03-17\"}",
                  "data": { "arguments": ["state", { "dob": "1984-03-17" }] } },
                { "category": "navigation", "data": { "from": "/a?name=Adaeze", "to": "/b#dob" } },
                { "category": "fetch", "data": { "url": "/api/screen?q=Okonkwo", "method": "GET" } }
            ] },
            "user": { "id": "u1", "email": "a@b.example", "ip_address": "{{auto}}",
                      "username": "adaeze", "geo": { "city": "Leeds" } }
        }))
        .unwrap();
        let out = Scrubber::new(&ScrubConfig::default()).browser_event(event, Texts(vec![]));
        let text = serde_json::to_string(&out).unwrap();
        for planted in [
            "Adaeze",
            "Okonkwo",
            "1984-03-17",
            "a@b.example",
            "{{auto}}",
            "Leeds",
            "session=",
        ] {
            assert!(!text.contains(planted), "{planted} in {text}");
        }
        let request = out.request.unwrap();
        assert_eq!(request.url.unwrap().as_str(), "https://app.example/screen");
        assert_eq!(request.headers.len(), 2);
        assert_eq!(out.breadcrumbs.values[0].message.as_deref(), Some(FILTERED));
        assert_eq!(out.breadcrumbs.values[1].data["from"], "/a");
        assert_eq!(out.breadcrumbs.values[2].data["url"], "/api/screen");
        assert_eq!(out.user.unwrap().id.as_deref(), Some("u1"));
    }
}
