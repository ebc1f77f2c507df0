//! Value validation of text VRs, with fo-dicom-style explanations.
//!
//! Azure validates with fo-dicom and reports `DICOM100: (gggg,eeee) - Content
//! "..." does not validate VR XX: <explanation>`. The checks follow PS3.5
//! §6.2 (lengths, character repertoires, formats); null padding is ignored,
//! as Azure does ("If an attribute is padded with nulls ... no validation
//! warning will be provided").

use dicom_core::{Tag, VR};

use crate::attributes::tag_paren;

/// Azure's error comment for an attribute that failed validation.
pub(crate) fn error_comment(tag: Tag, content: &str, vr: VR, explanation: &str) -> String {
    format!(
        "DICOM100: {} - Content \"{content}\" does not validate VR {vr}: {explanation}",
        tag_paren(tag)
    )
}

/// Validates one value (a single item of a multi-valued element, padding
/// removed) of a text VR; `Err` holds the explanation. VRs without text
/// rules (binary, numbers stored in binary) always pass.
pub(crate) fn check_value(vr: VR, v: &str) -> Result<(), String> {
    match vr {
        VR::AE => max_len(v, 16).and(no_control(v)),
        VR::AS => {
            let b = v.as_bytes();
            if b.len() == 4
                && b[..3].iter().all(u8::is_ascii_digit)
                && matches!(b[3], b'D' | b'W' | b'M' | b'Y')
            {
                Ok(())
            } else {
                Err("value does not match pattern nnn[DWMY]".into())
            }
        }
        VR::CS => {
            max_len(v, 16)?;
            if v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_')
            {
                Ok(())
            } else {
                Err("value contains invalid character".into())
            }
        }
        VR::DA => {
            if parse_date(v).is_some() {
                Ok(())
            } else {
                Err("one of the date values does not match the pattern YYYYMMDD".into())
            }
        }
        VR::DS => {
            max_len(v, 16)?;
            if is_decimal(v.trim()) {
                Ok(())
            } else {
                Err("value is not a decimal string".into())
            }
        }
        VR::DT => {
            if is_datetime(v) {
                Ok(())
            } else {
                Err("value does not mach pattern YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]]".into())
            }
        }
        VR::IS => {
            max_len(v, 12)?;
            match v.trim().parse::<i64>() {
                Ok(n) if (i32::MIN as i64..=i32::MAX as i64).contains(&n) => Ok(()),
                _ => Err("value is not an integer string in the range -2^31..2^31-1".into()),
            }
        }
        VR::LO => max_len(v, 64).and(no_control(v)),
        VR::SH => max_len(v, 16).and(no_control(v)),
        VR::LT => max_len(v, 10240),
        VR::ST => max_len(v, 1024),
        VR::PN => check_person_name(v),
        VR::TM => {
            if is_time(v) {
                Ok(())
            } else {
                Err("value does not match pattern HH[MM[SS[.F{1-6}]]]".into())
            }
        }
        VR::UI => {
            if crate::uid::is_standard_uid(v) {
                Ok(())
            } else if v.len() > 64 {
                Err("value exceeds maximum length of 64 characters".into())
            } else {
                Err("UID components must be digits without leading zeros, separated by dots".into())
            }
        }
        _ => Ok(()),
    }
}

/// Whether a VR's values are split on backslashes (multi-valued text).
pub(crate) fn is_multi_valued_text(vr: VR) -> bool {
    !matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR)
}

fn max_len(v: &str, n: usize) -> Result<(), String> {
    if v.chars().count() <= n {
        Ok(())
    } else {
        Err(format!("value exceeds maximum length of {n} characters"))
    }
}

fn no_control(v: &str) -> Result<(), String> {
    // ESC is allowed: it introduces ISO 2022 code extensions.
    if v.chars().any(|c| c.is_control() && c != '\u{1b}') {
        Err("value contains invalid character".into())
    } else {
        Ok(())
    }
}

fn check_person_name(v: &str) -> Result<(), String> {
    let groups: Vec<&str> = v.split('=').collect();
    if groups.len() > 3 {
        return Err("value contains more than 3 groups".into());
    }
    for g in groups {
        if g.chars().count() > 64 {
            return Err("value exceeds maximum length of 64 characters per group".into());
        }
        if g.split('^').count() > 5 {
            return Err("value contains more than 5 components".into());
        }
        no_control(g)?;
    }
    Ok(())
}

/// Parses a DA value `YYYYMMDD` into the integer `yyyymmdd`, checking the calendar.
pub fn parse_date(v: &str) -> Option<u32> {
    let b = v.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u32 = v.parse().ok()?;
    let (y, m, d) = (n / 10000, n / 100 % 100, n % 100);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (d >= 1 && d <= days).then_some(n)
}

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn is_time(v: &str) -> bool {
    let (main, frac) = match v.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (v, None),
    };
    if !digits(main) || !matches!(main.len(), 2 | 4 | 6) {
        return false;
    }
    let hh: u32 = main[..2].parse().unwrap_or(99);
    let mm: u32 = main.get(2..4).map_or(0, |s| s.parse().unwrap_or(99));
    let ss: u32 = main.get(4..6).map_or(0, |s| s.parse().unwrap_or(99));
    if hh > 23 || mm > 59 || ss > 60 {
        return false;
    }
    match frac {
        None => true,
        Some(f) => main.len() == 6 && (1..=6).contains(&f.len()) && digits(f),
    }
}

