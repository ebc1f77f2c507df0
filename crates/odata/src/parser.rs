//! Recursive-descent parser for `$filter`.
//!
//! Grammar (keywords case-insensitive; `and` binds tighter than `or`; `not`
//! applies to the comparison that follows it):
//!
//! ```text
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" or ")"
//!          | ("startswith" | "endswith") "(" path "," string ")" [("eq"|"ne") bool]
//!          | path "/" ("any"|"all") "(" var ":" or ")"
//!          | path ("eq"|"ne"|"gt"|"ge"|"lt"|"le") literal
//!          | path "in" "(" literal ("," literal)* ")"
//! path    := ident ("/" ident)* ["/" "$count"]
//! ```
//!
//! Recursion happens only through parentheses, `not` and lambda bodies; each
//! of those counts towards the nesting limit before recursing, so the stack
//! depth is bounded by [`crate::MAX_DEPTH_CAP`] whatever the input. `and`/`or`
//! chains are parsed in loops; the height of the resulting tree is capped too
//! so that evaluating or dropping it cannot exhaust the stack.

use crate::ast::{CmpOp, Filter, Literal};
use crate::error::ODataError;
use crate::lexer::{Tok, Token, lex};
use crate::{Limits, MAX_DEPTH_CAP, MAX_TREE_HEIGHT};

const RESERVED: &[&str] = &[
    "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "true", "false", "null",
];

/// OData functions Graph's directory does not implement: "Unsupported query."
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "contains",
    "substringof",
    "tolower",
    "toupper",
    "length",
    "indexof",
    "substring",
    "trim",
    "concat",
    "matchespattern",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "totalseconds",
    "totaloffsetminutes",
    "date",
    "time",
    "now",
    "maxdatetime",
    "mindatetime",
    "round",
    "floor",
    "ceiling",
    "cast",
    "isof",
];

static END: Tok = Tok::End;

type PResult = Result<(Filter, usize), ODataError>;

fn is_reserved(s: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

pub(crate) fn parse_filter(text: &str, limits: &Limits) -> Result<Filter, ODataError> {
    if text.len() > limits.max_filter_len {
        return Err(ODataError::filter_too_long(limits.max_filter_len));
    }
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        i: 0,
        text,
        max_depth: limits.max_depth.min(MAX_DEPTH_CAP),
        max_in: limits.max_in_values,
    };
    let (filter, _) = p.or_expr(0)?;
    if !matches!(p.peek(), Tok::End) {
        return Err(p.syntax_here());
    }
    check_or_clauses(&filter, limits.max_or_clauses)?;
    Ok(filter)
}

/// Counts the leaves of every maximal `or` cluster (an `in` list counts one
/// per value) and rejects clusters above `max`, as Graph does.
fn check_or_clauses(filter: &Filter, max: usize) -> Result<(), ODataError> {
    let mut stack = vec![filter];
    while let Some(node) = stack.pop() {
        match node {
            Filter::Or(..) => {
                let mut count = 0usize;
                let mut cluster = vec![node];
                while let Some(m) = cluster.pop() {
                    match m {
                        Filter::Or(a, b) => {
                            cluster.push(b);
                            cluster.push(a);
                        }
                        Filter::In { values, .. } => count += values.len(),
                        other => {
                            count += 1;
                            stack.push(other);
                        }
                    }
                }
                if count > max {
                    return Err(ODataError::too_many_or_clauses(count, max));
                }
            }
            Filter::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            Filter::Not(x) => stack.push(x),
            Filter::Any { body, .. } | Filter::All { body, .. } => stack.push(body),
            Filter::Cmp { .. }
            | Filter::StartsWith { .. }
            | Filter::EndsWith { .. }
            | Filter::In { .. } => {}
        }
    }
    Ok(())
}

