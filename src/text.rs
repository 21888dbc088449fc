//! Cutting text to a size cap without splitting a character.

/// The marker appended where text was cut.
pub(crate) const CUT_MARKER: char = '…';

/// The longest prefix of `text` that fits in `max_bytes` once the cut marker is appended, or
/// `None` when `text` fits as it is.
pub(crate) fn cut_point(text: &str, max_bytes: usize) -> Option<usize> {
    if text.len() <= max_bytes {
        return None;
    }
    let mut cut = max_bytes.saturating_sub(CUT_MARKER.len_utf8());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fit_the_cap_and_respect_characters() {
        assert_eq!(cut_point("short", 10), None);
        let text = "ééééé"; // 10 bytes
        let cut = cut_point(text, 6).unwrap();
        assert!(text.is_char_boundary(cut));
        assert!(cut + CUT_MARKER.len_utf8() <= 6);
        assert_eq!(cut_point("abcdef", 2), Some(0));
    }
}
