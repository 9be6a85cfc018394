//! Durations as scenario files write them: a whole number and a unit, `"500ms"`, `"30s"`, `"2m"`.
//!
//! One number, one unit, no spaces, greater than zero: a deadline is easier to read that way, and
//! anything else is more likely a typo than a wish.

use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// What a duration looks like, for "expected ..." in error messages.
pub(crate) const EXPECTED: &str =
    "a duration: a whole number and `ms`, `s` or `m`, e.g. \"500ms\", \"30s\", \"2m\"";

/// Parses `"500ms"`, `"30s"` or `"2m"`; the error says what is wrong with `text`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let invalid = |why: &str| format!("invalid duration `{text}` ({why}), expected {EXPECTED}");
    if number.is_empty() {
        return Err(invalid("it does not start with a number"));
    }
    let number: u64 = number
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "" => return Err(invalid("no unit")),
        _ if unit.starts_with(char::is_whitespace) => {
            return Err(invalid("a space between number and unit"))
        }
        _ => return Err(invalid(&format!("unknown unit `{unit}`"))),
    };
    if duration.is_zero() {
        return Err(invalid("a deadline of zero can never be met"));
    }
    Ok(duration)
}

/// `deserialize_with` for an `Option<Duration>` field with `#[serde(default)]`.
pub(crate) fn deserialize_some<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserializer.deserialize_str(DurationVisitor).map(Some)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_seconds_and_minutes_are_understood() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn a_duration_without_unit_with_spaces_or_of_zero_is_rejected() {
        for bad in ["30", "30 s", "s", "", "1.5s", "2h", "0s", "-1s"] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration `{bad}`")),
                "{err}"
            );
            assert!(err.ends_with(EXPECTED), "{err}");
        }
        assert_eq!(
            parse("2h").unwrap_err(),
            format!("invalid duration `2h` (unknown unit `h`), expected {EXPECTED}")
        );
    }
}
