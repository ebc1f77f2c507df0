//! Search query parsing: turns the query parameters of a FHIR search into a
//! typed [`SearchQuery`], with the issues Azure's FHIR service reports.
//!
//! Lenient mode (the default, as in AHDS) ignores unknown or unsupported
//! parameters with a `warning`/`not-supported` issue that the HTTP layer puts
//! in a `search.mode = outcome` entry; strict mode (`Prefer: handling=strict`)
//! makes them errors. Malformed values are errors in both modes.

use crate::definitions::{SearchParamDef, SearchParamType, r4};
use crate::issue::{Issue, IssueCode, Severity};
use crate::primitives::{
    DatePrecision, DateRange, DateSyntax, NumberRange, parse_date, parse_number,
};

/// Default page size (AHDS).
pub const DEFAULT_COUNT: u32 = 10;
/// Largest page size; larger `_count` values are clamped with an informational issue.
pub const MAX_COUNT: u32 = 1000;

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// `Patient` for `GET /Patient?…`; `None` for a system search.
    pub resource_type: Option<String>,
    /// Criteria, all of which must match (repeated parameters are ANDed).
    pub criteria: Vec<Criterion>,
    /// `_type` of a system search.
    pub types: Vec<String>,
    /// `_include` (and `_include:iterate`).
    pub includes: Vec<Include>,
    /// `_revinclude` (and `_revinclude:iterate`).
    pub revincludes: Vec<Include>,
    /// `_sort`, in priority order.
    pub sort: Vec<SortKey>,
    /// Page size after clamping (`_count`, default 10, max 1000).
    pub count: u32,
    /// `_total`.
    pub total: Total,
    /// `_summary` (`_count=0` implies `count`).
    pub summary: Option<Summary>,
    /// `_elements` (element names, without the resource type).
    pub elements: Vec<String>,
    /// `ct`: the opaque continuation token.
    pub continuation_token: Option<String>,
    /// Non-fatal issues (warnings for ignored parameters, the `_count` clamp)
    /// for the `search.mode = outcome` entry.
    pub issues: Vec<Issue>,
}

/// A reference to the SearchParameter a criterion uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamRef {
    /// The code as used in the query (`name`).
    pub code: String,
    /// The definition's id (`Patient-name`, `individual-given`, `Resource-id`).
    pub definition: String,
    /// The parameter type.
    pub kind: SearchParamType,
}

impl ParamRef {
    fn of(sp: &SearchParamDef) -> Self {
        ParamRef {
            code: sp.code.clone(),
            definition: sp.id.clone(),
            kind: sp.kind,
        }
    }
}

/// One criterion; its `values` (or the chain's final criterion's values) are ORed.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// `code[:modifier]=v1,v2`.
    Param {
        /// The parameter.
        param: ParamRef,
        /// Modifier, if any.
        modifier: Option<Modifier>,
        /// Values, any of which may match.
        values: Vec<SearchValue>,
    },
    /// `ref[:Type].next…`: resources whose reference `param` points to a
    /// resource (of one of `target_types`) matching `next`.
    Chain {
        /// The reference parameter on the searched type.
        param: ParamRef,
        /// Candidate target types (the `:Type` modifier, or every target type
        /// of `param` that defines the next parameter).
        target_types: Vec<String>,
        /// The criterion on the target.
        next: Box<Criterion>,
    },
    /// `_has:Type:ref:next…`: resources referred to by a `source_type`
    /// resource, through its reference parameter `reference`, that matches `next`.
    Has {
        /// The referring resource type.
        source_type: String,
        /// The reference parameter on `source_type`.
        reference: ParamRef,
        /// The criterion on the referring resource.
        next: Box<Criterion>,
    },
}

/// Search modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `:missing`.
    Missing,
    /// `:exact` (string).
    Exact,
    /// `:contains` (string).
    Contains,
    /// `:text` (token).
    Text,
    /// `:not` (token).
    Not,
    /// `:above` (uri, reference to canonical).
    Above,
    /// `:below` (uri, reference to canonical).
    Below,
    /// `:identifier` (reference).
    Identifier,
    /// `:[type]` (reference).
    Type(String),
}

