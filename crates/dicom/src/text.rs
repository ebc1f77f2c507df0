//! Text folding for QIDO-RS matching.
//!
//! Azure: "Matching is case in-sensitive and accent in-sensitive for PN VR
//! types. Matching is case in-sensitive and accent sensitive for other string
//! VR types." Accent folding here covers Latin-1 and Latin Extended-A, the
//! letters that the character sets DICOM names (ISO-IR 100 ... 203) carry;
//! other characters are only lower-cased.

/// Lower-cases `s` (Unicode-aware). Used for non-PN strings.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// Lower-cases `s` and removes accents from Latin letters (`É` → `e`, `ß` → `ss`).
pub fn fold_case_and_accents(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        for lower in c.to_lowercase() {
            match strip_accent(lower) {
                Some(base) => out.push_str(base),
                None => out.push(lower),
            }
        }
    }
    out
}

fn strip_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// The words of a person name for fuzzy matching: the PN value with its
/// component (`^`), group (`=`) and value (`\`) separators treated as spaces,
/// folded, split on whitespace. Empty words are dropped.
pub fn person_name_words(value: &str) -> Vec<String> {
    fold_case_and_accents(value)
        .split(|c: char| c == '^' || c == '=' || c == '\\' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold_case_and_accents("Ångström^Zoë"), "angstrom^zoe");
        assert_eq!(fold_case_and_accents("STRAßE"), "strasse");
        assert_eq!(fold_case("Ångström"), "ångström");
        assert_eq!(
            person_name_words("Doe^John^^Dr.=ドウ^ジョン"),
            ["doe", "john", "dr.", "ドウ", "ジョン"]
        );
    }
}
