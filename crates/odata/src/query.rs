//! The query string as a whole: [`parse_query`] and [`Query`].

use crate::Limits;
use crate::ast::Filter;
use crate::error::ODataError;
use crate::lexer::{is_ident_char, is_ident_start};

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// Property path, split on `/` (e.g. `["displayName"]`).
    pub path: Vec<String>,
    /// `desc` was given (the default is ascending).
    pub descending: bool,
}

impl OrderBy {
    /// The path joined with `/`, e.g. `"displayName"`.
    pub fn property(&self) -> String {
        self.path.join("/")
    }
}

/// The parsed query options of a collection request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `$filter`, parsed.
    pub filter: Option<Filter>,
    /// `$select` names, trimmed and de-duplicated (case-insensitively), in
    /// request order. `None` when absent, empty, or `*`.
    pub select: Option<Vec<String>>,
    /// Page size: `$top`, or [`Limits::default_top`] when absent.
    pub top: u32,
    /// Whether `$top` was given explicitly.
    pub top_specified: bool,
    /// `$count=true` was given. Graph honours it on directory objects only
    /// with `ConsistencyLevel: eventual`; see [`Query::include_count`].
    pub count: bool,
    /// `$orderby` keys, in order.
    pub orderby: Vec<OrderBy>,
    /// `$skiptoken`, verbatim (opaque to this crate).
    pub skiptoken: Option<String>,
    /// `$search`, verbatim (Graph's syntax is `"property:text"`, quotes included).
    pub search: Option<String>,
    /// `$expand`, verbatim; this crate does not interpret it.
    pub expand: Option<String>,
}

impl Query {
    /// Whether the response should carry `@odata.count`.
    ///
    /// Graph silently ignores `$count=true` on directory objects unless the
    /// request has `ConsistencyLevel: eventual`.
    pub fn include_count(&self, consistency_level_eventual: bool) -> bool {
        self.count && consistency_level_eventual
    }

    /// Applies Graph's *advanced query* rules for directory objects.
    ///
    /// `consistency_level_eventual` is whether the request carried the
    /// `ConsistencyLevel: eventual` header. A query is advanced when it has
    /// that header **and** `$count=true`. Rejected, in this order:
    ///
    /// 1. `$search` without the header (the header alone suffices for `$search`);
    /// 2. a filter using `ne`, `not`, `endsWith` or `/$count` outside an
    ///    advanced query (error for the first such operator);
    /// 3. `$filter` together with `$orderby` outside an advanced query.
    ///
    /// Per-property rules (which properties support which operator, or
    /// sorting) are the caller's, using [`Filter::properties`] and
    /// [`ODataError::unsupported_filter_property`] /
    /// [`ODataError::unsupported_sort_property`].
    pub fn validate_advanced(&self, consistency_level_eventual: bool) -> Result<(), ODataError> {
        if self.search.is_some() && !consistency_level_eventual {
            return Err(ODataError::search_requires_consistency_level());
        }
        let advanced = consistency_level_eventual && self.count;
        if advanced {
            return Ok(());
        }
        if let Some(filter) = &self.filter {
            if let Some(op) = filter.advanced_features().first() {
                return Err(ODataError::advanced_query_required(op));
            }
            if !self.orderby.is_empty() {
                return Err(ODataError::sorting_not_supported());
            }
        }
        Ok(())
    }
}

/// Canonical names of the system query options this crate recognises.
const OPTIONS: &[&str] = &[
    "filter",
    "select",
    "top",
    "count",
    "orderby",
    "skiptoken",
    "search",
    "expand",
    "skip",
    "format",
];