/// Comparison prefixes of number, date and quantity values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (default).
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `ge`.
    Ge,
    /// `le`.
    Le,
    /// `sa` (starts after).
    Sa,
    /// `eb` (ends before).
    Eb,
    /// `ap` (approximately).
    Ap,
}

/// The system part of a token value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSystem {
    /// `code`: any system.
    Any,
    /// `|code`: no system.
    None,
    /// `system|code` or `system|`.
    Is(String),
}

/// A typed search value.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    /// `:missing=true|false`.
    Missing(bool),
    /// A number with its precision range.
    Number {
        /// Comparison.
        prefix: Prefix,
        /// Value and implied range.
        value: NumberRange,
    },
    /// A date with the range its precision implies.
    Date {
        /// Comparison.
        prefix: Prefix,
        /// Instants covered.
        range: DateRange,
        /// Precision as written.
        precision: DatePrecision,
    },
    /// A string: as given (`:exact`) and folded (default, `:contains`).
    String {
        /// As given.
        exact: String,
        /// Case- and accent-folded (see [`crate::index::normalize_string`]).
        normalized: String,
    },
    /// A token (`[system|]code`, `system|`).
    Token {
        /// System part.
        system: TokenSystem,
        /// Code part (`None` for `system|`).
        code: Option<String>,
    },
    /// `:text` of a token: folded text.
    Text(String),
    /// A reference: `Type/id`, `id`, an absolute URL or a canonical with `|version`.
    Reference {
        /// Target type (from `Type/id` or the `:Type` modifier).
        resource_type: Option<String>,
        /// Target id.
        id: Option<String>,
        /// An absolute or canonical URL (without `|version`).
        url: Option<String>,
        /// `_history` version or canonical version.
        version: Option<String>,
    },
    /// `:identifier` of a reference.
    Identifier {
        /// System part.
        system: TokenSystem,
        /// Value.
        value: Option<String>,
    },
    /// A quantity `[prefix]number[|system[|code]]`.
    Quantity {
        /// Comparison.
        prefix: Prefix,
        /// Value and implied range.
        value: NumberRange,
        /// System (`None` = any).
        system: Option<String>,
        /// Code or unit (`None` = any).
        code: Option<String>,
    },
    /// A uri.
    Uri(String),
    /// A composite: one value per component.
    Composite(Vec<SearchValue>),
}

/// An `_include` or `_revinclude`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The resource type holding the reference (`*` for `_include=*`).
    pub source_type: String,
    /// The reference parameter (`None` for `*`, which means every reference).
    pub param: Option<ParamRef>,
    /// Restricts the target type (`Observation:subject:Patient`).
    pub target_type: Option<String>,
    /// `:iterate` (or the R4 alias `:recurse`).
    pub iterate: bool,
}

/// A `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The parameter sorted on.
    pub param: ParamRef,
    /// `-param`.
    pub descending: bool,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// No `Bundle.total` (the AHDS default).
    None,
    /// An exact total.
    Accurate,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// Summary elements only.
    True,
    /// Text, id, meta and top-level mandatory elements.
    Text,
    /// Everything but text.
    Data,
    /// Only the count.
    Count,
    /// Everything.
    False,
}

/// Splits on an unescaped separator and removes the `\` escapes of `\,`, `\|`, `\$`, `\\`.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n) if n == sep => {
                    out.last_mut().unwrap().push(n);
                    chars.next();
                }
                Some(&n) if matches!(n, ',' | '|' | '$' | '\\') => {
                    // Keep the escape for the next level of splitting.
                    out.last_mut().unwrap().push('\\');
                    out.last_mut().unwrap().push(n);
                    chars.next();
                }
                _ => out.last_mut().unwrap().push(c),
            }
        } else if c == sep {
            out.push(String::new());
        } else {
            out.last_mut().unwrap().push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && matches!(n, ',' | '|' | '$' | '\\')
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

fn split_prefix(s: &str) -> (Prefix, &str) {
    let p = match s.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, s),
    };
    (p, &s[2..])
}

