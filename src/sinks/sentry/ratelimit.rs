//! Sentry's rate limits, as the SDK developer docs define them: `X-Sentry-Rate-Limits`
//! (per data category, on any response) takes precedence over `Retry-After`; a 429 with
//! neither means a minute. Three categories matter here: `error` for events, `session` for
//! release health (server aggregates, a browser's session updates) and `internal` for a
//! browser's client reports; the last two wait out their own limits and the errors' too.

use super::super::http::{self, parse_retry_after};
use std::time::{Duration, SystemTime};

/// How long a bare 429 holds everything back.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// When sending events may resume; `None` when it may now.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RateLimits {
    until: Option<SystemTime>,
    sessions_until: Option<SystemTime>,
    internal_until: Option<SystemTime>,
}

/// The data category of an item that is not an event, as Sentry's rate limits name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `session`: `sessions` and `session` items.
    Session,
    /// `internal`: `client_report` items.
    Internal,
}

impl Category {
    /// The category of an envelope item type (anything but `client_report` is release health).
    pub fn of_item(ty: &str) -> Category {
        match ty {
            "client_report" => Category::Internal,
            _ => Category::Session,
        }
    }
}

impl RateLimits {
    /// Takes in one response's headers (`status` 0 for a network error).
    pub fn update(
        &mut self,
        status: u16,
        rate_limits: Option<&str>,
        retry_after: Option<&str>,
        now: SystemTime,
    ) {
        let mut limited = false;
        if let Some(header) = rate_limits.filter(|h| !h.trim().is_empty()) {
            for limit in header.split(',') {
                if let Some(until) = category_limit(limit.trim(), now, &["error", "default"]) {
                    self.extend(until);
                    limited = true;
                }
                if let Some(until) = category_limit(limit.trim(), now, &["session"]) {
                    self.sessions_until = Some(self.sessions_until.map_or(until, |u| u.max(until)));
                    limited = true;
                }
                if let Some(until) = category_limit(limit.trim(), now, &["internal"]) {
                    self.internal_until = Some(self.internal_until.map_or(until, |u| u.max(until)));
                    limited = true;
                }
            }
        }
        // A 429 refused this very request, whatever its header names (other categories only,
        // or nothing that parses): events still wait `Retry-After`, or a minute.
        if status == 429 && !limited {
            let wait = retry_after
                .and_then(|h| parse_retry_after(h, now))
                .unwrap_or(DEFAULT_RETRY_AFTER);
            self.extend(at(now, wait));
        }
    }

    fn extend(&mut self, until: SystemTime) {
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
    }

    /// The end of the current limit on events, if one is in force at `now`.
    pub fn until(&self, now: SystemTime) -> Option<SystemTime> {
        self.until.filter(|u| *u > now)
    }

    /// The end of the current limit on a category of non-event items, if one is in force at
    /// `now`.
    pub fn held_until(&self, category: Category, now: SystemTime) -> Option<SystemTime> {
        match category {
            Category::Session => self.sessions_until,
            Category::Internal => self.internal_until,
        }
        .filter(|u| *u > now)
    }
}

/// `retry_after:categories:scope:reason_code:namespaces`, applying when the categories are
/// empty (all) or name one of `names`.
fn category_limit(limit: &str, now: SystemTime, names: &[&str]) -> Option<SystemTime> {
    let mut fields = limit.split(':');
    let wait = http::seconds(fields.next()?)?;
    let categories = fields.next().unwrap_or("");
    let applies =
        categories.trim().is_empty() || categories.split(';').any(|c| names.contains(&c.trim()));
    applies.then(|| at(now, wait))
}

/// `now + wait`, or as far as the clock goes: a clock set near its end must not panic.
fn at(now: SystemTime, wait: Duration) -> SystemTime {
    now.checked_add(wait).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(now: SystemTime, s: u64) -> Option<SystemTime> {
        Some(now + Duration::from_secs(s))
    }

    #[test]
    fn sentry_header_per_category() {
        let now = SystemTime::now();
        let mut l = RateLimits::default();
        l.update(
            200,
            Some("60:transaction:key, 2700:session:organization"),
            None,
            now,
        );
        assert_eq!(
            l.until(now),
            None,
            "other categories do not hold errors back"
        );
        l.update(
            200,
            Some("30:error;transaction:project:quota_exceeded"),
            None,
            now,
        );
        assert_eq!(l.until(now), at(now, 30));
        l.update(429, Some("90::organization"), Some("5"), now);
        assert_eq!(
            l.until(now),
            at(now, 90),
            "empty categories mean all; the header wins over Retry-After"
        );
        assert_eq!(l.until(now + Duration::from_secs(91)), None);
        assert_eq!(l.held_until(Category::Session, now), at(now, 2700));
    }

    #[test]
    fn a_429_for_sessions_alone_does_not_hold_events_back() {
        let now = SystemTime::now();
        let mut l = RateLimits::default();
        l.update(429, Some("120:session:project"), Some("5"), now);
        assert_eq!(l.until(now), None);
        assert_eq!(l.held_until(Category::Session, now), at(now, 120));
        assert_eq!(l.held_until(Category::Internal, now), None);
    }

    #[test]
    fn client_reports_wait_for_category_internal_only() {
        let now = SystemTime::now();
        let mut l = RateLimits::default();
        l.update(429, Some("30:internal:organization"), None, now);
        assert_eq!(l.held_until(Category::Internal, now), at(now, 30));
        assert_eq!(l.held_until(Category::Session, now), None);
        assert_eq!(l.until(now), None);
        assert_eq!(Category::of_item("client_report"), Category::Internal);
        assert_eq!(Category::of_item("session"), Category::Session);
        assert_eq!(Category::of_item("sessions"), Category::Session);
    }

    #[test]
    fn absurd_limits_hold_for_a_day_and_never_panic() {
        let now = SystemTime::now();
        let mut l = RateLimits::default();
        l.update(200, Some("1e19::organization"), None, now);
        assert_eq!(l.until(now), Some(now + http::MAX_WAIT));
        let mut l = RateLimits::default();
        l.update(429, None, Some("1e20"), now);
        assert_eq!(l.until(now), Some(now + http::MAX_WAIT));
        let mut l = RateLimits::default();
        l.update(200, Some("inf::org, nan:error:org, -5::org"), None, now);
        assert_eq!(l.until(now), None);
    }

    #[test]
    fn a_429_always_holds_events_back() {
        let now = SystemTime::now();
        let mut l = RateLimits::default();
        l.update(429, Some("60:transaction:key"), Some("3"), now);
        assert_eq!(l.until(now), at(now, 3), "a header for other categories");
        let mut l = RateLimits::default();
        l.update(429, Some("garbage"), None, now);
        assert_eq!(l.until(now), at(now, 60), "a header that does not parse");
    }

    #[test]
    fn retry_after_seconds_date_and_default() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let mut l = RateLimits::default();
        l.update(429, None, Some("7"), now);
        assert_eq!(l.until(now), at(now, 7));
        let mut l = RateLimits::default();
        l.update(429, None, Some("Sun, 06 Nov 1994 08:50:37 GMT"), now);
        assert_eq!(l.until(now), at(now, 60));
        let mut l = RateLimits::default();
        l.update(429, None, None, now);
        assert_eq!(l.until(now), at(now, 60));
        let mut l = RateLimits::default();
        l.update(503, None, Some("7"), now);
        assert_eq!(
            l.until(now),
            None,
            "Retry-After on a 5xx is backoff, not a rate limit"
        );
    }
}
