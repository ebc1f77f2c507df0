//! Tokeniser for `$filter` expressions. Iterative; positions are 0-based
//! character offsets, as in Graph's error messages.

use crate::error::ODataError;
use crate::text::{is_guid_at, scan_datetime};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifier or keyword (keywords are matched case-insensitively by the parser).
    Ident(String),
    /// Single-quoted string, `''` already unescaped.
    Str(String),
    Int(i64),
    Num(f64),
    /// Bare GUID literal, as written.
    Guid(String),
    /// Bare date or date-time-offset literal, as written.
    DateTime(String),
    Slash,
    LParen,
    RParen,
    Comma,
    Colon,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let single = match c {
            ' ' | '\t' | '\r' | '\n' => {
                i += 1;
                continue;
            }
            '/' => Some(Tok::Slash),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, pos: i });
            i += 1;
            continue;
        }
        let start = i;
        if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(ODataError::filter_unterminated_string(text, start)),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                pos: start,
            });
            continue;
        }
        if is_guid_at(&chars, i) {
            out.push(Token {
                tok: Tok::Guid(chars[i..i + 36].iter().collect()),
                pos: start,
            });
            i += 36;
            continue;
        }
        if c.is_ascii_digit() {
            let ascii: Vec<u8> = chars[i..]
                .iter()
                .take(48)
                .take_while(|c| c.is_ascii())
                .map(|c| *c as u8)
                .collect();
            if let Some((len, _)) = scan_datetime(&ascii)
                && !chars.get(i + len).is_some_and(|c| is_ident_char(*c))
            {
                out.push(Token {
                    tok: Tok::DateTime(chars[i..i + len].iter().collect()),
                    pos: start,
                });
                i += len;
                continue;
            }
        }
        let digit_at = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || (c == '-' && digit_at(i + 1)) {
            i += 1;
            while digit_at(i) {
                i += 1;
            }
            let mut is_float = false;
            if chars.get(i) == Some(&'.') && digit_at(i + 1) {
                is_float = true;
                i += 1;
                while digit_at(i) {
                    i += 1;
                }
            }
            if matches!(chars.get(i), Some('e' | 'E')) {
                let signed = matches!(chars.get(i + 1), Some('+' | '-'));
                let first = if signed { i + 2 } else { i + 1 };
                if digit_at(first) {
                    is_float = true;
                    i = first;
                    while digit_at(i) {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            let tok = match (is_float, s.parse::<i64>()) {
                (false, Ok(n)) => Tok::Int(n),
                _ => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => Tok::Num(f),
                    _ => return Err(ODataError::filter_syntax(text, start)),
                },
            };
            out.push(Token { tok, pos: start });
            continue;
        }
        if is_ident_start(c) {
            i += 1;
            while chars.get(i).is_some_and(|c| is_ident_char(*c)) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                pos: start,
            });
            continue;
        }
        return Err(ODataError::filter_invalid_char(text, c, i));
    }
    out.push(Token {
        tok: Tok::End,
        pos: chars.len(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        use Tok::*;
        let id = |s: &str| Ident(s.to_string());
        let cases: Vec<(&str, Vec<Tok>)> = vec![
            ("a eq 'x'", vec![id("a"), id("eq"), Str("x".into()), End]),
            ("'it''s'", vec![Str("it's".into()), End]),
            ("''", vec![Str(String::new()), End]),
            (
                "-12 3.5 1e3 7",
                vec![Int(-12), Num(3.5), Num(1000.0), Int(7), End],
            ),
            ("99999999999999999999", vec![Num(1e20), End]),
            (
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
                vec![Guid("72f988bf-86f1-41af-91ab-2d7cd011db47".into()), End],
            ),
            (
                "2021-01-02T12:00:00Z)",
                vec![DateTime("2021-01-02T12:00:00Z".into()), RParen, End],
            ),
            ("2017-04-01", vec![DateTime("2017-04-01".into()), End]),
            ("a/$count", vec![id("a"), Slash, id("$count"), End]),
            ("x:x", vec![id("x"), Colon, id("x"), End]),
            ("(,)", vec![LParen, Comma, RParen, End]),
        ];
        for (input, want) in cases {
            assert_eq!(toks(input), want, "{input}");
        }
    }

    #[test]
    fn positions() {
        let t = lex("ab  eq\t'q'").unwrap();
        let pos: Vec<usize> = t.iter().map(|t| t.pos).collect();
        assert_eq!(pos, vec![0, 4, 7, 10]);
        // Positions count characters, not bytes.
        let t = lex("'é' eq x").unwrap();
        assert_eq!(t[1].pos, 4);
    }
}