fn invalid(msg: impl Into<String>) -> Issue {
    Issue::new(Severity::Error, IssueCode::Invalid, msg)
}

fn malformed(v: &str) -> Issue {
    invalid(format!("Malformed search value '{v}'."))
}

fn token_parts(raw: &str) -> (TokenSystem, Option<String>) {
    let parts = split_escaped(raw, '|');
    if parts.len() == 1 {
        return (TokenSystem::Any, Some(unescape(&parts[0])));
    }
    let code = parts[1..].join("|");
    let code = if code.is_empty() {
        None
    } else {
        Some(unescape(&code))
    };
    let system = if parts[0].is_empty() {
        TokenSystem::None
    } else {
        TokenSystem::Is(unescape(&parts[0]))
    };
    (system, code)
}

/// Parses one value (one OR-alternative) of a parameter of type `kind`.
fn parse_value(
    kind: SearchParamType,
    sp: &SearchParamDef,
    modifier: Option<&Modifier>,
    raw: &str,
) -> Result<SearchValue, Issue> {
    if raw.is_empty() {
        return Err(malformed(raw));
    }
    match (kind, modifier) {
        (_, Some(Modifier::Missing)) => match raw {
            "true" => Ok(SearchValue::Missing(true)),
            "false" => Ok(SearchValue::Missing(false)),
            _ => Err(invalid(
                "Invalid value for :missing modifier. Valid values are: true, false.",
            )),
        },
        (SearchParamType::Number, _) => {
            let (prefix, rest) = split_prefix(raw);
            parse_number(rest)
                .map(|value| SearchValue::Number { prefix, value })
                .ok_or_else(|| malformed(raw))
        }
        (SearchParamType::Date, _) => {
            let (prefix, rest) = split_prefix(raw);
            match parse_date(rest, DateSyntax::Search) {
                Some(p) => Ok(SearchValue::Date {
                    prefix,
                    range: p.range,
                    precision: p.precision,
                }),
                None => Err(invalid(format!(
                    "The date time string '{rest}' is not in a correct format."
                ))),
            }
        }
        (SearchParamType::String, _) => {
            let s = unescape(raw);
            Ok(SearchValue::String {
                normalized: crate::index::normalize_string(&s),
                exact: s,
            })
        }
        (SearchParamType::Token, Some(Modifier::Text)) => Ok(SearchValue::Text(
            crate::index::normalize_string(&unescape(raw)),
        )),
        (SearchParamType::Token, _) => {
            let (system, code) = token_parts(raw);
            if split_escaped(raw, '|').len() > 2 {
                return Err(invalid("Only one token separator can be specified."));
            }
            Ok(SearchValue::Token { system, code })
        }
        (SearchParamType::Reference, Some(Modifier::Identifier)) => {
            let (system, value) = token_parts(raw);
            Ok(SearchValue::Identifier { system, value })
        }
        (SearchParamType::Reference, m) => {
            let raw = unescape(raw);
            let type_mod = match m {
                Some(Modifier::Type(t)) => Some(t.clone()),
                _ => None,
            };
            if raw.contains("://") || raw.starts_with("urn:") {
                let (url, version) = match raw.split_once('|') {
                    Some((u, v)) => (u.to_owned(), Some(v.to_owned())),
                    None => (raw.clone(), None),
                };
                let r = crate::index::parse_reference(&url, None).unwrap_or_default();
                return Ok(SearchValue::Reference {
                    resource_type: r.resource_type.or(type_mod),
                    id: r.id,
                    url: Some(url),
                    version: version.or(r.version),
                });
            }
            let segs: Vec<&str> = raw.split('/').collect();
            let (rtype, id, version) = match segs.as_slice() {
                [id] => (type_mod.clone(), *id, None),
                [t, id] => (Some((*t).to_owned()), *id, None),
                [t, id, "_history", v] => (Some((*t).to_owned()), *id, Some((*v).to_owned())),
                _ => return Err(malformed(&raw)),
            };
            if let Some(t) = &rtype {
                if !r4().is_resource_type(t) {
                    return Err(invalid(format!(
                        "Resource type '{t}' in the reference '{raw}' is not supported."
                    )));
                }
                if let (Some(tm), true) = (&type_mod, segs.len() > 1)
                    && tm != t
                {
                    return Err(malformed(&raw));
                }
                if !sp.targets.is_empty() && !sp.targets.iter().any(|x| x == t || x == "Resource") {
                    return Err(invalid(format!(
                        "Resource type '{t}' in the reference '{raw}' is not supported."
                    )));
                }
            }
            if !crate::primitives::is_id(id) {
                return Err(malformed(&raw));
            }
            Ok(SearchValue::Reference {
                resource_type: rtype,
                id: Some(id.to_owned()),
                url: None,
                version,
            })
        }
        (SearchParamType::Quantity, _) => {
            let parts = split_escaped(raw, '|');
            if parts.len() != 1 && parts.len() != 3 {
                return Err(malformed(raw));
            }
            let (prefix, num) = split_prefix(&parts[0]);
            let value = parse_number(num).ok_or_else(|| malformed(raw))?;
            let opt = |i: usize| parts.get(i).filter(|s| !s.is_empty()).map(|s| unescape(s));
            Ok(SearchValue::Quantity {
                prefix,
                value,
                system: opt(1),
                code: opt(2),
            })
        }
        (SearchParamType::Uri, _) => Ok(SearchValue::Uri(unescape(raw))),
        (SearchParamType::Composite, _) => {
            let parts = split_escaped(raw, '$');
            if parts.len() != sp.components.len() {
                return Err(invalid(if parts.len() > sp.components.len() {
                    format!(
                        "The number of composite components specified for search parameter '{}' exceeded the number of components defined.",
                        sp.code
                    )
                } else {
                    "The composite separator cannot be found.".to_owned()
                }));
            }
            let mut vals = Vec::with_capacity(parts.len());
            for (part, comp) in parts.iter().zip(&sp.components) {
                let cdef = r4()
                    .search_param_by_id(&comp.definition)
                    .ok_or_else(|| malformed(raw))?;
                vals.push(parse_value(cdef.kind, cdef, None, part)?);
            }
            Ok(SearchValue::Composite(vals))
        }
        (SearchParamType::Special, _) => Err(malformed(raw)),
    }
}