struct Parser<'a> {
    tokens: Vec<Token>,
    i: usize,
    text: &'a str,
    max_depth: usize,
    max_in: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &Tok {
        self.tokens.get(self.i + k).map_or(&END, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.tokens
            .get(self.i)
            .or(self.tokens.last())
            .map_or(0, |t| t.pos)
    }

    fn bump(&mut self) {
        if self.i + 1 < self.tokens.len() {
            self.i += 1;
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn syntax_at(&self, pos: usize) -> ODataError {
        ODataError::filter_syntax(self.text, pos)
    }

    fn syntax_here(&self) -> ODataError {
        self.syntax_at(self.pos())
    }

    fn enter(&self, depth: usize) -> Result<usize, ODataError> {
        let d = depth + 1;
        if d > self.max_depth {
            return Err(ODataError::filter_too_deep(self.max_depth));
        }
        Ok(d)
    }

    fn height(&self, h: usize) -> Result<usize, ODataError> {
        if h > MAX_TREE_HEIGHT {
            return Err(ODataError::filter_too_complex(MAX_TREE_HEIGHT));
        }
        Ok(h)
    }

    fn expect(&mut self, want: &Tok) -> Result<(), ODataError> {
        if self.peek() == want {
            self.bump();
            Ok(())
        } else {
            Err(self.syntax_here())
        }
    }

    fn or_expr(&mut self, depth: usize) -> PResult {
        let (mut left, mut h) = self.and_expr(depth)?;
        while self.is_kw("or") {
            self.bump();
            let (right, hr) = self.and_expr(depth)?;
            h = self.height(h.max(hr) + 1)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok((left, h))
    }

    fn and_expr(&mut self, depth: usize) -> PResult {
        let (mut left, mut h) = self.unary(depth)?;
        while self.is_kw("and") {
            self.bump();
            let (right, hr) = self.unary(depth)?;
            h = self.height(h.max(hr) + 1)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok((left, h))
    }

    fn unary(&mut self, depth: usize) -> PResult {
        if self.is_kw("not") {
            let d = self.enter(depth)?;
            self.bump();
            let (operand, h) = self.unary(d)?;
            let h = self.height(h + 1)?;
            return Ok((Filter::Not(Box::new(operand)), h));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> PResult {
        let pos = self.pos();
        match self.peek() {
            Tok::LParen => {
                let d = self.enter(depth)?;
                self.bump();
                let inner = self.or_expr(d)?;
                self.expect(&Tok::RParen)?;
                Ok(inner)
            }
            Tok::Ident(name) if matches!(self.peek_at(1), Tok::LParen) => {
                let lower = name.to_ascii_lowercase();
                match lower.as_str() {
                    "startswith" => self.function(true),
                    "endswith" => self.function(false),
                    l if UNSUPPORTED_FUNCTIONS.contains(&l) => Err(ODataError::unsupported_query()),
                    l if is_reserved(l) || l.starts_with('$') => Err(self.syntax_at(pos)),
                    _ => Err(ODataError::filter_unknown_function(name)),
                }
            }
            Tok::Ident(_) => self.path_expr(depth),
            _ => Err(self.syntax_at(pos)),
        }
    }

    /// Reads `ident ("/" ident)*`. When `allow_lambda` and the path continues
    /// with `/any(` or `/all(`, stops before the `(` and reports which.
    fn read_path(&mut self, allow_lambda: bool) -> Result<(Vec<String>, Option<bool>), ODataError> {
        let pos = self.pos();
        let first = match self.peek() {
            Tok::Ident(s) if !s.starts_with('$') && !is_reserved(s) => s.clone(),
            _ => return Err(self.syntax_at(pos)),
        };
        self.bump();
        let mut segs = vec![first];
        while matches!(self.peek(), Tok::Slash) {
            if segs.last().is_some_and(|s| s == "$count") {
                return Err(self.syntax_here());
            }
            self.bump();
            let seg_pos = self.pos();
            let seg = match self.peek() {
                Tok::Ident(s) => s.clone(),
                _ => return Err(self.syntax_at(seg_pos)),
            };
            let lower = seg.to_ascii_lowercase();
            if (lower == "any" || lower == "all") && matches!(self.peek_at(1), Tok::LParen) {
                if !allow_lambda || segs.iter().any(|s| s == "$count") {
                    return Err(self.syntax_at(seg_pos));
                }
                self.bump();
                return Ok((segs, Some(lower == "all")));
            }
            if lower == "$count" {
                segs.push("$count".to_string());
            } else if seg.starts_with('$') || is_reserved(&seg) {
                return Err(self.syntax_at(seg_pos));
            } else {
                segs.push(seg);
            }
            self.bump();
        }
        Ok((segs, None))
    }

    fn path_expr(&mut self, depth: usize) -> PResult {
        let (path, lambda) = self.read_path(true)?;
        if let Some(is_all) = lambda {
            return self.lambda(depth, path, is_all);
        }
        let op_pos = self.pos();
        let op = match self.peek() {
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                "in" => return self.in_list(path),
                "has" => return Err(ODataError::unsupported_query()),
                _ => return Err(self.syntax_at(op_pos)),
            },
            _ => return Err(self.syntax_at(op_pos)),
        };
        self.bump();
        let value = self.literal()?;
        Ok((Filter::Cmp { path, op, value }, 1))
    }

    /// After `collection/any`: `( var : body )`.
    fn lambda(&mut self, depth: usize, collection: Vec<String>, is_all: bool) -> PResult {
        self.expect(&Tok::LParen)?;
        let var_pos = self.pos();
        let var = match self.peek() {
            Tok::Ident(s) if !s.starts_with('$') && !is_reserved(s) => s.clone(),
            _ => return Err(self.syntax_at(var_pos)),
        };
        self.bump();
        self.expect(&Tok::Colon)?;
        let d = self.enter(depth)?;
        let (body, h) = self.or_expr(d)?;
        self.expect(&Tok::RParen)?;
        let h = self.height(h + 1)?;
        let body = Box::new(body);
        let node = if is_all {
            Filter::All {
                collection,
                var,
                body,
            }
        } else {
            Filter::Any {
                collection,
                var,
                body,
            }
        };
        Ok((node, h))
    }

    /// `startswith(path, 'x')` / `endswith(path, 'x')`, optionally compared
    /// with a boolean (`… eq true`, `… eq false`).
    fn function(&mut self, starts: bool) -> PResult {
        self.bump(); // name
        self.bump(); // (
        let path_pos = self.pos();
        let (path, _) = self.read_path(false)?;
        if path.iter().any(|s| s == "$count") {
            return Err(self.syntax_at(path_pos));
        }
        self.expect(&Tok::Comma)?;
        let arg = match self.peek() {
            Tok::Str(s) => s.clone(),
            _ => return Err(self.syntax_here()),
        };
        self.bump();
        self.expect(&Tok::RParen)?;
        let mut node = if starts {
            Filter::StartsWith { path, prefix: arg }
        } else {
            Filter::EndsWith { path, suffix: arg }
        };
        let mut h = 1;
        if self.is_kw("eq") || self.is_kw("ne") {
            let is_eq = self.is_kw("eq");
            let b = match self.peek_at(1) {
                Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            if let Some(b) = b {
                self.bump();
                self.bump();
                if is_eq != b {
                    node = Filter::Not(Box::new(node));
                    h = 2;
                }
            }
        }
        Ok((node, h))
    }

    /// After a path: `in ( literal, … )`.
    fn in_list(&mut self, path: Vec<String>) -> PResult {
        self.bump(); // in
        self.expect(&Tok::LParen)?;
        let mut values = Vec::new();
        loop {
            values.push(self.literal()?);
            match self.peek() {
                Tok::Comma => self.bump(),
                Tok::RParen => {
                    self.bump();
                    break;
                }
                _ => return Err(self.syntax_here()),
            }
        }
        if values.len() > self.max_in {
            return Err(ODataError::too_many_or_clauses(values.len(), self.max_in));
        }
        Ok((Filter::In { path, values }, 1))
    }

    fn literal(&mut self) -> Result<Literal, ODataError> {
        let lit = match self.peek() {
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Int(n) => Literal::Int(*n),
            Tok::Num(f) => Literal::Number(*f),
            Tok::Guid(g) => Literal::Guid(g.clone()),
            Tok::DateTime(d) => Literal::DateTime(d.clone()),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.syntax_here()),
        };
        self.bump();
        Ok(lit)
    }
}
