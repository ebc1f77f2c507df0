//! The `$filter` syntax tree and its canonical text form.

use std::fmt;

use crate::error::ODataError;
use crate::{Limits, parser};

/// Comparison operator of a [`Filter::Cmp`] clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne` (advanced query only on directory objects)
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    /// The OData keyword, e.g. `"eq"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }
}

/// A literal on the right-hand side of a comparison or in an `in` list.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` with `''` unescaped to `'`.
    String(String),
    /// A bare GUID such as `72f988bf-86f1-41af-91ab-2d7cd011db47`, as written.
    /// (A quoted GUID is a [`Literal::String`]; both compare the same way.)
    Guid(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number (has a fraction or exponent, or overflows `i64`).
    Number(f64),
    /// A bare date (`2021-01-02`) or date-time-offset (`2021-01-02T12:00:00Z`), as written.
    DateTime(String),
}

/// A parsed `$filter` expression.
///
/// Property paths are stored as their `/`-separated segments, as written
/// (`web/redirectUris` is `["web", "redirectUris"]`); a trailing `$count`
/// segment counts the items of a collection. Inside a lambda body a path
/// whose first segment is the lambda variable refers to the current item.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op literal`, e.g. `appId eq '…'`.
    Cmp {
        /// Property path.
        path: Vec<String>,
        /// Operator.
        op: CmpOp,
        /// Right-hand side.
        value: Literal,
    },
    /// `startswith(path, 'prefix')`, case-insensitive.
    StartsWith {
        /// Property path.
        path: Vec<String>,
        /// Prefix to look for.
        prefix: String,
    },
    /// `endswith(path, 'suffix')`, case-insensitive (advanced query only in Graph).
    EndsWith {
        /// Property path.
        path: Vec<String>,
        /// Suffix to look for.
        suffix: String,
    },
    /// `path in (v1, v2, …)`.
    In {
        /// Property path.
        path: Vec<String>,
        /// Candidate values.
        values: Vec<Literal>,
    },
    /// `collection/any(var: body)`: true when `body` holds for some item.
    Any {
        /// Path of the collection.
        collection: Vec<String>,
        /// Range variable bound to each item inside `body`.
        var: String,
        /// Condition on each item.
        body: Box<Filter>,
    },
    /// `collection/all(var: body)`: true when `body` holds for every item
    /// (documented by Graph as not supported; parsed so callers can decide).
    All {
        /// Path of the collection.
        collection: Vec<String>,
        /// Range variable bound to each item inside `body`.
        var: String,
        /// Condition on each item.
        body: Box<Filter>,
    },
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
    /// `not operand` (advanced query only in Graph).
    Not(Box<Filter>),
}

impl Filter {
    /// Parses a `$filter` value (already URL-decoded) under `limits`.
    ///
    /// Errors carry Graph's code and message; see `NOTES.md` for which
    /// messages are Graph's verbatim and which are modelled on them.
    pub fn parse(text: &str, limits: &Limits) -> Result<Filter, ODataError> {
        parser::parse_filter(text, limits)
    }

    /// Top-level properties the filter references, in order of first
    /// appearance, without duplicates: the first segment of every path
    /// outside a lambda, and of every lambda's collection. Paths that start
    /// with a lambda variable are not properties of the resource and are left
    /// out (see [`Filter::property_paths`] for those).
    ///
    /// A caller rejects filters on properties it does not index with
    /// [`ODataError::unsupported_filter_property`].
    pub fn properties(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.visit_paths(&mut |full: &[String]| {
            if let Some(first) = full.first()
                && !out.iter().any(|p| p == first)
            {
                out.push(first.clone());
            }
        });
        out
    }

