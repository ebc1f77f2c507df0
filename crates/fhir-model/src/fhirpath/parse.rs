//! FHIRPath lexer and precedence-climbing parser (the grammar of FHIRPath N1,
//! the version R4 uses, minus nothing the R4 SearchParameters need).

use std::fmt;

/// A parsed FHIRPath expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The focus (`$this`, or the implicit input of a path's first step).
    This,
    /// An environment variable such as `%resource`, `%ucum`.
    Var(String),
    /// `{}`.
    Empty,
    /// A literal.
    Literal(Literal),
    /// `base.name` (`base` is [`Expr::This`] for a path's first identifier).
    Member(Box<Expr>, String),
    /// `base.name(args)`.
    Call(Box<Expr>, String, Vec<Expr>),
    /// `base[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// Unary `-`/`+`.
    Neg(Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `expr is Type`.
    Is(Box<Expr>, TypeSpec),
    /// `expr as Type`.
    As(Box<Expr>, TypeSpec),
}

/// Literal values.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `true`/`false`.
    Bool(bool),
    /// `'text'`.
    String(String),
    /// `42`.
    Integer(i64),
    /// `4.2`.
    Decimal(f64),
    /// `@2020-01-01` (text after `@`).
    Date(String),
    /// `@2020-01-01T10:00:00Z`.
    DateTime(String),
    /// `@T10:00`.
    Time(String),
    /// `4 'mg'` or `4 days`.
    Quantity(f64, String),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `div`
    IntDiv,
    /// `mod`
    Mod,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `&`
    Concat,
    /// `|`
    Union,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `~`
    Equiv,
    /// `!=`
    Ne,
    /// `!~`
    NotEquiv,
    /// `in`
    In,
    /// `contains`
    Contains,
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `implies`
    Implies,
}

/// A type specifier, e.g. `Quantity`, `FHIR.Patient`, `System.String`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSpec {
    /// `FHIR`, `System`, or `None` when unqualified.
    pub namespace: Option<String>,
    /// The type name.
    pub name: String,
}

/// A syntax error with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the expression.
    pub at: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FHIRPath syntax error at {}: {}", self.at, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A backtick-delimited identifier (never a keyword).
    Quoted(String),
    Str(String),
    Num(String),
    At(String),
    Percent(String),
    Dollar(String),
    Sym(&'static str),
    Eof,
}

const SYMBOLS: &[&str] = &[
    "<=", ">=", "!=", "!~", ".", "(", ")", "[", "]", "{", "}", ",", "|", "=", "~", "<", ">", "+",
    "-", "*", "/", "&",
];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, m: &str| ParseError {
        at,
        message: m.to_owned(),
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if src[i..].starts_with("/*") {
            match src[i + 2..].find("*/") {
                Some(e) => i += e + 4,
                None => return Err(err(i, "unterminated comment")),
            }
            continue;
        }
        let start = i;
        if c == b'\'' || c == b'`' {
            let quote = c;
            let mut s = String::new();
            i += 1;
            loop {
                let Some(ch) = src[i..].chars().next() else {
                    return Err(err(start, "unterminated string"));
                };
                i += ch.len_utf8();
                if ch as u32 == quote as u32 {
                    break;
                }
                if ch == '\\' {
                    let Some(esc) = src[i..].chars().next() else {
                        return Err(err(start, "unterminated escape"));
                    };
                    i += esc.len_utf8();
                    match esc {
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'f' => s.push('\u{c}'),
                        'u' => {
                            let hex = src.get(i..i + 4).ok_or_else(|| err(i, "bad \\u escape"))?;
                            let code = u32::from_str_radix(hex, 16)
                                .map_err(|_| err(i, "bad \\u escape"))?;
                            s.push(char::from_u32(code).ok_or_else(|| err(i, "bad \\u escape"))?);
                            i += 4;
                        }
                        other => s.push(other),
                    }
                } else {
                    s.push(ch);
                }
            }
            out.push((
                if quote == b'\'' {
                    Tok::Str(s)
                } else {
                    Tok::Quoted(s)
                },
                start,
            ));
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push((Tok::Num(src[start..i].to_owned()), start));
            continue;
        }
        if c == b'@' {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || b"-:.+TZ".contains(&bytes[i]))
            {
                i += 1;
            }
            out.push((Tok::At(src[start + 1..i].to_owned()), start));
            continue;
        }
        if c == b'%' || c == b'$' {
            i += 1;
            if i < bytes.len() && (bytes[i] == b'`' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let end = src[i + 1..]
                    .find(quote as char)
                    .ok_or_else(|| err(i, "unterminated name"))?;
                let name = src[i + 1..i + 1 + end].to_owned();
                i += end + 2;
                out.push((Tok::Percent(name), start));
                continue;
            }
            let s = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
            {
                i += 1;
            }
            let name = src[s..i].to_owned();
            out.push((
                if c == b'%' {
                    Tok::Percent(name)
                } else {
                    Tok::Dollar(name)
                },
                start,
            ));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), start));
            continue;
        }
        match SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            Some(s) => {
                i += s.len();
                out.push((Tok::Sym(s), start));
            }
            None => {
                return Err(err(
                    i,
                    &format!("unexpected character {:?}", src[i..].chars().next()),
                ));
            }
        }
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

