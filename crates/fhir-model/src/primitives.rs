//! Primitive datatypes: format checks (the R4 regexes plus the rules regexes
//! cannot express, such as real calendar dates and integer ranges) and the
//! ranges that search compares: an instant range for a partial date, and the
//! implicit precision range of a decimal.

use serde_json::Value;

use crate::definitions::{JsonKind, r4};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// A half-open instant range `[start, end)` in microseconds since the epoch.
/// Open ends are `Micros::MIN` / `Micros::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    /// Inclusive lower bound.
    pub start: Micros,
    /// Exclusive upper bound.
    pub end: Micros,
}

impl DateRange {
    /// A range open on both ends.
    pub const UNBOUNDED: DateRange = DateRange {
        start: Micros::MIN,
        end: Micros::MAX,
    };
}

/// How precisely a date/time was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DatePrecision {
    /// `2020`
    Year,
    /// `2020-02`
    Month,
    /// `2020-02-03`
    Day,
    /// `2020-02-03T10:00` (search only)
    Minute,
    /// `2020-02-03T10:00:00`
    Second,
    /// `2020-02-03T10:00:00.123` (the number of fraction digits)
    Fraction(u8),
}

/// A parsed date, dateTime or instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    /// Precision as written.
    pub precision: DatePrecision,
    /// Whether a time zone was given.
    pub has_zone: bool,
    /// The instants it covers.
    pub range: DateRange,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Formats microseconds since the epoch as `YYYY-MM-DDThh:mm:ss.ffffffZ`.
pub fn format_micros(t: Micros) -> String {
    let days = t.div_euclid(86_400_000_000);
    let rem = t.rem_euclid(86_400_000_000);
    // Inverse of days_from_civil.
    let z = days + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let secs = rem / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % 1_000_000
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Which shapes a date-like text may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSyntax {
    /// FHIR `date`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`.
    Date,
    /// FHIR `dateTime`: a date, or a full date with `Thh:mm:ss[.f]` and a zone.
    DateTime,
    /// FHIR `instant`: full date, time to the second, and a zone.
    Instant,
    /// A search value: any precision from year to fraction, minutes allowed,
    /// zone optional (UTC assumed).
    Search,
}

/// Parses a date/dateTime/instant (or a search date value) into its range.
/// Dates without a zone are taken as UTC.
pub fn parse_date(text: &str, syntax: DateSyntax) -> Option<ParsedDate> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let y = digits(parts.next()?, 4)? as i64;
    let m = parts.next().map(|p| digits(p, 2)).unwrap_or(Some(0))?;
    let d = parts.next().map(|p| digits(p, 2)).unwrap_or(Some(0))?;
    if parts.next().is_some() || (m == 0 && date.len() > 4) || (d == 0 && date.len() > 7) {
        return None;
    }
    if (m != 0 && !(1..=12).contains(&m)) || (d != 0 && (d < 1 || d > days_in_month(y, m))) {
        return None;
    }
    if y == 0 && syntax != DateSyntax::Search {
        // The R4 regexes reject year 0000.
        return None;
    }
    let day_us = 86_400_000_000i64;
    let Some(time) = time else {
        if syntax == DateSyntax::Instant {
            return None;
        }
        let (start, end, precision) = if m == 0 {
            (
                days_from_civil(y, 1, 1),
                days_from_civil(y + 1, 1, 1),
                DatePrecision::Year,
            )
        } else if d == 0 {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                days_from_civil(y, m, 1),
                days_from_civil(ny, nm, 1),
                DatePrecision::Month,
            )
        } else {
            let s = days_from_civil(y, m, d);
            (s, s + 1, DatePrecision::Day)
        };
        return Some(ParsedDate {
            precision,
            has_zone: false,
            range: DateRange {
                start: start * day_us,
                end: end * day_us,
            },
        });
    };
    if syntax == DateSyntax::Date || d == 0 {
        return None;
    }
    // Split off the zone.
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(i) => (&time[..i], Some(&time[i..])),
        None => (time, None),
    };
    let offset_us: i64 = match zone {
        Some("Z") => 0,
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (hh, mm) = z[1..].split_once(':')?;
            let (hh, mm) = (digits(hh, 2)?, digits(mm, 2)?);
            if hh > 14 || mm > 59 {
                return None;
            }
            sign * (hh as i64 * 3600 + mm as i64 * 60) * 1_000_000
        }
        None if syntax == DateSyntax::Search => 0,
        None => return None,
    };
    let mut hms = clock.split(':');
    let hh = digits(hms.next()?, 2)?;
    let mm = digits(hms.next()?, 2)?;
    let (ss, frac, precision) = match hms.next() {
        None if syntax == DateSyntax::Search => (0, 0i64, DatePrecision::Minute),
        None => return None,
        Some(sec) => {
            let (s, f) = match sec.split_once('.') {
                Some((s, f)) => (s, Some(f)),
                None => (sec, None),
            };
            let s = digits(s, 2)?;
            match f {
                None => (s, 0, DatePrecision::Second),
                Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                    let mut us: i64 = 0;
                    for (i, b) in f.bytes().take(6).enumerate() {
                        us += (b - b'0') as i64 * 10i64.pow(5 - i as u32);
                    }
                    (s, us, DatePrecision::Fraction(f.len().min(255) as u8))
                }
                Some(_) => return None,
            }
        }
    };
    if hms.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        // 24:00 is not allowed by the FHIR regex; a leap second (60) is.
        return None;
    }
    let secs = hh as i64 * 3600 + mm as i64 * 60 + ss.min(59) as i64;
    let start = days_from_civil(y, m, d) * day_us + secs * 1_000_000 + frac - offset_us;
    let width = match precision {
        DatePrecision::Minute => 60_000_000,
        DatePrecision::Second => 1_000_000,
        DatePrecision::Fraction(n) if n < 6 => 10i64.pow(6 - n as u32),
        _ => 1,
    };
    Some(ParsedDate {
        precision,
        has_zone: zone.is_some(),
        range: DateRange {
            start,
            end: start + width,
        },
    })
}