    /// Every property path the filter references, `/`-joined, in order of
    /// first appearance, without duplicates. Paths relative to a lambda
    /// variable are prefixed with the lambda's collection, so
    /// `requiredResourceAccess/any(r:r/resourceAppId eq '…')` yields
    /// `requiredResourceAccess` and `requiredResourceAccess/resourceAppId`.
    pub fn property_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.visit_paths(&mut |full: &[String]| {
            let joined = full.join("/");
            if !joined.is_empty() && !out.contains(&joined) {
                out.push(joined);
            }
        });
        out
    }

    /// The operators used that Graph accepts on directory objects only in an
    /// *advanced query* (`ConsistencyLevel: eventual` plus `$count=true`):
    /// any of `"ne"`, `"not"`, `"endsWith"`, `"$count"`, in order of first
    /// appearance. Empty when the filter works by default.
    pub fn advanced_features(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        let mut add = |f: &'static str| {
            if !out.contains(&f) {
                out.push(f);
            }
        };
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            let path: Option<&[String]> = match node {
                Filter::Cmp { path, op, .. } => {
                    if *op == CmpOp::Ne {
                        add("ne");
                    }
                    Some(path)
                }
                Filter::StartsWith { path, .. } | Filter::In { path, .. } => Some(path),
                Filter::EndsWith { path, .. } => {
                    add("endsWith");
                    Some(path)
                }
                Filter::Any { body, .. } | Filter::All { body, .. } => {
                    stack.push(body);
                    None
                }
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push(b);
                    stack.push(a);
                    None
                }
                Filter::Not(x) => {
                    add("not");
                    stack.push(x);
                    None
                }
            };
            if path.is_some_and(|p| p.iter().any(|s| s == "$count")) {
                add("$count");
            }
        }
        out
    }

    /// True when the filter contains an `all` lambda, which Graph documents
    /// as unsupported.
    pub fn uses_all(&self) -> bool {
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Filter::All { .. } => return true,
                Filter::Any { body, .. } => stack.push(body),
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                Filter::Not(x) => stack.push(x),
                _ => {}
            }
        }
        false
    }

    /// Calls `f(resource_path)` for every path, with lambda-relative paths
    /// rewritten onto their collection. Iterative, so deep trees are fine.
    fn visit_paths(&self, f: &mut dyn FnMut(&[String])) {
        let mut stack: Vec<(&Filter, Scopes<'_>)> = vec![(self, Vec::new())];
        while let Some((node, scopes)) = stack.pop() {
            let resolve = |path: &[String]| -> Vec<String> {
                if let Some(first) = path.first()
                    && let Some((_, coll)) = scopes.iter().rev().find(|(v, _)| v == first)
                {
                    let mut full = coll.clone();
                    full.extend(path[1..].iter().cloned());
                    return full;
                }
                path.to_vec()
            };
            match node {
                Filter::Cmp { path, .. }
                | Filter::StartsWith { path, .. }
                | Filter::EndsWith { path, .. }
                | Filter::In { path, .. } => {
                    f(&resolve(path));
                }
                Filter::Any {
                    collection,
                    var,
                    body,
                }
                | Filter::All {
                    collection,
                    var,
                    body,
                } => {
                    let full = resolve(collection);
                    f(&full);
                    let mut inner = scopes.clone();
                    inner.push((var.as_str(), full));
                    stack.push((body, inner));
                }
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push((b, scopes.clone()));
                    stack.push((a, scopes));
                }
                Filter::Not(x) => stack.push((x, scopes)),
            }
        }
    }
}

/// Lambda variables in scope, innermost last, each with its collection's
/// path as seen from the resource.
type Scopes<'f> = Vec<(&'f str, Vec<String>)>;

fn write_string_literal(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    f.write_str(&s.replace('\'', "''"))?;
    f.write_str("'")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_string_literal(f, s),
            Literal::Guid(g) => f.write_str(g),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Number(n) => {
                let s = n.to_string();
                if s.contains(['.', 'e', 'E']) || !n.is_finite() {
                    f.write_str(&s)
                } else {
                    write!(f, "{s}.0")
                }
            }
            Literal::DateTime(d) => f.write_str(d),
        }
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, child: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

/// Canonical OData text; parsing it back gives an equal [`Filter`].
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Cmp { path, op, value } => {
                write!(f, "{} {} {}", path.join("/"), op.as_str(), value)
            }
            Filter::StartsWith { path, prefix } => {
                write!(f, "startswith({},", path.join("/"))?;
                write_string_literal(f, prefix)?;
                f.write_str(")")
            }
            Filter::EndsWith { path, suffix } => {
                write!(f, "endswith({},", path.join("/"))?;
                write_string_literal(f, suffix)?;
                f.write_str(")")
            }
            Filter::In { path, values } => {
                write!(f, "{} in (", path.join("/"))?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Filter::Any {
                collection,
                var,
                body,
            } => write!(f, "{}/any({var}:{body})", collection.join("/")),
            Filter::All {
                collection,
                var,
                body,
            } => write!(f, "{}/all({var}:{body})", collection.join("/")),
            Filter::And(a, b) => {
                write_child(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_child(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write_child(f, a, false)?;
                f.write_str(" or ")?;
                write_child(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(x) => write!(f, "not ({x})"),
        }
    }
}