struct Ctx {
    strict: bool,
    issues: Vec<Issue>,
}

impl Ctx {
    /// An ignorable problem: warning when lenient, error when strict.
    fn unsupported(&mut self, msg: String) {
        let severity = if self.strict {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.issues
            .push(Issue::new(severity, IssueCode::NotSupported, msg));
    }

    fn error(&mut self, issue: Issue) {
        self.issues.push(issue);
    }
}

/// Resolves a parameter code on one of `types` (all must define it for a
/// multi-type system search).
fn lookup<'d>(types: &[String], code: &str) -> Option<&'d SearchParamDef> {
    let defs = r4();
    let mut found = None;
    for t in types {
        let sp = defs.search_param(t, code)?;
        found.get_or_insert(sp);
    }
    found
}

fn type_label(types: &[String]) -> String {
    if types.len() == 1 {
        types[0].clone()
    } else {
        "DomainResource".to_owned()
    }
}

fn parse_modifier(sp: &SearchParamDef, m: &str) -> Option<Modifier> {
    let defs = r4();
    let allowed = |name: &str| sp.kind.modifiers().contains(&name);
    Some(match m {
        "missing" => Modifier::Missing,
        "exact" if allowed("exact") => Modifier::Exact,
        "contains" if allowed("contains") => Modifier::Contains,
        "text" if allowed("text") => Modifier::Text,
        "not" if allowed("not") => Modifier::Not,
        "above" if sp.kind == SearchParamType::Uri || sp.kind == SearchParamType::Reference => {
            Modifier::Above
        }
        "below" if sp.kind == SearchParamType::Uri || sp.kind == SearchParamType::Reference => {
            Modifier::Below
        }
        "identifier" if allowed("identifier") => Modifier::Identifier,
        t if sp.kind == SearchParamType::Reference
            && defs.is_resource_type(t)
            && (sp.targets.is_empty() || sp.targets.iter().any(|x| x == t || x == "Resource")) =>
        {
            Modifier::Type(t.to_owned())
        }
        _ => return None,
    })
}

/// Parses `key=value` on `types`. `Ok(None)` means "ignored with an issue".
fn parse_criterion(
    ctx: &mut Ctx,
    types: &[String],
    key: &str,
    value: &str,
    depth: usize,
) -> Option<Criterion> {
    let defs = r4();
    if depth > 8 {
        ctx.error(invalid("The chained parameter is not supported."));
        return None;
    }
    if let Some(rest) = key.strip_prefix("_has:") {
        let mut it = rest.splitn(3, ':');
        let (Some(src), Some(refp), Some(next)) = (it.next(), it.next(), it.next()) else {
            ctx.error(invalid(if rest.contains(':') {
                "The reverse chain search is missing the reference to search."
            } else {
                "The reverse chain search is missing the type to search."
            }));
            return None;
        };
        if !defs.is_resource_type(src) {
            ctx.error(invalid(format!("Resource type '{src}' is not supported.")));
            return None;
        }
        let Some(rsp) = defs.search_param(src, refp) else {
            ctx.unsupported(format!(
                "The search parameter '{refp}' is not supported for resource type '{src}'."
            ));
            return None;
        };
        if rsp.kind != SearchParamType::Reference {
            ctx.error(invalid(
                "The chained parameter must be a reference search parameter type.",
            ));
            return None;
        }
        if !rsp.targets.is_empty()
            && !types
                .iter()
                .all(|t| rsp.targets.iter().any(|x| x == t || x == "Resource"))
        {
            ctx.error(invalid(format!(
                "The search parameter '{refp}' of '{src}' does not refer to {}.",
                type_label(types)
            )));
            return None;
        }
        let next = parse_criterion(ctx, &[src.to_owned()], next, value, depth + 1)?;
        return Some(Criterion::Has {
            source_type: src.to_owned(),
            reference: ParamRef::of(rsp),
            next: Box::new(next),
        });
    }
    let (head, chain) = match key.split_once('.') {
        Some((h, c)) => (h, Some(c)),
        None => (key, None),
    };
    let (code, modifier) = match head.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (head, None),
    };
    let Some(sp) = lookup(types, code) else {
        ctx.unsupported(format!(
            "The search parameter '{code}' is not supported for resource type '{}'.",
            type_label(types)
        ));
        return None;
    };
    if sp.kind == SearchParamType::Special || sp.expr.is_none() {
        ctx.unsupported(format!(
            "The search parameter '{code}' is not supported for resource type '{}'.",
            type_label(types)
        ));
        return None;
    }
    if let Some(chain) = chain {
        if sp.kind != SearchParamType::Reference {
            ctx.error(invalid(
                "The chained parameter must be a reference search parameter type.",
            ));
            return None;
        }
        let next_code = chain.split(['.', ':']).next().unwrap_or(chain);
        let candidates: Vec<String> = match modifier {
            Some(t) => {
                if !defs.is_resource_type(t)
                    || !(sp.targets.is_empty()
                        || sp.targets.iter().any(|x| x == t || x == "Resource"))
                {
                    ctx.error(invalid(format!(
                        "Modifier '{t}' is not supported for search parameter '{code}'."
                    )));
                    return None;
                }
                vec![t.to_owned()]
            }
            None => {
                let targets: Vec<String> =
                    if sp.targets.is_empty() || sp.targets.iter().any(|x| x == "Resource") {
                        defs.resource_types()
                            .iter()
                            .map(|s| s.to_string())
                            .collect()
                    } else {
                        sp.targets.clone()
                    };
                targets
                    .into_iter()
                    .filter(|t| {
                        next_code.starts_with("_has") || defs.search_param(t, next_code).is_some()
                    })
                    .collect()
            }
        };
        if candidates.is_empty() {
            ctx.unsupported(format!(
                "The search parameter '{next_code}' is not supported for resource type '{}'.",
                sp.targets.join(", ")
            ));
            return None;
        }
        // With several candidate types, the next step must parse on each; use
        // the first for the typed values (they share the parameter definition
        // or at least its type).
        let next_types: Vec<String> = candidates
            .iter()
            .filter(|t| defs.search_param(t, next_code).is_some() || next_code.starts_with("_has"))
            .take(1)
            .cloned()
            .collect();
        let next = parse_criterion(ctx, &next_types, chain, value, depth + 1)?;
        return Some(Criterion::Chain {
            param: ParamRef::of(sp),
            target_types: candidates,
            next: Box::new(next),
        });
    }
    let modifier = match modifier {
        None => None,
        Some(m) => match parse_modifier(sp, m) {
            Some(m) => Some(m),
            None => {
                ctx.error(Issue::new(
                    Severity::Error,
                    IssueCode::NotSupported,
                    format!("Modifier '{m}' is not supported for search parameter '{code}'."),
                ));
                return None;
            }
        },
    };
    let implicit = implicit_system(sp, types);
    let mut values = Vec::new();
    for raw in split_escaped(value, ',') {
        match parse_value(sp.kind, sp, modifier.as_ref(), &raw) {
            // A `code` element's values carry their system implicitly and
            // are indexed without it: `system|code` with that system asks
            // for the code.
            Ok(SearchValue::Token {
                system: TokenSystem::Is(system),
                code: Some(code),
            }) if implicit == Some(system.as_str()) => values.push(SearchValue::Token {
                system: TokenSystem::Any,
                code: Some(code),
            }),
            Ok(v) => values.push(v),
            Err(issue) => {
                ctx.error(issue);
                return None;
            }
        }
    }
    Some(Criterion::Param {
        param: ParamRef::of(sp),
        modifier,
        values,
    })
}