/// Parses an R4 `time` (`hh:mm:ss[.f]`) into microseconds since midnight.
pub fn parse_time(text: &str) -> Option<i64> {
    let (hms, frac) = match text.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (a, Some(f)),
        Some(_) => return None,
        None => (text, None),
    };
    let mut p = hms.split(':');
    let (h, m, s) = (
        digits(p.next()?, 2)?,
        digits(p.next()?, 2)?,
        digits(p.next()?, 2)?,
    );
    if p.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut us = (h as i64 * 3600 + m as i64 * 60 + s as i64) * 1_000_000;
    if let Some(f) = frac {
        for (i, b) in f.bytes().take(6).enumerate() {
            us += (b - b'0') as i64 * 10i64.pow(5 - i as u32);
        }
    }
    Some(us)
}

/// A decimal with the range its written precision implies: `100` covers
/// `[99.5, 100.5)`, `100.00` covers `[99.995, 100.005)` (R4 search §3.1.1.4.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberRange {
    /// The value.
    pub value: f64,
    /// Inclusive lower bound.
    pub low: f64,
    /// Exclusive upper bound.
    pub high: f64,
}

/// Parses a decimal as written (`100`, `-1.50`, `1e2`, `1.5E-3`) with its
/// implicit precision range. Returns `None` for anything that is not a number.
pub fn parse_number(text: &str) -> Option<NumberRange> {
    if !is_decimal_syntax(text, true) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa
        .split_once('.')
        .map(|(_, f)| f.len() as i32)
        .unwrap_or(0);
    let half = 0.5 * 10f64.powi(exp - decimals);
    Some(NumberRange {
        value,
        low: value - half,
        high: value + half,
    })
}

/// The precision range of a JSON number as stored in a resource. The shortest
/// round-trip representation is used, so trailing zeros written by the client
/// (`100.00`) are not seen unless serde_json's `arbitrary_precision` is on.
pub fn number_range_of(n: &serde_json::Number) -> Option<NumberRange> {
    parse_number(&n.to_string())
}