/// A DT value without its optional UTC offset `&ZZXX`, and the offset.
fn split_offset(v: &str) -> (&str, Option<&str>) {
    match v.rfind(['+', '-']) {
        Some(i) if i >= 4 => (&v[..i], Some(&v[i + 1..])),
        _ => (v, None),
    }
}

/// The seconds of a fraction's digits (`"5"` is 0.5).
fn fraction(digits: &str) -> Option<f64> {
    if digits.is_empty() {
        Some(0.0)
    } else {
        format!("0.{digits}").parse().ok()
    }
}

fn is_datetime(v: &str) -> bool {
    let (v, offset) = split_offset(v);
    if let Some(o) = offset
        && (o.len() != 4 || !digits(o))
    {
        return false;
    }
    let (main, frac) = match v.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (v, None),
    };
    if !digits(main) || !matches!(main.len(), 4 | 6 | 8 | 10 | 12 | 14) {
        return false;
    }
    if main.len() >= 6 {
        let m: u32 = main[4..6].parse().unwrap_or(0);
        if !(1..=12).contains(&m) {
            return false;
        }
    }
    if main.len() >= 8 && parse_date(&main[..8]).is_none() {
        return false;
    }
    if main.len() > 8 && !is_time(&main[8..]) {
        return false;
    }
    match frac {
        None => true,
        Some(f) => main.len() == 14 && (1..=6).contains(&f.len()) && digits(f),
    }
}

/// A TM value as seconds since midnight (`HH`, `HHMM`, `HHMMSS[.F{1,6}]`;
/// missing parts are zero), for range matching.
pub fn time_seconds(v: &str) -> Option<f64> {
    if !is_time(v) {
        return None;
    }
    let (main, frac) = v.split_once('.').unwrap_or((v, ""));
    let part = |r: std::ops::Range<usize>| main.get(r).map_or(Ok(0), str::parse::<u32>);
    let (hh, mm, ss) = (part(0..2).ok()?, part(2..4).ok()?, part(4..6).ok()?);
    Some(f64::from(hh * 3600 + mm * 60 + ss) + fraction(frac)?)
}

/// A DT value (`YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]`) as seconds since
/// 1970-01-01 00:00 as written: missing parts take their least value, and
/// the UTC offset, when valid (-1200 to +1400), is ignored, so values
/// compare as their wall-clock text does.
pub fn datetime_seconds(v: &str) -> Option<f64> {
    let (main, offset) = split_offset(v);
    if let Some(o) = offset {
        let (hh, mm): (u32, u32) = (o.get(..2)?.parse().ok()?, o.get(2..)?.parse().ok()?);
        if o.len() != 4 || hh > 14 || mm > 59 {
            return None;
        }
    }
    if !is_datetime(main) {
        return None;
    }
    let (digits_part, frac) = main.split_once('.').unwrap_or((main, ""));
    let field = |r: std::ops::Range<usize>, least: i64| {
        digits_part
            .get(r)
            .map_or(Some(least), |s| s.parse::<i64>().ok())
    };
    let (y, mo, d) = (field(0..4, 0)?, field(4..6, 1)?, field(6..8, 1)?);
    let (h, mi, sec) = (field(8..10, 0)?, field(10..12, 0)?, field(12..14, 0)?);
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's method.
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec) as f64 + fraction(frac)?)
}

/// The seconds a partial TM or DT value stands for when matching: from its
/// value to the last microsecond of its period (`10` is 10:00:00 to
/// 10:59:59.999999, `2024` the whole year).
pub fn temporal_period(vr: &str, v: &str) -> Option<(f64, f64)> {
    const MICRO: f64 = 1e-6;
    // A DT's period is that of its digits: the UTC offset is not part of it.
    let bare = split_offset(v).0;
    let (main, frac) = bare.split_once('.').unwrap_or((bare, ""));
    let fraction_period = || 10f64.powi(-(frac.len() as i32));
    match vr {
        "TM" => {
            let from = time_seconds(v)?;
            let period = match (main.len(), frac.len()) {
                (2, _) => 3600.0,
                (4, _) => 60.0,
                (_, 0) => 1.0,
                _ => fraction_period(),
            };
            Some((from, from + period - MICRO))
        }
        "DT" => {
            let from = datetime_seconds(v)?;
            let period = match main.len() {
                4 | 6 => {
                    // Up to the first instant of the next year or month.
                    let y: i64 = main[..4].parse().ok()?;
                    let next = if main.len() == 4 {
                        format!("{:04}", y + 1)
                    } else {
                        let m: i64 = main[4..6].parse().ok()?;
                        if m == 12 {
                            format!("{:04}01", y + 1)
                        } else {
                            format!("{y:04}{:02}", m + 1)
                        }
                    };
                    datetime_seconds(&next)? - from
                }
                8 => 86_400.0,
                10 => 3600.0,
                12 => 60.0,
                _ if frac.is_empty() => 1.0,
                _ => fraction_period(),
            };
            Some((from, from + period - MICRO))
        }
        _ => None,
    }
}