/// Parses the query options of a Graph collection request.
///
/// `pairs` are the URL-decoded `(name, value)` pairs of the query string
/// (decode `+` to space and percent-escapes before calling).
///
/// * Option names are case-insensitive, and the `$` prefix is optional
///   (`$filter`, `$Filter` and `filter` are the same option).
/// * An option given twice (in any spelling) is rejected.
/// * An unknown `$`-prefixed option is rejected; unknown names without `$`
///   are custom query options and are ignored, as OData prescribes.
/// * `$skip` is rejected as Graph's directory does; `$format` accepts only
///   `json`; `$expand` is kept verbatim in [`Query::expand`].
///
/// Errors are reported for the first offending pair, in input order.
pub fn parse_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    limits: &Limits,
) -> Result<Query, ODataError> {
    let mut q = Query {
        filter: None,
        select: None,
        top: limits.default_top,
        top_specified: false,
        count: false,
        orderby: Vec::new(),
        skiptoken: None,
        search: None,
        expand: None,
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, value) in pairs {
        let (dollar, bare) = match name.strip_prefix('$') {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let Some(canonical) = OPTIONS.iter().find(|o| o.eq_ignore_ascii_case(bare)) else {
            if dollar {
                return Err(ODataError::unknown_option(name));
            }
            continue; // custom query option
        };
        if seen.contains(canonical) {
            return Err(ODataError::duplicate_option(&format!("${canonical}")));
        }
        seen.push(canonical);
        match *canonical {
            "filter" => q.filter = Some(Filter::parse(value, limits)?),
            "select" => q.select = parse_select(value)?,
            "top" => {
                q.top = parse_top(value, limits.max_top)?;
                q.top_specified = true;
            }
            "count" => q.count = parse_count(value)?,
            "orderby" => q.orderby = parse_orderby(value)?,
            "skiptoken" => q.skiptoken = Some(value.to_string()),
            "search" => q.search = Some(value.to_string()),
            "expand" => q.expand = (!value.is_empty()).then(|| value.to_string()),
            "skip" => return Err(ODataError::skip_not_supported()),
            "format" => {
                if !value.eq_ignore_ascii_case("json") {
                    return Err(ODataError::unsupported_format(value));
                }
            }
            _ => unreachable!("every entry of OPTIONS is handled"),
        }
    }
    Ok(q)
}

fn parse_top(value: &str, max_top: u32) -> Result<u32, ODataError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ODataError::invalid_top_value(value));
    }
    let n: u64 = value
        .parse()
        .map_err(|_| ODataError::invalid_top_value(value))?;
    if n == 0 || n > u64::from(max_top) {
        return Err(ODataError::invalid_page_size(value, max_top));
    }
    Ok(n as u32)
}

fn parse_count(value: &str) -> Result<bool, ODataError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ODataError::invalid_count_value(value))
    }
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Index of the first character at or after `i` that is not whitespace.
fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| is_ws(*c)) {
        i += 1;
    }
    i
}

/// Reads an identifier at `i`; returns its end.
fn ident_end(chars: &[char], i: usize) -> Option<usize> {
    if !chars
        .get(i)
        .is_some_and(|c| is_ident_start(*c) && *c != '$')
    {
        return None;
    }
    let mut j = i + 1;
    while chars.get(j).is_some_and(|c| is_ident_char(*c)) {
        j += 1;
    }
    Some(j)
}

/// `$select`: comma-separated property names, whitespace allowed around them.
fn parse_select(value: &str) -> Result<Option<Vec<String>>, ODataError> {
    let chars: Vec<char> = value.chars().collect();
    if chars.iter().all(|c| is_ws(*c)) {
        return Ok(None);
    }
    let mut out: Vec<String> = Vec::new();
    let mut star = false;
    let mut i = 0;
    loop {
        i = skip_ws(&chars, i);
        if chars.get(i) == Some(&'*') {
            star = true;
            i += 1;
        } else {
            let end = ident_end(&chars, i).ok_or_else(|| ODataError::select_syntax(value, i))?;
            let name: String = chars[i..end].iter().collect();
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
                out.push(name);
            }
            i = end;
        }
        i = skip_ws(&chars, i);
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(_) => return Err(ODataError::select_syntax(value, i)),
        }
    }
    Ok(if star { None } else { Some(out) })
}

/// `$orderby`: comma-separated `path [asc|desc]`.
fn parse_orderby(value: &str) -> Result<Vec<OrderBy>, ODataError> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        i = skip_ws(&chars, i);
        let mut path = Vec::new();
        loop {
            let end = ident_end(&chars, i).ok_or_else(|| ODataError::orderby_syntax(value, i))?;
            path.push(chars[i..end].iter().collect::<String>());
            i = end;
            if chars.get(i) == Some(&'/') {
                i += 1;
            } else {
                break;
            }
        }
        let before_ws = i;
        i = skip_ws(&chars, i);
        let mut descending = false;
        if i > before_ws
            && let Some(end) = ident_end(&chars, i)
        {
            let word: String = chars[i..end].iter().collect();
            if word.eq_ignore_ascii_case("desc") {
                descending = true;
            } else if !word.eq_ignore_ascii_case("asc") {
                return Err(ODataError::orderby_syntax(value, i));
            }
            i = skip_ws(&chars, end);
        }
        out.push(OrderBy { path, descending });
        match chars.get(i) {
            None => break,
            Some(',') => i += 1,
            Some(_) => return Err(ODataError::orderby_syntax(value, i)),
        }
    }
    Ok(out)
}