/// The implicit code system of a token parameter on every one of `types`
/// (the same for all), if it has one.
fn implicit_system<'a>(sp: &'a SearchParamDef, types: &[String]) -> Option<&'a str> {
    let mut systems = types.iter().map(|t| sp.implicit_system.get(t));
    let first = systems.next()??;
    systems.all(|s| s == Some(first)).then_some(first.as_str())
}

fn parse_include(ctx: &mut Ctx, value: &str, iterate: bool, rev: bool) -> Option<Include> {
    let defs = r4();
    let name = if rev { "_revinclude" } else { "_include" };
    if value == "*" {
        return Some(Include {
            source_type: "*".into(),
            param: None,
            target_type: None,
            iterate,
        });
    }
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        ctx.error(invalid(format!(
            "The {name} search is missing the type to search."
        )));
        return None;
    }
    let source = parts[0];
    if !defs.is_resource_type(source) {
        ctx.error(invalid(format!(
            "Resource type '{source}' is not supported."
        )));
        return None;
    }
    if parts[1] == "*" {
        return Some(Include {
            source_type: source.into(),
            param: None,
            target_type: parts.get(2).map(|s| s.to_string()),
            iterate,
        });
    }
    let Some(sp) = defs.search_param(source, parts[1]) else {
        ctx.unsupported(format!(
            "The search parameter '{}' is not supported for resource type '{source}'.",
            parts[1]
        ));
        return None;
    };
    if sp.kind != SearchParamType::Reference {
        ctx.error(invalid(format!(
            "The {name} parameter '{value}' is not a reference search parameter."
        )));
        return None;
    }
    let target = parts.get(2).map(|s| s.to_string());
    if let Some(t) = &target {
        if !defs.is_resource_type(t)
            || !(sp.targets.is_empty() || sp.targets.iter().any(|x| x == t || x == "Resource"))
        {
            ctx.error(invalid(format!(
                "Resource type '{t}' is not a target of '{source}:{}'.",
                parts[1]
            )));
            return None;
        }
    } else if rev && iterate && sp.targets.len() > 1 {
        ctx.error(invalid(format!(
            "The '_revinclude:iterate={value}' search parameter has multiple target types. Please specify a target type."
        )));
        return None;
    }
    Some(Include {
        source_type: source.into(),
        param: Some(ParamRef::of(sp)),
        target_type: target,
        iterate,
    })
}