fn is_decimal(v: &str) -> bool {
    let v = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exp) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_datetimes_as_numbers() {
        assert_eq!(time_seconds("10"), Some(36_000.0));
        assert_eq!(time_seconds("1015"), Some(36_900.0));
        assert_eq!(time_seconds("101530.25"), Some(36_930.25));
        assert_eq!(time_seconds("2460"), None);
        assert_eq!(time_seconds("10:15"), None);
        assert_eq!(datetime_seconds("1970"), Some(0.0));
        assert_eq!(datetime_seconds("19700102"), Some(86_400.0));
        assert_eq!(datetime_seconds("20000301"), Some(951_868_800.0));
        assert_eq!(datetime_seconds("20240229120000.5"), Some(1_709_208_000.5));
        // The offset is ignored: values compare as written.
        assert_eq!(
            datetime_seconds("20240229120000-0500"),
            datetime_seconds("20240229120000")
        );
        assert_eq!(datetime_seconds("20240229120000-2021"), None);
        assert_eq!(datetime_seconds("20230229"), None);
        assert_eq!(datetime_seconds("2024136"), None);
        assert!(datetime_seconds("19991231235959").unwrap() < datetime_seconds("2000").unwrap());
        let close =
            |(a, b): (f64, f64), (c, d): (f64, f64)| (a - c).abs() < 1e-5 && (b - d).abs() < 1e-5;
        assert!(close(
            temporal_period("TM", "10").unwrap(),
            (36_000.0, 39_599.999_999)
        ));
        assert!(close(
            temporal_period("TM", "1015").unwrap(),
            (36_900.0, 36_959.999_999)
        ));
        assert!(close(
            temporal_period("TM", "101500.5").unwrap(),
            (36_900.5, 36_900.599_999)
        ));
        let year_2024 = temporal_period("DT", "2024").unwrap();
        assert!(close(
            year_2024,
            (
                datetime_seconds("2024").unwrap(),
                datetime_seconds("2025").unwrap() - 1e-6
            )
        ));
        // A fraction's period with a UTC offset after it: the fraction's.
        let tenth = temporal_period("DT", "20240229120000.5-0500").unwrap();
        let noon = datetime_seconds("20240229120000").unwrap();
        assert!(close(tenth, (noon + 0.5, noon + 0.6 - 1e-6)), "{tenth:?}");
        let december = temporal_period("DT", "202312-0500").unwrap();
        assert!(close(
            december,
            (
                datetime_seconds("202312").unwrap(),
                datetime_seconds("2024").unwrap() - 1e-6
            )
        ));
        let day = temporal_period("DT", "20240229").unwrap();
        assert!(close(
            day,
            (
                datetime_seconds("20240229").unwrap(),
                datetime_seconds("20240301").unwrap() - 1e-6
            )
        ));
        assert_eq!(temporal_period("DA", "20240229"), None);
    }

    #[test]
    fn values() {
        let cases: &[(VR, &str, bool)] = &[
            (VR::DA, "20200229", true),
            (VR::DA, "20210229", false),
            (VR::DA, "NotAValidDate", false),
            (VR::DA, "2020-01-01", false),
            (VR::TM, "235959.123456", true),
            (VR::TM, "2400", false),
            (VR::TM, "1230", true),
            (VR::DT, "20200101123000.5+0100", true),
            (VR::DT, "2020", true),
            (VR::DT, "NotAValidDate", false),
            (VR::CS, "CT", true),
            (VR::CS, "ct", false),
            (VR::CS, "ABCDEFGHIJKLMNOPQ", false),
            (VR::AS, "045Y", true),
            (VR::AS, "45Y", false),
            (VR::DS, "-1.5e3", true),
            (VR::DS, "1,5", false),
            (VR::IS, "2147483648", false),
            (VR::IS, " 42", true),
            (VR::PN, "Doe^John^Q^Dr.^Jr.", true),
            (VR::PN, "a^b^c^d^e^f", false),
            (VR::PN, "a=b=c=d", false),
            (VR::LO, &"x".repeat(65), false),
            (VR::UI, "1.2.840.10008", true),
            (VR::UI, "1.02", false),
            (VR::OB, "anything", true),
        ];
        for (vr, v, ok) in cases {
            assert_eq!(check_value(*vr, v).is_ok(), *ok, "{vr} {v:?}");
        }
        assert_eq!(
            error_comment(
                Tag(0x0008, 0x0020),
                "NotAValidDate",
                VR::DA,
                "one of the date values does not match the pattern YYYYMMDD"
            ),
            "DICOM100: (0008,0020) - Content \"NotAValidDate\" does not validate VR DA: one of the date values does not match the pattern YYYYMMDD"
        );
    }
}