const CALENDAR_UNITS: &[&str] = &[
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn at(&self) -> usize {
        self.toks[self.pos].1
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }

    fn expect(&mut self, sym: &'static str) -> Result<(), ParseError> {
        if *self.peek() == Tok::Sym(sym) {
            self.next();
            Ok(())
        } else {
            self.error(format!("expected '{sym}', found {:?}", self.peek()))
        }
    }

    /// The binary operator at the cursor and its precedence (higher binds tighter).
    fn binop(&self) -> Option<(BinOp, u8)> {
        Some(match self.peek() {
            Tok::Sym("*") => (BinOp::Mul, 9),
            Tok::Sym("/") => (BinOp::Div, 9),
            Tok::Ident(k) if k == "div" => (BinOp::IntDiv, 9),
            Tok::Ident(k) if k == "mod" => (BinOp::Mod, 9),
            Tok::Sym("+") => (BinOp::Add, 8),
            Tok::Sym("-") => (BinOp::Sub, 8),
            Tok::Sym("&") => (BinOp::Concat, 8),
            Tok::Sym("|") => (BinOp::Union, 6),
            Tok::Sym("<") => (BinOp::Lt, 5),
            Tok::Sym(">") => (BinOp::Gt, 5),
            Tok::Sym("<=") => (BinOp::Le, 5),
            Tok::Sym(">=") => (BinOp::Ge, 5),
            Tok::Sym("=") => (BinOp::Eq, 4),
            Tok::Sym("~") => (BinOp::Equiv, 4),
            Tok::Sym("!=") => (BinOp::Ne, 4),
            Tok::Sym("!~") => (BinOp::NotEquiv, 4),
            Tok::Ident(k) if k == "in" => (BinOp::In, 3),
            Tok::Ident(k) if k == "contains" => (BinOp::Contains, 3),
            Tok::Ident(k) if k == "and" => (BinOp::And, 2),
            Tok::Ident(k) if k == "or" => (BinOp::Or, 1),
            Tok::Ident(k) if k == "xor" => (BinOp::Xor, 1),
            Tok::Ident(k) if k == "implies" => (BinOp::Implies, 0),
            _ => return None,
        })
    }

    /// Precedence climbing; `is`/`as` sit at level 7, between additive and union.
    fn expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            if let Tok::Ident(k) = self.peek()
                && (k == "is" || k == "as")
                && min <= 7
            {
                let is = k == "is";
                self.next();
                let spec = self.type_spec()?;
                lhs = if is {
                    Expr::Is(Box::new(lhs), spec)
                } else {
                    Expr::As(Box::new(lhs), spec)
                };
                continue;
            }
            let Some((op, prec)) = self.binop() else {
                break;
            };
            if prec < min {
                break;
            }
            self.next();
            let rhs = self.expr(prec + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn type_spec(&mut self) -> Result<TypeSpec, ParseError> {
        let first = match self.next() {
            Tok::Ident(s) | Tok::Quoted(s) => s,
            other => return self.error(format!("expected a type name, found {other:?}")),
        };
        if *self.peek() == Tok::Sym(".")
            && let Some((Tok::Ident(_) | Tok::Quoted(_), _)) = self.toks.get(self.pos + 1)
        {
            self.next();
            let name = match self.next() {
                Tok::Ident(s) | Tok::Quoted(s) => s,
                _ => unreachable!("checked above"),
            };
            return Ok(TypeSpec {
                namespace: Some(first),
                name,
            });
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Tok::Sym("-") => {
                self.next();
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Tok::Sym("+") => {
                self.next();
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.term()?;
        loop {
            match self.peek() {
                Tok::Sym(".") => {
                    self.next();
                    e = self.invocation(e)?;
                }
                Tok::Sym("[") => {
                    self.next();
                    let idx = self.expr(0)?;
                    self.expect("]")?;
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                _ => return Ok(e),
            }
        }
    }

    fn invocation(&mut self, base: Expr) -> Result<Expr, ParseError> {
        let name = match self.next() {
            Tok::Ident(s) | Tok::Quoted(s) => s,
            Tok::Dollar(s) if s == "this" => return Ok(base),
            other => return self.error(format!("expected a name, found {other:?}")),
        };
        if *self.peek() == Tok::Sym("(") {
            self.next();
            let mut args = Vec::new();
            if *self.peek() != Tok::Sym(")") {
                loop {
                    args.push(self.expr(0)?);
                    if *self.peek() == Tok::Sym(",") {
                        self.next();
                    } else {
                        break;
                    }
                }
            }
            self.expect(")")?;
            Ok(Expr::Call(Box::new(base), name, args))
        } else {
            Ok(Expr::Member(Box::new(base), name))
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.next();
                let e = self.expr(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.next();
                self.expect("}")?;
                Ok(Expr::Empty)
            }
            Tok::Str(s) => {
                self.next();
                Ok(Expr::Literal(Literal::String(s)))
            }
            Tok::Num(n) => {
                self.next();
                let lit = if n.contains('.') {
                    Literal::Decimal(n.parse().map_err(|_| ParseError {
                        at: self.at(),
                        message: "bad number".into(),
                    })?)
                } else {
                    match n.parse::<i64>() {
                        Ok(i) => Literal::Integer(i),
                        Err(_) => Literal::Decimal(n.parse().unwrap_or(f64::INFINITY)),
                    }
                };
                // A quantity literal: number followed by a unit string or calendar keyword.
                match self.peek().clone() {
                    Tok::Str(unit) => {
                        self.next();
                        Ok(Expr::Literal(Literal::Quantity(lit_f64(&lit), unit)))
                    }
                    Tok::Ident(u) if CALENDAR_UNITS.contains(&u.as_str()) => {
                        self.next();
                        Ok(Expr::Literal(Literal::Quantity(lit_f64(&lit), u)))
                    }
                    _ => Ok(Expr::Literal(lit)),
                }
            }
            Tok::At(s) => {
                self.next();
                Ok(Expr::Literal(if let Some(t) = s.strip_prefix('T') {
                    Literal::Time(t.to_owned())
                } else if s.contains('T') {
                    Literal::DateTime(s)
                } else {
                    Literal::Date(s)
                }))
            }
            Tok::Percent(v) => {
                self.next();
                Ok(Expr::Var(v))
            }
            Tok::Dollar(v) => {
                self.next();
                match v.as_str() {
                    "this" => Ok(Expr::This),
                    _ => Ok(Expr::Var(format!("${v}"))),
                }
            }
            Tok::Ident(s) if s == "true" || s == "false" => {
                self.next();
                Ok(Expr::Literal(Literal::Bool(s == "true")))
            }
            Tok::Ident(_) | Tok::Quoted(_) => self.invocation(Expr::This),
            other => self.error(format!("unexpected {other:?}")),
        }
    }
}

fn lit_f64(l: &Literal) -> f64 {
    match l {
        Literal::Integer(i) => *i as f64,
        Literal::Decimal(d) => *d,
        _ => 0.0,
    }
}

/// Parses a FHIRPath expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr(0)?;
    if *p.peek() != Tok::Eof {
        return p.error(format!("unexpected {:?} after the expression", p.peek()));
    }
    Ok(e)
}
