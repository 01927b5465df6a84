//! Stage 3b, on the worker: the grouping key. The same throw site gives the same key whatever
//! the message's numbers say; `scope.fingerprint` overrides it.

use sentry_types::protocol::v7::Event;

pub fn of(event: &Event<'_>) -> String {
    let mut h = Fnv::new();
    if event.fingerprint.iter().any(|p| p != "{{ default }}") {
        for part in event.fingerprint.iter() {
            h.write(part.as_bytes());
        }
        return h.hex();
    }
    let Some(main) = event.exception.values.last() else {
        return h.hex();
    };
    h.write(main.ty.as_bytes());
    let site = main
        .stacktrace
        .as_ref()
        .and_then(|st| st.frames.iter().rev().find(|f| f.in_app == Some(true)));
    match site {
        Some(frame) => {
            h.write(frame.function.as_deref().unwrap_or("?").as_bytes());
            h.write(frame.abs_path.as_deref().unwrap_or("?").as_bytes());
        }
        None => h.write(normalise(main.value.as_deref().unwrap_or("")).as_bytes()),
    }
    h.hex()
}

/// Numbers vary between occurrences of one error; they should not split its group.
fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_do_not_split_a_group() {
        assert_eq!(
            normalise("Order 123 not found"),
            normalise("Order 4567 not found")
        );
        assert_ne!(
            normalise("Order 1 not found"),
            normalise("User 1 not found")
        );
    }
}
