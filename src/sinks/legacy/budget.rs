//! The legacy endpoint's request budget: never more than N requests in any sixty seconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

pub struct Budget {
    per_minute: usize,
    sent: VecDeque<Instant>,
}

impl Budget {
    pub fn new(per_minute: u32) -> Self {
        Budget {
            per_minute: per_minute.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    /// When the next request may go: `now` or later.
    pub fn next_slot(&mut self, now: Instant) -> Instant {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.per_minute {
            now
        } else {
            self.sent[self.sent.len() - self.per_minute] + WINDOW
        }
    }

    pub fn spend(&mut self, now: Instant) {
        self.sent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_sixty_seconds_hold_at_most_the_budget() {
        let start = Instant::now();
        let mut budget = Budget::new(5);
        let mut sent = Vec::new();
        let mut now = start;
        // Try to send every 100 ms for five minutes, as a flood would.
        while now < start + Duration::from_secs(300) {
            if budget.next_slot(now) <= now {
                budget.spend(now);
                sent.push(now);
            }
            now += Duration::from_millis(100);
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < WINDOW)
                .count();
            assert!(
                in_window <= 5,
                "{in_window} requests within a minute of request {i}"
            );
        }
        assert_eq!(sent.len(), 25, "the budget is used, not wasted");
    }

    #[test]
    fn next_slot_is_when_the_oldest_request_leaves_the_window() {
        let t0 = Instant::now();
        let mut budget = Budget::new(2);
        budget.spend(t0);
        budget.spend(t0 + Duration::from_secs(10));
        assert_eq!(budget.next_slot(t0 + Duration::from_secs(11)), t0 + WINDOW);
        assert_eq!(budget.next_slot(t0 + WINDOW), t0 + WINDOW);
    }
}
