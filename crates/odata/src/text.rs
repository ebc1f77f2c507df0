//! Text helpers: case-insensitive comparison, property lookup, GUID and
//! date-time recognition.

use std::cmp::Ordering;

use serde_json::{Map, Value};

fn lower(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// The case-folded form the comparisons of this crate use: each character
/// lower-cased on its own (Unicode). `eq_ci(a, b)` holds exactly when
/// `fold_case(a) == fold_case(b)`, and `starts_with_ci(s, p)` exactly when
/// `fold_case(s)` starts with `fold_case(p)`, so a store can index this form.
pub fn fold_case(s: &str) -> String {
    lower(s).collect()
}

/// Case-insensitive equality (Unicode lower-casing, no allocation).
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    lower(a).eq(lower(b))
}

/// Case-insensitive ordinal ordering.
pub(crate) fn cmp_ci(a: &str, b: &str) -> Ordering {
    lower(a).cmp(lower(b))
}

/// Case-insensitive `starts_with`.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    let mut it = lower(s);
    lower(prefix).all(|c| it.next() == Some(c))
}

/// Case-insensitive `ends_with`.
pub(crate) fn ends_with_ci(s: &str, suffix: &str) -> bool {
    let mut it = lower(s).rev();
    lower(suffix).rev().all(|c| it.next() == Some(c))
}

/// Looks a property up by exact name, then case-insensitively (Graph treats
/// property names in query options case-insensitively).
pub(crate) fn get_ci<'v>(
    map: &'v Map<String, Value>,
    key: &str,
) -> Option<(&'v String, &'v Value)> {
    map.get_key_value(key)
        .or_else(|| map.iter().find(|(k, _)| eq_ci(k, key)))
}

/// True when `chars[at..]` starts with a bare GUID (8-4-4-4-12 hex digits)
/// that is not followed by another identifier character.
pub(crate) fn is_guid_at(chars: &[char], at: usize) -> bool {
    let Some(cand) = chars.get(at..at + 36) else {
        return false;
    };
    let shape_ok = cand.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    shape_ok
        && !chars
            .get(at + 36)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An instant: seconds since the Unix epoch and nanoseconds.
pub(crate) type Instant = (i64, u32);

/// Scans an OData date (`2021-01-02`) or date-time-offset
/// (`2021-01-02T12:00`, `…:00Z`, `…:00.123+02:00`) at the start of `b`.
/// Returns its length in bytes and the instant it denotes (a date means
/// midnight UTC; a missing zone means UTC).
pub(crate) fn scan_datetime(b: &[u8]) -> Option<(usize, Instant)> {
    let year = i64::from(digits(b, 0, 4)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut i = 10;
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut offset: i64 = 0;
    if b.get(i) == Some(&b'T') {
        hour = digits(b, i + 1, 2)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        minute = digits(b, i + 4, 2)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            second = digits(b, i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                let mut j = start;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                let mut scale = 100_000_000u32;
                for d in &b[start..j.min(start + 9)] {
                    nanos += u32::from(d - b'0') * scale;
                    scale /= 10;
                }
                i = j;
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        match b.get(i) {
            Some(b'Z') => i += 1,
            Some(sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                if b.get(i + 3) != Some(&b':') {
                    return None;
                }
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let secs = i64::from(oh * 3600 + om * 60);
                offset = if *sign == b'+' { secs } else { -secs };
                i += 6;
            }
            _ => {}
        }
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset;
    Some((i, (secs, nanos)))
}

/// Parses a whole string as a date or date-time-offset.
pub(crate) fn parse_instant(s: &str) -> Option<Instant> {
    match scan_datetime(s.as_bytes()) {
        Some((len, instant)) if len == s.len() => Some(instant),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_agrees_with_the_comparisons() {
        let words = [
            "Straße",
            "STRASSE",
            "ΣΊΣΥΦΟΣ",
            "σίσυφος",
            "\u{212A}elvin",
            "kelvin",
            "İstanbul",
            "i̇stanbul",
            "Abc",
            "aBC",
            "ab",
        ];
        for a in words {
            for b in words {
                assert_eq!(eq_ci(a, b), fold_case(a) == fold_case(b), "{a} {b}");
                assert_eq!(
                    starts_with_ci(a, b),
                    fold_case(a).starts_with(&fold_case(b)),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn case_insensitive_helpers() {
        let cases: &[(&str, &str, bool, bool, bool)] = &[
            // (s, other, eq, s.starts_with(other), s.ends_with(other))
            ("Hello", "hello", true, true, true),
            ("Hello", "HE", false, true, false),
            ("Hello", "LO", false, false, true),
            ("Straße", "STRASSE", false, false, false),
            ("ÉCOLE", "école", true, true, true),
            ("", "", true, true, true),
            ("a", "", false, true, true),
            ("", "a", false, false, false),
        ];
        for (s, o, eq, sw, ew) in cases {
            assert_eq!(eq_ci(s, o), *eq, "eq_ci({s:?}, {o:?})");
            assert_eq!(starts_with_ci(s, o), *sw, "starts_with_ci({s:?}, {o:?})");
            assert_eq!(ends_with_ci(s, o), *ew, "ends_with_ci({s:?}, {o:?})");
        }
        assert_eq!(cmp_ci("apple", "BANANA"), Ordering::Less);
        assert_eq!(cmp_ci("Zed", "alpha"), Ordering::Greater);
    }

    #[test]
    fn datetimes() {
        let cases: &[(&str, Option<Instant>)] = &[
            ("1970-01-01", Some((0, 0))),
            ("1970-01-01T00:00:00Z", Some((0, 0))),
            ("1970-01-02T00:00", Some((86_400, 0))),
            ("2021-01-02T12:00:00Z", Some((1_609_588_800, 0))),
            ("2021-01-02T14:00:00+02:00", Some((1_609_588_800, 0))),
            ("2021-01-02T12:00:00.5Z", Some((1_609_588_800, 500_000_000))),
            ("2020-02-29", Some((1_582_934_400, 0))),
            ("2021-02-29", None),
            ("2021-13-01", None),
            ("2021-01-02T24:00:00Z", None),
            ("2021-01-02T12:00:00.Z", None),
            ("2021-01-02T12", None),
            ("21-01-02", None),
            ("2021-01-02Zjunk", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_instant(s), *want, "{s}");
        }
    }

    #[test]
    fn guids() {
        let g: Vec<char> = "72f988bf-86f1-41af-91ab-2d7cd011db47".chars().collect();
        assert!(is_guid_at(&g, 0));
        let g: Vec<char> = "72f988bf-86f1-41af-91ab-2d7cd011db47x".chars().collect();
        assert!(!is_guid_at(&g, 0));
        let g: Vec<char> = "72f988bf-86f1-41af-91ab-2d7cd011db4".chars().collect();
        assert!(!is_guid_at(&g, 0));
        let g: Vec<char> = "72f988bf_86f1-41af-91ab-2d7cd011db47".chars().collect();
        assert!(!is_guid_at(&g, 0));
    }
}
