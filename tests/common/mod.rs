//! Helpers shared by the integration tests.

pub mod http;

use std::sync::Once;

/// Keeps the output readable: panics the tests provoke on purpose (their message contains one of
/// `expected`, or their payload is not text) are not printed; every other panic — a failing
/// assertion — still is.
#[allow(dead_code)]
pub fn silence_expected_panics(expected: &'static [&'static str]) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            let provoked = match &text {
                None => true,
                Some(text) => expected.iter().any(|e| text.contains(e)),
            };
            if !provoked {
                default(info);
            }
        }));
    });
}