/// Parses a search. `params` are the decoded query (or form) parameters in
/// order; `strict` is `Prefer: handling=strict`. Returns the query (with its
/// warnings in [`SearchQuery::issues`]) or, if any error occurred, every issue.
pub fn parse_search(
    resource_type: Option<&str>,
    params: &[(String, String)],
    strict: bool,
) -> Result<SearchQuery, Vec<Issue>> {
    let defs = r4();
    let mut ctx = Ctx {
        strict,
        issues: Vec::new(),
    };
    if let Some(rt) = resource_type
        && !defs.is_resource_type(rt)
    {
        return Err(vec![Issue::new(
            Severity::Error,
            IssueCode::NotSupported,
            format!("Resource type '{rt}' is not supported."),
        )]);
    }
    let mut q = SearchQuery {
        resource_type: resource_type.map(str::to_owned),
        criteria: Vec::new(),
        types: Vec::new(),
        includes: Vec::new(),
        revincludes: Vec::new(),
        sort: Vec::new(),
        count: DEFAULT_COUNT,
        total: Total::None,
        summary: None,
        elements: Vec::new(),
        continuation_token: None,
        issues: Vec::new(),
    };
    // `_type` decides which parameters a system search may use: read it first.
    for (k, v) in params.iter().filter(|(k, _)| k == "_type") {
        if v.trim().is_empty() {
            ctx.error(invalid(format!(
                "The '_type' parameter contains unknown resource(s): {v}"
            )));
            continue;
        }
        let (good, bad): (Vec<&str>, Vec<&str>) =
            v.split(',').partition(|t| defs.is_resource_type(t));
        if !bad.is_empty() {
            let list = bad
                .iter()
                .map(|b| format!("'{b}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            ctx.unsupported(format!(
                "The '{k}' parameter contains unknown resource(s): {list}"
            ));
        }
        q.types.extend(good.into_iter().map(str::to_owned));
    }
    let types: Vec<String> = match (resource_type, q.types.is_empty()) {
        (Some(rt), _) => vec![rt.to_owned()],
        (None, false) => q.types.clone(),
        (None, true) => vec!["DomainResource".to_owned()],
    };
    // `_type` naming no known type restricts the search to nothing (in
    // lenient handling; strict handling refused it above).
    if q.types.is_empty()
        && params.iter().any(|(k, _)| k == "_type")
        && let Some(nothing) = parse_criterion(&mut ctx, &types, "_id:missing", "true", 0)
    {
        q.criteria.push(nothing);
    }
    let mut sort_seen = false;
    for (key, value) in params {
        let key = key.as_str();
        match key {
            "_type" | "_format" | "_pretty" => {}
            "ct" => {
                if q.continuation_token.is_some() {
                    ctx.error(invalid("Query parameter 'ct' cannot be specified more than once."));
                }
                q.continuation_token = Some(value.clone());
            }
            "_count" => match value.trim().parse::<i64>() {
                Ok(0) => {
                    q.summary = Some(Summary::Count);
                    q.count = 0;
                }
                Ok(n) if n < 0 => ctx.error(invalid("The count must be greater than zero.")),
                Ok(n) if n > MAX_COUNT as i64 => {
                    q.count = MAX_COUNT;
                    q.issues.push(Issue::new(
                        Severity::Information,
                        IssueCode::Informational,
                        format!("The '_count' parameter exceeds limit configured for server. Current limit is {MAX_COUNT} while `_count` parameter set to {n}."),
                    ));
                }
                Ok(n) => q.count = n as u32,
                Err(_) => ctx.error(malformed(value)),
            },
            "_total" => match value.to_ascii_lowercase().as_str() {
                "none" => q.total = Total::None,
                "accurate" => q.total = Total::Accurate,
                "estimate" => ctx.error(invalid(format!(
                    "The '_total' parameter value '{value}' is not supported. The supported values are: none, accurate."
                ))),
                _ => ctx.error(invalid(format!(
                    "The '_total' parameter value '{value}' is invalid. The supported values are: none, accurate."
                ))),
            },
            "_summary" => {
                q.summary = Some(match value.to_ascii_lowercase().as_str() {
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    _ => {
                        ctx.error(malformed(value));
                        continue;
                    }
                })
            }
            "_elements" => q
                .elements
                .extend(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| {
                    // `Patient.name` is accepted as `name`.
                    s.split_once('.')
                        .filter(|(t, _)| defs.is_resource_type(t))
                        .map(|(_, e)| e)
                        .unwrap_or(s)
                        .to_owned()
                })),
            "_sort" => {
                if sort_seen {
                    q.sort.clear();
                }
                sort_seen = true;
                for field in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (descending, code) = match field.strip_prefix('-') {
                        Some(c) => (true, c),
                        None => (false, field),
                    };
                    match lookup(&types, code) {
                        Some(sp) if sp.kind != SearchParamType::Composite && sp.kind != SearchParamType::Special => {
                            q.sort.push(SortKey {
                                param: ParamRef::of(sp),
                                descending,
                            })
                        }
                        _ => ctx.unsupported(format!("Sorting by the '{code}' parameter is not supported.")),
                    }
                }
            }
            k if k == "_include"
                || k.starts_with("_include:")
                || k == "_revinclude"
                || k.starts_with("_revinclude:") =>
            {
                let (name, m) = k.split_once(':').unwrap_or((k, ""));
                let iterate = match m {
                    "" => false,
                    "iterate" | "recurse" => true,
                    other => {
                        ctx.error(Issue::new(
                            Severity::Error,
                            IssueCode::NotSupported,
                            format!("Modifier '{other}' is not supported for search parameter '{name}'."),
                        ));
                        continue;
                    }
                };
                let rev = name == "_revinclude";
                for v in value.split(',').filter(|s| !s.is_empty()) {
                    if let Some(inc) = parse_include(&mut ctx, v, iterate, rev) {
                        if rev {
                            q.revincludes.push(inc)
                        } else {
                            q.includes.push(inc)
                        }
                    }
                }
            }
            "_text" | "_content" | "_query" | "_filter" | "_list" | "_contained" | "_containedType" | "_score" => {
                ctx.unsupported(format!(
                    "The search parameter '{key}' is not supported for resource type '{}'.",
                    type_label(&types)
                ));
            }
            _ if key.is_empty() || value.is_empty() => {
                ctx.unsupported(format!(
                    "The search parameter '{key}' is not supported for resource type '{}'.",
                    type_label(&types)
                ));
            }
            _ => {
                if let Some(c) = parse_criterion(&mut ctx, &types, key, value, 0) {
                    q.criteria.push(c);
                }
            }
        }
    }
    if !q.elements.is_empty() && !matches!(q.summary, None | Some(Summary::False)) {
        ctx.error(invalid(
            "The '_elements' parameter is supported only when '_summary' is SummaryType.False or '_summary' is not specified at all.",
        ));
    }
    if ctx.issues.iter().any(Issue::is_error) {
        let mut all = ctx.issues;
        all.extend(q.issues);
        return Err(all);
    }
    let mut issues = ctx.issues;
    issues.append(&mut q.issues);
    q.issues = issues;
    Ok(q)
}
