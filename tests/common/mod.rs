//! Helpers shared by the integration tests.

use std::sync::{Mutex, Once, PoisonError};

/// The texts of every panic provoked on purpose so far: several test modules share one binary
/// (and one panic hook), so each adds its own.
static EXPECTED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Keeps the output readable: panics the tests provoke on purpose (their message contains one of
/// `expected`, or of the texts another test of this binary passed, or their payload is not text)
/// are not printed; every other panic — a failing assertion — still is.
#[allow(dead_code)]
pub fn silence_expected_panics(expected: &'static [&'static str]) {
    {
        let mut known = EXPECTED.lock().unwrap_or_else(PoisonError::into_inner);
        for text in expected {
            if !known.contains(text) {
                known.push(text);
            }
        }
    }
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
                Some(text) => EXPECTED
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .any(|e| text.contains(e)),
            };
            if !provoked {
                default(info);
            }
        }));
    });
}

/// Whether this run is CI, where a test that needs a real service must fail rather than skip.
/// One rule for every test: `CI` set to anything but empty, `0` or `false` (any case). `.ci/run`
/// sets `CI=true`.
#[allow(dead_code)]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim().to_ascii_lowercase();
        !value.is_empty() && value != "0" && value != "false"
    })
}

/// A test that cannot run here: under CI it fails with `reason`; otherwise it says loudly that
/// it skipped, straight to the process's stderr (libtest captures `eprintln!` of passing
/// tests, so a skip printed that way would be silent in plain `cargo test`).
#[allow(dead_code)]
pub fn skip_or_fail(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test} cannot run: {reason} (CI is set, so this is a failure, not a skip)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n************************************************************\n\
         SKIPPED: {test}: {reason}\n\
         ************************************************************\n"
    );
}
