//! Rewriting a test fixture's text (a shipped workflow's TOML) with replacements that must
//! each match: a fixture whose source changed fails loudly instead of silently testing the
//! unchanged text.

/// `text` with each `(from, to, times)` applied in order; panics unless `from` occurs exactly
/// `times` times in the text it is applied to.
pub fn replace_counted(text: &str, replacements: &[(&str, &str, usize)]) -> String {
    let mut text = text.to_owned();
    for &(from, to, times) in replacements {
        let found = text.matches(from).count();
        assert_eq!(
            found, times,
            "expected `{from}` {times} time(s) in the fixture, found it {found} time(s)"
        );
        text = text.replace(from, to);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_replaced_in_order() {
        let text = replace_counted("a = 1\nb = 1\nc = 2", &[("= 1", "= 3", 2), ("c", "d", 1)]);
        assert_eq!(text, "a = 3\nb = 3\nd = 2");
    }

    #[test]
    fn a_later_replacement_sees_the_earlier_ones() {
        let text = replace_counted("x = 1", &[("1", "2", 1), ("2", "3", 1)]);
        assert_eq!(text, "x = 3");
    }

    #[test]
    #[should_panic(expected = "expected `y` 1 time(s) in the fixture, found it 0 time(s)")]
    fn a_pattern_that_is_missing_fails() {
        replace_counted("x = 1", &[("y", "z", 1)]);
    }

    #[test]
    #[should_panic(expected = "expected `1` 1 time(s) in the fixture, found it 2 time(s)")]
    fn a_pattern_found_more_often_than_said_fails() {
        replace_counted("x = 1, y = 1", &[("1", "2", 1)]);
    }
}