/// Whether `s` is a FHIR decimal (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`);
/// `lenient` also allows a leading `+` and leading zeros, as search values may have.
fn is_decimal_syntax(s: &str, lenient: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || (lenient && b[i] == b'+')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (!lenient && int_len > 1 && b[int_start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == f {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return false;
        }
    }
    i == b.len()
}

/// Whether `s` is a valid FHIR `id`: 1–64 of `[A-Za-z0-9\-\.]`.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `s` is a valid FHIR `code` (`[^\s]+(\s[^\s]+)*`): no leading or
/// trailing whitespace, one whitespace character between tokens.
pub fn is_code(s: &str) -> bool {
    !s.is_empty() && s.split(char::is_whitespace).all(|t| !t.is_empty())
}

fn is_base64(s: &str) -> bool {
    let chars: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let pad = chars.iter().rev().take_while(|&&b| b == b'=').count();
    pad <= 2
        && chars[..chars.len() - pad]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first = arcs.next().unwrap_or("");
    matches!(first, "0" | "1" | "2") && {
        let rest: Vec<&str> = arcs.collect();
        !rest.is_empty()
            && rest.iter().all(|a| {
                !a.is_empty()
                    && a.bytes().all(|b| b.is_ascii_digit())
                    && (a.len() == 1 || !a.starts_with('0'))
            })
    }
}

fn is_uuid(s: &str) -> bool {
    let Some(u) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = u.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

/// Whether `value` has the JSON kind FHIR uses for primitive `type_code`
/// (string, boolean, integer or number); `false` for unknown types.
pub fn has_json_kind(type_code: &str, value: &Value) -> bool {
    match r4().primitive(type_code).map(|d| d.json) {
        Some(JsonKind::Boolean) => value.is_boolean(),
        Some(JsonKind::Integer) => value.is_i64() || value.is_u64(),
        Some(JsonKind::Number) => value.is_number(),
        Some(JsonKind::String) => value.is_string(),
        None => false,
    }
}

/// Checks a primitive value of FHIR type `type_code` in its JSON form: the
/// JSON kind, then the format. Returns a short reason on failure.
pub fn check_primitive(type_code: &str, value: &Value) -> Result<(), String> {
    let Some(def) = r4().primitive(type_code) else {
        return Err(format!("unknown primitive type '{type_code}'"));
    };
    if !has_json_kind(type_code, value) {
        let want = match def.json {
            JsonKind::Boolean => "a JSON boolean",
            JsonKind::Integer => "a JSON integer",
            JsonKind::Number => "a JSON number",
            JsonKind::String => "a JSON string",
        };
        return Err(format!("a {type_code} must be {want}"));
    }
    if let Some(n) = value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX)) {
        let ok = match type_code {
            "integer" => i32::try_from(n).is_ok(),
            "positiveInt" => (1..=i32::MAX as i64).contains(&n),
            "unsignedInt" => (0..=i32::MAX as i64).contains(&n),
            _ => true,
        };
        if !ok {
            return Err(format!("the value {value} is out of range for {type_code}"));
        }
        return Ok(());
    }
    let Some(s) = value.as_str() else {
        return Ok(());
    };
    let ok = match type_code {
        "string" | "markdown" => !s.trim().is_empty(),
        "id" => is_id(s),
        "code" => is_code(s),
        "uri" | "url" | "canonical" => !s.is_empty() && !s.chars().any(char::is_whitespace),
        "oid" => is_oid(s),
        "uuid" => is_uuid(s),
        "date" => parse_date(s, DateSyntax::Date).is_some(),
        "dateTime" => parse_date(s, DateSyntax::DateTime).is_some(),
        "instant" => parse_date(s, DateSyntax::Instant).is_some(),
        "time" => parse_time(s).is_some(),
        "base64Binary" => is_base64(s),
        "xhtml" => {
            let t = s.trim();
            t.starts_with("<div") && t.ends_with("</div>")
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("the value '{s}' is not a valid {type_code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn date_ranges_follow_precision() {
        let y2020 = days_from_civil(2020, 1, 1) * DAY;
        let cases = [
            (
                "2020",
                y2020,
                days_from_civil(2021, 1, 1) * DAY,
                DatePrecision::Year,
            ),
            (
                "2020-02",
                days_from_civil(2020, 2, 1) * DAY,
                days_from_civil(2020, 3, 1) * DAY,
                DatePrecision::Month,
            ),
            (
                "2020-12",
                days_from_civil(2020, 12, 1) * DAY,
                days_from_civil(2021, 1, 1) * DAY,
                DatePrecision::Month,
            ),
            (
                "2020-02-29",
                days_from_civil(2020, 2, 29) * DAY,
                days_from_civil(2020, 3, 1) * DAY,
                DatePrecision::Day,
            ),
        ];
        for (text, start, end, precision) in cases {
            let p = parse_date(text, DateSyntax::DateTime).unwrap();
            assert_eq!(
                (p.range.start, p.range.end, p.precision),
                (start, end, precision),
                "{text}"
            );
        }
        assert_eq!(format_micros(y2020), "2020-01-01T00:00:00.000000Z");
        let t = parse_date("2020-01-01T10:00:00+02:00", DateSyntax::Instant).unwrap();
        assert_eq!(t.range.start, y2020 + 8 * HOUR);
        assert_eq!(t.range.end - t.range.start, 1_000_000);
        let f = parse_date("2020-01-01T00:00:00.5Z", DateSyntax::Instant).unwrap();
        assert_eq!(
            (f.range.start - y2020, f.range.end - y2020),
            (500_000, 600_000)
        );
        let s = parse_date("2020-01-01T10:30", DateSyntax::Search).unwrap();
        assert_eq!(s.range.end - s.range.start, 60_000_000);
        assert_eq!(
            format_micros(days_from_civil(1969, 12, 31) * DAY),
            "1969-12-31T00:00:00.000000Z"
        );
    }

    #[test]
    fn invalid_dates_are_rejected() {
        for (text, syntax) in [
            ("2021-02-29", DateSyntax::Date),
            ("2020-13", DateSyntax::Date),
            ("2020-1-01", DateSyntax::Date),
            ("20200101", DateSyntax::Date),
            ("2020-01-01T10:00:00", DateSyntax::DateTime),
            ("2020-01-01T10:00Z", DateSyntax::DateTime),
            ("2020-01T10:00:00Z", DateSyntax::DateTime),
            ("2020-01-01", DateSyntax::Instant),
            ("2020-01-01T24:00:00Z", DateSyntax::Instant),
            ("2020-01-01T10:00:00+15:00", DateSyntax::Instant),
            ("0000", DateSyntax::Date),
            ("2020-01-01T10:00:00.Z", DateSyntax::Instant),
        ] {
            assert!(
                parse_date(text, syntax).is_none(),
                "{text} accepted as {syntax:?}"
            );
        }
    }

    #[test]
    fn number_precision() {
        let r = parse_number("100").unwrap();
        assert_eq!((r.low, r.high), (99.5, 100.5));
        let r = parse_number("100.00").unwrap();
        assert!((r.low - 99.995).abs() < 1e-9 && (r.high - 100.005).abs() < 1e-9);
        let r = parse_number("1e2").unwrap();
        assert_eq!((r.low, r.high), (50.0, 150.0));
        for bad in ["", "abc", "1.", ".5", "1e", "--1", "NaN", "inf"] {
            assert!(parse_number(bad).is_none(), "{bad}");
        }
        assert!(parse_number("+5").is_some());
    }

    #[test]
    fn primitive_checks() {
        let ok = [
            ("id", json!("a-Z.09")),
            ("code", json!("final")),
            ("code", json!("a b")),
            ("boolean", json!(true)),
            ("integer", json!(-3)),
            ("positiveInt", json!(1)),
            ("unsignedInt", json!(0)),
            ("decimal", json!(1.5)),
            ("decimal", json!(2)),
            ("uri", json!("http://x/y")),
            ("oid", json!("urn:oid:1.2.3")),
            (
                "uuid",
                json!("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"),
            ),
            ("base64Binary", json!("aGVsbG8=")),
            ("time", json!("10:00:00")),
            ("instant", json!("2020-01-01T00:00:00.123Z")),
            (
                "xhtml",
                json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"),
            ),
        ];
        for (t, v) in ok {
            assert_eq!(check_primitive(t, &v), Ok(()), "{t} {v}");
        }
        let bad = [
            ("id", json!("a_b")),
            ("id", json!("x".repeat(65))),
            ("code", json!(" final")),
            ("code", json!("a  b")),
            ("boolean", json!("true")),
            ("integer", json!(1.5)),
            ("integer", json!(3_000_000_000i64)),
            ("positiveInt", json!(0)),
            ("unsignedInt", json!(-1)),
            ("decimal", json!("1.5")),
            ("string", json!("")),
            ("string", json!(5)),
            ("uri", json!("a b")),
            ("oid", json!("urn:oid:3.1")),
            (
                "uuid",
                json!("urn:uuid:C757873D-EC9A-4326-A141-556F43239520"),
            ),
            ("base64Binary", json!("abc")),
            ("time", json!("25:00:00")),
            ("xhtml", json!("<p>x</p>")),
        ];
        for (t, v) in bad {
            assert!(check_primitive(t, &v).is_err(), "{t} {v} accepted");
        }
    }
}
