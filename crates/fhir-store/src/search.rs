//! Search, compiled to SQL over the index tables (see [`crate::index`]).
//!
//! A search is one query on `fhir_resources r` (current, not deleted rows of
//! the partition) whose criteria are `r.rid IN (SELECT rid FROM fhir_ix_… WHERE
//! svc = … AND p IN (…) AND <value test>)` sets: no id list is ever expanded
//! in the SQL, so chains and `_has` with any number of intermediate resources
//! stay one statement. Chains join `fhir_ix_ref` to the target's current row;
//! `_has` selects the targets of matching referrers.
//!
//! Paging is keyset paging on (sort values, rid): the continuation token
//! carries the last row's sort values and rid, so pages stay stable while
//! resources are written (a new version gets a new, larger rid). Sort values
//! are the smallest (ascending) or largest (descending) value a resource has
//! for the parameter; resources without one sort last.
//!
//! `_include` and `_revinclude` (with `:iterate`) are resolved by one resolver
//! for both backends: includes read the references of the page's resources
//! from their bodies (the parameter's FHIRPath), revincludes look the page's
//! resources up in `fhir_ix_ref`.

use std::collections::{HashMap, HashSet};

use hale_fhir_model::index::ReferenceValue;
use hale_fhir_model::search::{
    Criterion, Include, Modifier, ParamRef, Prefix, SearchValue, Summary, TokenSystem, Total,
};
use hale_fhir_model::{IndexValue, Issue, IssueCode, SearchParamType, SearchQuery, Severity, r4};
use hale_store::{Dialect, StoreError, Tx, Value};

use crate::StoredResource;
use crate::index::{identifier_key, param_key, system_key, text_key, union_of};
use crate::resources::{COLUMNS, from_row};

/// Most resources `_include`/`_revinclude` add to one page.
pub const MAX_INCLUDED: usize = 1000;
/// Rounds of `:iterate`.
const MAX_ITERATIONS: usize = 4;
/// Longest continuation token accepted.
const MAX_TOKEN_LEN: usize = 4096;

/// Where a search looks.
#[derive(Debug, Clone, Default)]
pub struct SearchScope {
    /// The resource types searched: one for `[type]?…`, empty for a system
    /// search (`[base]?…`, narrowed by `_type`).
    pub resource_types: Vec<String>,
    /// A compartment search `Patient/{id}/{type}`: (compartment type, id).
    pub compartment: Option<(String, String)>,
    /// The compartment a SMART caller is confined to (its `fhirUser`'s):
    /// matches and included resources must be members of it as well.
    pub within: Option<(String, String)>,
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The matches on this page, in order (`search.mode = match`).
    pub matches: Vec<StoredResource>,
    /// `_include`/`_revinclude` results (`search.mode = include`).
    pub included: Vec<StoredResource>,
    /// `Bundle.total` when `_total=accurate` or `_summary=count` asked for it.
    pub total: Option<u64>,
    /// The continuation token of the next page (the `ct` parameter), if any.
    pub next: Option<String>,
    /// Warnings for the `search.mode = outcome` entry (e.g. includes cut at
    /// [`MAX_INCLUDED`]), in addition to the query's own issues.
    pub issues: Vec<Issue>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query cannot be run (a bad continuation token, an unsupported
    /// combination): answered 400 with these issues.
    #[error("invalid search")]
    Invalid(Vec<Issue>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(msg: impl Into<String>) -> SearchError {
    SearchError::Invalid(vec![Issue::new(
        Severity::Error,
        IssueCode::Invalid,
        msg.into(),
    )])
}

/// A statement being built: text and its parameters, numbered in the order
/// they appear (SQLite numbers `?` by position).
struct Sql {
    text: String,
    params: Vec<Value>,
    dialect: Dialect,
    aliases: usize,
}

impl Sql {
    fn new(dialect: Dialect) -> Self {
        Sql {
            text: String::new(),
            params: Vec::new(),
            dialect,
            aliases: 0,
        }
    }
    fn s(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }
    /// Appends a parameter placeholder.
    fn v(&mut self, value: impl Into<Value>) -> &mut Self {
        self.params.push(value.into());
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }
    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }
    /// `col IN ($…)` (or `1 = 0` for an empty list).
    fn in_list<T: Into<Value> + Clone>(&mut self, col: &str, values: &[T]) -> &mut Self {
        match values {
            [] => self.s("1 = 0"),
            [one] => self.s(col).s(" = ").v(one.clone()),
            many => {
                self.s(col).s(" IN (");
                for (i, v) in many.iter().enumerate() {
                    if i > 0 {
                        self.s(", ");
                    }
                    self.v(v.clone());
                }
                self.s(")")
            }
        }
    }
}

/// The types a criterion's parameter `code` is looked up on: `types`, or every
/// resource type when empty; keeps those that define it.
fn keys_of(types: &[String], code: &str, key: fn(&str, &str) -> i64) -> Vec<i64> {
    let defs = r4();
    let all: Vec<String>;
    let types = if types.is_empty() {
        all = defs
            .resource_types()
            .iter()
            .map(|s| s.to_string())
            .collect();
        &all
    } else {
        types
    };
    let mut keys = Vec::new();
    for t in types
        .iter()
        .filter(|t| defs.search_param(t, code).is_some())
    {
        match union_of(t, code) {
            Some(parts) => keys.extend(parts.iter().map(|c| key(t, c))),
            None => keys.push(key(t, code)),
        }
    }
    keys
}

/// The smallest string greater than every string starting with `prefix`
/// (bytewise), if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// Conditions on a date range [lo, hi) for a prefix and search range [ps, pe).
fn date_test(q: &mut Sql, lo: &str, hi: &str, prefix: Prefix, ps: i64, pe: i64) {
    match prefix {
        Prefix::Eq => q.s(lo).s(" >= ").v(ps).s(" AND ").s(hi).s(" <= ").v(pe),
        Prefix::Ne => q
            .s("NOT (")
            .s(lo)
            .s(" >= ")
            .v(ps)
            .s(" AND ")
            .s(hi)
            .s(" <= ")
            .v(pe)
            .s(")"),
        Prefix::Gt => q.s(hi).s(" > ").v(pe),
        Prefix::Lt => q.s(lo).s(" < ").v(ps),
        Prefix::Ge => q.s(hi).s(" > ").v(ps),
        Prefix::Le => q.s(lo).s(" < ").v(pe),
        Prefix::Sa => q.s(lo).s(" >= ").v(pe),
        Prefix::Eb => q.s(hi).s(" <= ").v(ps),
        Prefix::Ap => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            let gap = ((now as i128 - ps as i128).abs() / 10) as i64;
            q.s(lo)
                .s(" < ")
                .v(pe.saturating_add(gap))
                .s(" AND ")
                .s(hi)
                .s(" > ")
                .v(ps.saturating_sub(gap))
        }
    };
}

/// Conditions on a number range [lo, hi] (lo = hi for a single value).
fn number_test(
    q: &mut Sql,
    lo: &str,
    hi: &str,
    prefix: Prefix,
    r: &hale_fhir_model::primitives::NumberRange,
) {
    let v = r.value;
    match prefix {
        Prefix::Eq => q
            .s(lo)
            .s(" >= ")
            .v(r.low)
            .s(" AND ")
            .s(hi)
            .s(" < ")
            .v(r.high),
        Prefix::Ne => q
            .s("NOT (")
            .s(lo)
            .s(" >= ")
            .v(r.low)
            .s(" AND ")
            .s(hi)
            .s(" < ")
            .v(r.high)
            .s(")"),
        Prefix::Gt => q.s(hi).s(" > ").v(v),
        Prefix::Lt => q.s(lo).s(" < ").v(v),
        Prefix::Ge => q.s(hi).s(" >= ").v(v),
        Prefix::Le => q.s(lo).s(" <= ").v(v),
        Prefix::Sa => q.s(lo).s(" > ").v(v),
        Prefix::Eb => q.s(hi).s(" < ").v(v),
        Prefix::Ap => {
            let d = (v.abs() * 0.1).max(r.high - r.value);
            q.s(lo)
                .s(" <= ")
                .v(v + d)
                .s(" AND ")
                .s(hi)
                .s(" >= ")
                .v(v - d)
        }
    };
}

fn token_test(
    q: &mut Sql,
    code_col: &str,
    sys_col: &str,
    system: &TokenSystem,
    code: &Option<String>,
) {
    match (system, code) {
        (TokenSystem::Any, Some(c)) => q.s(code_col).s(" = ").v(c),
        (TokenSystem::None, Some(c)) => q.s(code_col).s(" = ").v(c).s(" AND ").s(sys_col).s(" = 0"),
        (TokenSystem::Is(s), Some(c)) => q
            .s(code_col)
            .s(" = ")
            .v(c)
            .s(" AND ")
            .s(sys_col)
            .s(" = ")
            .v(system_key(s)),
        (TokenSystem::Is(s), None) => q.s(sys_col).s(" = ").v(system_key(s)),
        (_, None) => q.s("1 = 0"),
    };
}

/// Prefix match on a text column (bytewise on both backends).
fn text_prefix(q: &mut Sql, col: &str, prefix: &str) {
    if prefix.is_empty() {
        q.s("1 = 1");
        return;
    }
    q.s("substr(")
        .s(col)
        .s(&format!(", 1, {}) = ", prefix.chars().count()))
        .v(prefix);
}

/// A local target `(type, id)` of a reference search value, or its URL.
enum RefTarget {
    Local { rtype: Option<String>, id: String },
    Url(String),
}

fn ref_target(value: &SearchValue, own_base: &str) -> Option<RefTarget> {
    let SearchValue::Reference {
        resource_type,
        id,
        url,
        ..
    } = value
    else {
        return None;
    };
    if let Some(u) = url {
        let own = format!("{}/", own_base.trim_end_matches('/'));
        if let (Some(_), Some(i), true) = (resource_type, id, u.starts_with(&own)) {
            return Some(RefTarget::Local {
                rtype: resource_type.clone(),
                id: i.clone(),
            });
        }
        return Some(RefTarget::Url(u.clone()));
    }
    id.as_ref().map(|i| RefTarget::Local {
        rtype: resource_type.clone(),
        id: i.clone(),
    })
}

/// Compiles criteria to conditions on the `fhir_resources` row `a`.
struct Compiler<'a> {
    svc: i64,
    own_base: &'a str,
}

impl Compiler<'_> {
    fn table_of(kind: SearchParamType) -> Option<&'static str> {
        Some(match kind {
            SearchParamType::String => "fhir_ix_str",
            SearchParamType::Token => "fhir_ix_tok",
            SearchParamType::Reference => "fhir_ix_ref",
            SearchParamType::Date => "fhir_ix_date",
            SearchParamType::Number | SearchParamType::Quantity => "fhir_ix_num",
            SearchParamType::Uri => "fhir_ix_uri",
            SearchParamType::Composite => "fhir_ix_comp",
            SearchParamType::Special => return None,
        })
    }

    /// `{a}.rid [NOT] IN (SELECT x.rid FROM {table} x WHERE x.svc = … AND x.p IN (…) AND (`
    /// — the caller closes with `))`.
    fn open_set(&self, q: &mut Sql, a: &str, negate: bool, table: &str, keys: &[i64]) -> String {
        let x = q.alias("x");
        q.s(&format!(
            "{a}.rid {}IN (SELECT {x}.rid FROM {table} {x} WHERE {x}.svc = ",
            if negate { "NOT " } else { "" }
        ))
        .v(self.svc)
        .s(" AND ")
        .in_list(&format!("{x}.p"), keys)
        .s(" AND (");
        x
    }

    fn criterion(
        &self,
        q: &mut Sql,
        a: &str,
        types: &[String],
        c: &Criterion,
    ) -> Result<(), SearchError> {
        match c {
            Criterion::Param {
                param,
                modifier,
                values,
            } => self.param(q, a, types, param, modifier.as_ref(), values),
            Criterion::Chain {
                param,
                target_types,
                next,
            } => {
                let keys = keys_of(types, &param.code, param_key);
                let x = q.alias("x");
                let t = q.alias("t");
                q.s(&format!(
                    "{a}.rid IN (SELECT {x}.rid FROM fhir_ix_ref {x} JOIN fhir_resources {t} ON {t}.svc = {x}.svc AND {t}.resource_type = {x}.ttype AND {t}.id = {x}.tid AND {t}.is_current = 1 WHERE {x}.svc = "
                ))
                .v(self.svc)
                .s(" AND ")
                .in_list(&format!("{x}.p"), &keys)
                .s(&format!(" AND {t}.deleted = 0 AND "))
                .in_list(&format!("{t}.resource_type"), target_types)
                .s(" AND ");
                self.criterion(q, &t, target_types, next)?;
                q.s(")");
                Ok(())
            }
            Criterion::Has {
                source_type,
                reference,
                next,
            } => {
                let key = param_key(source_type, &reference.code);
                let x = q.alias("x");
                let t = q.alias("t");
                let s = q.alias("s");
                q.s(&format!(
                    "{a}.rid IN (SELECT {t}.rid FROM fhir_ix_ref {x} JOIN fhir_resources {t} ON {t}.svc = {x}.svc AND {t}.resource_type = {x}.ttype AND {t}.id = {x}.tid AND {t}.is_current = 1 WHERE {x}.svc = "
                ))
                .v(self.svc)
                .s(&format!(" AND {x}.p = "))
                .v(key)
                .s(&format!(
                    " AND {x}.rid IN (SELECT {s}.rid FROM fhir_resources {s} WHERE {s}.svc = "
                ))
                .v(self.svc)
                .s(&format!(
                    " AND {s}.is_current = 1 AND {s}.deleted = 0 AND {s}.resource_type = "
                ))
                .v(source_type)
                .s(" AND ");
                self.criterion(q, &s, std::slice::from_ref(source_type), next)?;
                q.s("))");
                Ok(())
            }
        }
    }

    fn param(
        &self,
        q: &mut Sql,
        a: &str,
        types: &[String],
        param: &ParamRef,
        modifier: Option<&Modifier>,
        values: &[SearchValue],
    ) -> Result<(), SearchError> {
        let code = param.code.as_str();
        // `_id` and `_lastUpdated` live in fhir_resources.
        if code == "_id" || code == "_lastUpdated" {
            q.s("(");
            or_balanced(q, values, &mut |q, v| match v {
                SearchValue::Missing(m) => {
                    q.s(if *m { "1 = 0" } else { "1 = 1" });
                }
                SearchValue::Token { code: Some(id), .. } if code == "_id" => {
                    if modifier == Some(&Modifier::Not) {
                        q.s(&format!("{a}.id <> ")).v(id);
                    } else {
                        q.s(&format!("{a}.id = ")).v(id);
                    }
                }
                SearchValue::Date { prefix, range, .. } => {
                    q.s("(");
                    date_test(
                        q,
                        &format!("{a}.last_updated"),
                        &format!("({a}.last_updated + 1)"),
                        *prefix,
                        range.start,
                        range.end,
                    );
                    q.s(")");
                }
                _ => {
                    q.s("1 = 0");
                }
            });
            q.s(")");
            return Ok(());
        }
        let Some(table) = Self::table_of(param.kind) else {
            return Err(invalid(format!(
                "The search parameter '{code}' is not supported."
            )));
        };
        let keys = keys_of(types, code, param_key);
        // :missing
        if modifier == Some(&Modifier::Missing) {
            q.s("(");
            or_balanced(q, values, &mut |q, v| {
                let missing = matches!(v, SearchValue::Missing(true));
                self.open_set(q, a, missing, table, &keys);
                q.s("1 = 1))");
            });
            q.s(")");
            return Ok(());
        }
        match (param.kind, modifier) {
            (SearchParamType::Token, Some(Modifier::Text)) => {
                let keys = keys_of(types, code, text_key);
                let x = self.open_set(q, a, false, "fhir_ix_str", &keys);
                self.or_values(q, values, |q, v| {
                    if let SearchValue::Text(t) = v {
                        Self::str_prefix(q, &format!("{x}.norm"), t);
                    } else {
                        q.s("1 = 0");
                    }
                });
                q.s("))");
            }
            (SearchParamType::Token, m) => {
                let x = self.open_set(q, a, m == Some(&Modifier::Not), table, &keys);
                self.or_values(q, values, |q, v| match v {
                    SearchValue::Token { system, code } => {
                        token_test(q, &format!("{x}.code"), &format!("{x}.sys"), system, code)
                    }
                    _ => {
                        q.s("1 = 0");
                    }
                });
                q.s("))");
            }
            (SearchParamType::String, m) => {
                let x = self.open_set(q, a, false, table, &keys);
                let dialect = q.dialect;
                self.or_values(q, values, |q, v| {
                    let SearchValue::String { exact, normalized } = v else {
                        q.s("1 = 0");
                        return;
                    };
                    match m {
                        Some(Modifier::Exact) => {
                            let ex: Vec<u8> = if exact == normalized {
                                Vec::new()
                            } else {
                                exact.as_bytes().to_vec()
                            };
                            q.s(&format!("{x}.norm = "))
                                .v(normalized.as_bytes())
                                .s(&format!(" AND {x}.ex = "))
                                .v(ex);
                        }
                        Some(Modifier::Contains) => {
                            match dialect {
                                Dialect::Sqlite => q
                                    .s(&format!("instr({x}.norm, "))
                                    .v(normalized.as_bytes())
                                    .s(") > 0"),
                                Dialect::Postgres => q
                                    .s("position(")
                                    .v(normalized.as_bytes())
                                    .s(&format!(" in {x}.norm) > 0")),
                            };
                        }
                        _ => Self::str_prefix(q, &format!("{x}.norm"), normalized),
                    }
                });
                q.s("))");
            }
            (SearchParamType::Reference, Some(Modifier::Identifier)) => {
                let keys = keys_of(types, code, identifier_key);
                let x = self.open_set(q, a, false, "fhir_ix_tok", &keys);
                self.or_values(q, values, |q, v| match v {
                    SearchValue::Identifier { system, value } => {
                        token_test(q, &format!("{x}.code"), &format!("{x}.sys"), system, value)
                    }
                    _ => {
                        q.s("1 = 0");
                    }
                });
                q.s("))");
            }
            (SearchParamType::Reference, m) => {
                let x = self.open_set(q, a, false, table, &keys);
                let own_base = self.own_base;
                self.or_values(q, values, |q, v| {
                    let url_of = |v: &SearchValue| match v {
                        SearchValue::Reference { url: Some(u), .. } => Some(u.clone()),
                        SearchValue::Uri(u) => Some(u.clone()),
                        _ => None,
                    };
                    match (m, url_of(v)) {
                        (Some(Modifier::Below), Some(u)) => {
                            q.s(&format!("{x}.ttype = '' AND "));
                            text_prefix(q, &format!("{x}.tid"), &u);
                            return;
                        }
                        (Some(Modifier::Above), Some(u)) => {
                            q.s(&format!("{x}.ttype = '' AND "))
                                .in_list(&format!("{x}.tid"), &uri_prefixes(&u));
                            return;
                        }
                        _ => {}
                    }
                    match ref_target(v, own_base) {
                        Some(RefTarget::Local { rtype, id }) => {
                            q.s(&format!("{x}.tid = ")).v(id);
                            match rtype {
                                Some(t) => q.s(&format!(" AND {x}.ttype = ")).v(t),
                                None => q.s(&format!(" AND {x}.ttype <> ''")),
                            };
                        }
                        Some(RefTarget::Url(u)) => {
                            q.s(&format!("{x}.tid = "))
                                .v(u)
                                .s(&format!(" AND {x}.ttype = ''"));
                        }
                        None => {
                            q.s("1 = 0");
                        }
                    }
                });
                q.s("))");
            }
            (SearchParamType::Date, _) => {
                let x = self.open_set(q, a, false, table, &keys);
                self.or_values(q, values, |q, v| match v {
                    SearchValue::Date { prefix, range, .. } => date_test(
                        q,
                        &format!("{x}.lo"),
                        &format!("{x}.hi"),
                        *prefix,
                        range.start,
                        range.end,
                    ),
                    _ => {
                        q.s("1 = 0");
                    }
                });
                q.s("))");
            }
            (SearchParamType::Number | SearchParamType::Quantity, _) => {
                let x = self.open_set(q, a, false, table, &keys);
                self.or_values(q, values, |q, v| match v {
                    SearchValue::Number { prefix, value } => {
                        number_test(q, &format!("{x}.lo"), &format!("{x}.hi"), *prefix, value)
                    }
                    SearchValue::Quantity {
                        prefix,
                        value,
                        system,
                        code,
                    } => {
                        number_test(q, &format!("{x}.lo"), &format!("{x}.hi"), *prefix, value);
                        if let Some(s) = system {
                            q.s(&format!(" AND {x}.sys = ")).v(system_key(s));
                        }
                        if let Some(c) = code {
                            q.s(&format!(" AND {x}.code = ")).v(c);
                        }
                    }
                    _ => {
                        q.s("1 = 0");
                    }
                });
                q.s("))");
            }
            (SearchParamType::Uri, m) => {
                let x = self.open_set(q, a, false, table, &keys);
                self.or_values(q, values, |q, v| {
                    let SearchValue::Uri(u) = v else {
                        q.s("1 = 0");
                        return;
                    };
                    match m {
                        Some(Modifier::Below) => text_prefix(q, &format!("{x}.uri"), u),
                        Some(Modifier::Above) => {
                            q.in_list(&format!("{x}.uri"), &uri_prefixes(u));
                        }
                        _ => {
                            q.s(&format!("{x}.uri = ")).v(u);
                        }
                    }
                });
                q.s("))");
            }
            (SearchParamType::Composite, _) => {
                let x = self.open_set(q, a, false, table, &keys);
                let own_base = self.own_base;
                self.or_values(q, values, |q, v| {
                    let SearchValue::Composite(parts) = v else {
                        q.s("1 = 0");
                        return;
                    };
                    composite_test(q, &x, parts, own_base);
                });
                q.s("))");
            }
            (SearchParamType::Special, _) => unreachable!("no table"),
        }
        Ok(())
    }

    fn or_values(
        &self,
        q: &mut Sql,
        values: &[SearchValue],
        mut each: impl FnMut(&mut Sql, &SearchValue),
    ) {
        if values.is_empty() {
            q.s("1 = 0");
        }
        or_balanced(q, values, &mut each);
    }

    /// Folded prefix match on a bytes column: a range, so the index is used.
    fn str_prefix(q: &mut Sql, col: &str, prefix: &str) {
        let bytes = prefix.as_bytes();
        q.s(col).s(" >= ").v(bytes);
        if let Some(next) = prefix_successor(bytes) {
            q.s(" AND ").s(col).s(" < ").v(next);
        }
    }
}

fn uri_prefixes(u: &str) -> Vec<String> {
    let mut out = vec![u.to_owned()];
    let mut cur = u;
    while let Some(i) = cur.rfind('/') {
        cur = &cur[..i];
        if cur.ends_with('/') || cur.is_empty() {
            break;
        }
        out.push(cur.to_owned());
    }
    out
}

fn composite_test(q: &mut Sql, x: &str, parts: &[SearchValue], own_base: &str) {
    q.s("1 = 1");
    for (i, part) in parts.iter().enumerate() {
        q.s(" AND ");
        match (i, part) {
            (0, SearchValue::Token { system, code }) => {
                token_test(q, &format!("{x}.c1"), &format!("{x}.s1"), system, code)
            }
            (0, v @ SearchValue::Reference { .. }) => match ref_target(v, own_base) {
                Some(RefTarget::Local { rtype, id }) => {
                    q.s(&format!("{x}.c1 = ")).v(id);
                    if let Some(t) = rtype {
                        q.s(&format!(" AND {x}.s1 = ")).v(system_key(&t));
                    }
                }
                _ => {
                    q.s("1 = 0");
                }
            },
            (1, SearchValue::Token { system, code }) => {
                token_test(q, &format!("{x}.b2"), &format!("{x}.a2"), system, code)
            }
            (
                1,
                SearchValue::Quantity {
                    prefix,
                    value,
                    system,
                    code,
                },
            ) => {
                number_test(q, &format!("{x}.lo2"), &format!("{x}.hi2"), *prefix, value);
                if let Some(s) = system {
                    q.s(&format!(" AND {x}.a2 = ")).v(system_key(s));
                }
                if let Some(c) = code {
                    q.s(&format!(" AND {x}.b2 = ")).v(c);
                }
            }
            (1, SearchValue::Date { prefix, range, .. }) => {
                // Stored as doubles; microsecond values are exact below 2^53.
                let lo = format!("{x}.lo2");
                let hi = format!("{x}.hi2");
                date_test_f(q, &lo, &hi, *prefix, range.start, range.end);
            }
            (1, SearchValue::String { normalized, .. }) => {
                text_prefix(q, &format!("{x}.b2"), normalized)
            }
            (1, SearchValue::Uri(u)) => {
                q.s(&format!("{x}.b2 = ")).v(u);
            }
            (1 | 2, SearchValue::Number { prefix, value }) => {
                let n = if i == 1 { "2" } else { "3" };
                number_test(
                    q,
                    &format!("{x}.lo{n}"),
                    &format!("{x}.hi{n}"),
                    *prefix,
                    value,
                )
            }
            _ => {
                q.s("1 = 0");
            }
        }
    }
}

/// [`date_test`] on double columns.
fn date_test_f(q: &mut Sql, lo: &str, hi: &str, prefix: Prefix, ps: i64, pe: i64) {
    let mut out = Sql::new(q.dialect);
    date_test(&mut out, lo, hi, prefix, ps, pe);
    let mut it = out.params.into_iter();
    let mut rest = out.text.as_str();
    while let Some(pos) = rest.find('$') {
        q.s(&rest[..pos]);
        let after = &rest[pos + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let v = match it.next() {
            Some(Value::Int(n)) => Value::Real(n as f64),
            Some(other) => other,
            None => Value::Null,
        };
        q.v(v);
        rest = &after[digits..];
    }
    q.s(rest);
}

/// A sort column: its SQL expression in the main query.
struct SortCol {
    expr: String,
    descending: bool,
}

/// The continuation token: the last row's sort values and rid.
fn encode_token(fingerprint: u64, values: &[Value], rid: i64) -> String {
    let vals: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Int(i) => serde_json::json!({ "i": i }),
            Value::Real(f) => serde_json::json!({ "f": f }),
            Value::Text(s) => serde_json::json!({ "s": s }),
            Value::Blob(b) => serde_json::json!({ "b": hex(b) }),
        })
        .collect();
    let json = serde_json::json!({ "q": format!("{fingerprint:016x}"), "k": vals, "r": rid });
    hex(json.to_string().as_bytes())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn decode_token(token: &str, fingerprint: u64, n: usize) -> Result<(Vec<Value>, i64), SearchError> {
    let bad = || invalid("The continuation token is invalid.");
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let bytes = unhex(token).ok_or_else(bad)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if json.get("q").and_then(|q| q.as_str()) != Some(&format!("{fingerprint:016x}")) {
        return Err(bad());
    }
    let rid = json.get("r").and_then(|r| r.as_i64()).ok_or_else(bad)?;
    let keys = json.get("k").and_then(|k| k.as_array()).ok_or_else(bad)?;
    if keys.len() != n {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(n);
    for k in keys {
        out.push(match k {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Object(o) => match o.iter().next() {
                Some((t, v)) if t == "i" => Value::Int(v.as_i64().ok_or_else(bad)?),
                Some((t, v)) if t == "f" => Value::Real(v.as_f64().ok_or_else(bad)?),
                Some((t, v)) if t == "s" => Value::Text(v.as_str().ok_or_else(bad)?.to_owned()),
                Some((t, v)) if t == "b" => {
                    Value::Blob(unhex(v.as_str().ok_or_else(bad)?).ok_or_else(bad)?)
                }
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        });
    }
    Ok((out, rid))
}

/// What a continuation token is bound to: the search's sort (a token from a
/// search sorted otherwise cannot be reused).
fn fingerprint(query: &SearchQuery) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let text = query
        .sort
        .iter()
        .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.param.code))
        .collect::<Vec<_>>()
        .join(",");
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The compartment of type `ctype` (member type → linking parameters), or
/// the search's refusal when R4 defines none.
fn compartment(ctype: &str) -> Result<&'static HashMap<String, Vec<String>>, SearchError> {
    r4().compartment(ctype).ok_or_else(|| {
        SearchError::Invalid(vec![Issue::new(
            Severity::Error,
            IssueCode::NotSupported,
            format!(
                "Compartment type '{ctype}' is not supported; the compartments are {}.",
                r4().compartment_types().join(", ")
            ),
        )])
    })
}

/// The resource types a search covers (`None` = every type).
fn effective_types(
    scope: &SearchScope,
    query: &SearchQuery,
) -> Result<Option<Vec<String>>, SearchError> {
    let mut types: Option<Vec<String>> = if !scope.resource_types.is_empty() {
        Some(scope.resource_types.clone())
    } else if !query.types.is_empty() {
        Some(query.types.clone())
    } else {
        None
    };
    for (ctype, _) in scope.compartment.iter().chain(&scope.within) {
        let comp = compartment(ctype)?;
        // The focal resource's type, whether or not R4 lists it.
        let member = |t: &str| comp.contains_key(t) || t == ctype;
        let mut allowed: Vec<String> = comp.keys().cloned().collect();
        if !allowed.contains(ctype) {
            allowed.push(ctype.clone());
        }
        allowed.sort();
        types = Some(match types {
            Some(t) => t.into_iter().filter(|t| member(t)).collect(),
            None => allowed,
        });
    }
    Ok(types)
}

/// Appends ` AND (<r is a member of compartment ctype/id>)`, for rows of
/// `type_list`: a resource whose compartment parameters refer to the focal
/// resource, or the focal resource itself.
fn member_of(
    q: &mut Sql,
    c: &Compiler,
    type_list: &[String],
    ctype: &str,
    id: &str,
) -> Result<(), SearchError> {
    let comp = compartment(ctype)?;
    let mut keys = Vec::new();
    for t in type_list {
        for code in comp.get(t).into_iter().flatten() {
            keys.push(param_key(t, code));
        }
    }
    q.s(" AND (r.rid IN (SELECT rid FROM fhir_ix_ref WHERE svc = ")
        .v(c.svc)
        .s(" AND ")
        .in_list("p", &keys)
        .s(" AND tid = ")
        .v(id)
        .s(" AND ttype = ")
        .v(ctype)
        .s(")");
    if type_list.iter().any(|t| t == ctype) {
        q.s(" OR (r.resource_type = ")
            .v(ctype)
            .s(" AND r.id = ")
            .v(id)
            .s(")");
    }
    q.s(")");
    Ok(())
}

/// The index keys of every compartment parameter of compartment `ctype`, of
/// every member type.
pub(crate) fn compartment_keys(ctype: &str) -> Vec<i64> {
    let mut keys: Vec<i64> = r4()
        .compartment(ctype)
        .into_iter()
        .flatten()
        .flat_map(|(t, codes)| codes.iter().map(|code| param_key(t, code)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Whether `resource` (`resource_type`/`id`, its body) is a member of the
/// compartment `ctype`/`cid`, judged from the body as the index would be:
/// it is the focal resource, or one of its compartment parameters refers to
/// it (locally, or under `own_base`). For what is about to be written, whose
/// index rows do not exist yet, and for what was read already.
pub fn in_compartment(
    ctype: &str,
    cid: &str,
    resource_type: &str,
    id: &str,
    resource: &serde_json::Value,
    own_base: &str,
) -> bool {
    if resource_type == ctype && id == cid {
        return true;
    }
    let Some(comp) = r4().compartment(ctype) else {
        return false;
    };
    comp.get(resource_type).into_iter().flatten().any(|code| {
        references_of(resource, resource_type, Some(code), own_base)
            .iter()
            .any(|(t, target)| t == ctype && target == cid)
    })
}

/// [`in_compartment`] for a stored version (a deleted one is in none).
pub fn stored_in_compartment(
    ctype: &str,
    cid: &str,
    stored: &StoredResource,
    own_base: &str,
) -> bool {
    let Some(body) = stored
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
    else {
        return false;
    };
    in_compartment(
        ctype,
        cid,
        &stored.resource_type,
        &stored.id,
        &body,
        own_base,
    )
}

/// Appends `FROM fhir_resources r … WHERE …` (the sort joins before WHERE).
fn filter(
    q: &mut Sql,
    c: &Compiler,
    types: &Option<Vec<String>>,
    scope: &SearchScope,
    query: &SearchQuery,
    joins: &[(String, String, Vec<i64>, String)],
    page: Option<PageInRidOrder>,
) -> Result<(), SearchError> {
    q.s(" FROM fhir_resources r");
    for (alias, table, keys, agg) in joins {
        q.s(&format!(
            " LEFT JOIN (SELECT rid, {agg} AS v FROM {table} WHERE svc = "
        ))
        .v(c.svc)
        .s(" AND ")
        .in_list("p", keys)
        .s(&format!(" GROUP BY rid) {alias} ON {alias}.rid = r.rid"));
    }
    q.s(" WHERE ");
    // Where the partition and type tests start: see the end.
    let mut hints = vec![q.text.len()];
    q.s("r.svc = ")
        .v(c.svc)
        .s(" AND r.is_current = 1 AND r.deleted = 0");
    let type_list: Vec<String> = types.clone().unwrap_or_default();
    if types.is_some() {
        q.s(" AND ");
        hints.push(q.text.len());
        q.in_list("r.resource_type", &type_list);
    }
    for (ctype, id) in scope.compartment.iter().chain(&scope.within) {
        member_of(q, c, &type_list, ctype, id)?;
    }
    let mut driving = false;
    let mut by_id = false;
    for crit in &query.criteria {
        q.s(" AND ");
        let start = q.text.len();
        c.criterion(q, "r", &type_list, crit)?;
        driving |= q.text[start..].starts_with("r.rid IN (");
        by_id |= matches!(crit, Criterion::Param { param, .. } if param.code == "_id");
        if let Some(page) = page
            && query.criteria.len() == 1
            && scope.compartment.is_none()
            && scope.within.is_none()
        {
            limit_index_set(q, start, page);
        }
    }
    // SQLite without statistics prefers walking every resource of the type
    // (fhir_resources_type_history) and testing each rid against the index
    // set, then sorting: linear in the type's size. When a criterion is a
    // set of rids from an index table, that set is the better driver (rowid
    // lookups in rid order, so `LIMIT` stops early); a unary `+` takes the
    // partition and type tests out of index selection.
    if driving && !by_id && q.dialect == Dialect::Sqlite {
        for at in hints.into_iter().rev() {
            q.text.insert(at, '+');
        }
    }
    Ok(())
}

/// A page of results in rid order: at most `limit` rids after `after`.
#[derive(Debug, Clone, Copy)]
struct PageInRidOrder {
    limit: u64,
    after: Option<i64>,
}

/// When the only criterion is a set of rids from an index table, that set
/// is the result itself: index rows exist for current, not deleted
/// versions only, keyed by type. So the page can be cut inside it (`ORDER
/// BY rid LIMIT`), and an index whose key fixes everything before `rid`
/// then yields just the page in order instead of every match (a common code
/// among a million resources is tens of thousands of rows).
fn limit_index_set(q: &mut Sql, start: usize, page: PageInRidOrder) {
    let fragment = &q.text[start..];
    let Some(alias) = fragment
        .strip_prefix("r.rid IN (SELECT ")
        .and_then(|rest| rest.split_once(".rid FROM "))
        .map(|(alias, _)| alias.to_owned())
        .filter(|a| a.chars().all(|c| c.is_ascii_alphanumeric()))
    else {
        return;
    };
    if !q.text.ends_with(')') {
        return;
    }
    q.text.pop();
    q.text
        .insert_str(start + "r.rid IN (SELECT ".len(), "DISTINCT ");
    if let Some(after) = page.after {
        q.s(&format!(" AND {alias}.rid > ")).v(after);
    }
    q.s(&format!(" ORDER BY {alias}.rid LIMIT {})", page.limit));
}

/// Runs a search on the current, not deleted resources of partition `svc`.
pub fn search(
    tx: &mut dyn Tx,
    svc: i64,
    scope: &SearchScope,
    query: &SearchQuery,
    own_base: &str,
) -> Result<SearchPage, SearchError> {
    let dialect = tx.dialect();
    let types = effective_types(scope, query)?;
    let compiler = Compiler { svc, own_base };
    let mut page = SearchPage::default();
    if types.as_ref().is_some_and(Vec::is_empty) {
        if query.total == Total::Accurate || query.summary == Some(Summary::Count) {
            page.total = Some(0);
        }
        return Ok(page);
    }
    let type_list = types.clone().unwrap_or_default();

    if query.total == Total::Accurate || query.summary == Some(Summary::Count) {
        let mut q = Sql::new(dialect);
        q.s("SELECT COUNT(*)");
        filter(&mut q, &compiler, &types, scope, query, &[], None)?;
        let row = tx.query_opt(&q.text, &q.params)?;
        let n: i64 = row.map(|r| r.get(0)).transpose()?.unwrap_or(0);
        page.total = Some(n.max(0) as u64);
    }
    if query.summary == Some(Summary::Count) || query.count == 0 {
        return Ok(page);
    }

    // Sort columns.
    let mut joins = Vec::new();
    let mut cols: Vec<SortCol> = Vec::new();
    for key in &query.sort {
        let code = key.param.code.as_str();
        let expr = match code {
            "_lastUpdated" => "r.last_updated".to_owned(),
            "_id" => "r.id".to_owned(),
            _ => {
                let d = key.descending;
                let (table, agg) = match key.param.kind {
                    SearchParamType::String => (
                        "fhir_ix_str",
                        match (dialect, d) {
                            (Dialect::Sqlite, false) => "MIN(norm)",
                            (Dialect::Sqlite, true) => "MAX(norm)",
                            (Dialect::Postgres, false) => {
                                "MIN(convert_from(norm, 'UTF8') COLLATE \"C\")"
                            }
                            (Dialect::Postgres, true) => {
                                "MAX(convert_from(norm, 'UTF8') COLLATE \"C\")"
                            }
                        },
                    ),
                    SearchParamType::Token => {
                        ("fhir_ix_tok", if d { "MAX(code)" } else { "MIN(code)" })
                    }
                    SearchParamType::Date => {
                        ("fhir_ix_date", if d { "MAX(hi)" } else { "MIN(lo)" })
                    }
                    SearchParamType::Number | SearchParamType::Quantity => {
                        ("fhir_ix_num", if d { "MAX(hi)" } else { "MIN(lo)" })
                    }
                    SearchParamType::Reference => {
                        ("fhir_ix_ref", if d { "MAX(tid)" } else { "MIN(tid)" })
                    }
                    SearchParamType::Uri => {
                        ("fhir_ix_uri", if d { "MAX(uri)" } else { "MIN(uri)" })
                    }
                    _ => {
                        return Err(invalid(format!(
                            "Sorting by the '{code}' parameter is not supported."
                        )));
                    }
                };
                let alias = format!("k{}", joins.len());
                joins.push((
                    alias.clone(),
                    table.to_owned(),
                    keys_of(&type_list, code, param_key),
                    agg.to_owned(),
                ));
                format!("{alias}.v")
            }
        };
        cols.push(SortCol {
            expr,
            descending: key.descending,
        });
    }

    let fp = fingerprint(query);
    let cursor = match &query.continuation_token {
        Some(t) => Some(decode_token(t, fp, cols.len())?),
        None => None,
    };

    let mut q = Sql::new(dialect);
    q.s("SELECT r.rid, r.resource_type, r.id, r.version, r.last_updated, r.deleted, r.method, r.body");
    for c in &cols {
        q.s(", ").s(&c.expr);
    }
    // Sorted by rid alone: the page may be cut inside the driving index set.
    let cut = cols.is_empty().then(|| PageInRidOrder {
        limit: query.count as u64 + 1,
        after: cursor.as_ref().map(|(_, rid)| *rid),
    });
    filter(&mut q, &compiler, &types, scope, query, &joins, cut)?;
    if let Some((values, rid)) = &cursor {
        q.s(" AND ");
        keyset(&mut q, &cols, values, *rid);
    }
    q.s(" ORDER BY ");
    for c in &cols {
        q.s(&format!(
            "CASE WHEN {e} IS NULL THEN 1 ELSE 0 END, {e}{d}, ",
            e = c.expr,
            d = if c.descending { " DESC" } else { "" }
        ));
    }
    q.s(&format!("r.rid LIMIT {}", query.count as u64 + 1));
    let rows = tx.query(&q.text, &q.params)?;
    let more = rows.len() > query.count as usize;
    for row in rows.iter().take(query.count as usize) {
        page.matches.push(from_row(row)?);
    }
    if more && let Some(last) = rows.get(query.count as usize - 1) {
        let values: Vec<Value> = (0..cols.len()).map(|i| last.0[8 + i].clone()).collect();
        page.next = Some(encode_token(fp, &values, last.get(0)?));
    }

    if !query.includes.is_empty() || !query.revincludes.is_empty() {
        include(tx, svc, query, own_base, scope.within.as_ref(), &mut page)?;
    }
    Ok(page)
}

/// `(sort values, rid)` after the cursor, in sort order with missing values last.
fn keyset(q: &mut Sql, cols: &[SortCol], values: &[Value], rid: i64) {
    fn level(q: &mut Sql, cols: &[SortCol], values: &[Value], rid: i64) {
        let Some((c, rest)) = cols.split_first() else {
            q.s("r.rid > ").v(rid);
            return;
        };
        let v = &values[0];
        q.s("(");
        if *v == Value::Null {
            // Within the trailing missing-value group.
            q.s(&format!("{} IS NULL AND (", c.expr));
            level(q, rest, &values[1..], rid);
            q.s(")");
        } else {
            let op = if c.descending { "<" } else { ">" };
            q.s(&format!("{e} IS NULL OR {e} {op} ", e = c.expr))
                .v(v.clone())
                .s(&format!(" OR ({} = ", c.expr))
                .v(v.clone())
                .s(" AND (");
            level(q, rest, &values[1..], rid);
            q.s("))");
        }
        q.s(")");
    }
    level(q, cols, values, rid);
}

/// Local `(type, id)` targets of `resource`'s reference parameter `code`.
fn references_of(
    resource: &serde_json::Value,
    rtype: &str,
    code: Option<&str>,
    own_base: &str,
) -> Vec<(String, String)> {
    let defs = r4();
    let params: Vec<_> = match code {
        Some(c) => defs.search_param(rtype, c).into_iter().collect(),
        None => defs
            .search_params_for(rtype)
            .into_iter()
            .filter(|sp| sp.kind == SearchParamType::Reference)
            .collect(),
    };
    let mut out = Vec::new();
    for sp in params {
        for e in hale_fhir_model::index::index_param(sp, resource) {
            if let IndexValue::Reference(r) = &e.value {
                out.extend(local_target(r, own_base));
            }
        }
    }
    out
}

fn local_target(r: &ReferenceValue, own_base: &str) -> Option<(String, String)> {
    let local = match &r.base_url {
        None => true,
        Some(b) => b.trim_end_matches('/') == own_base.trim_end_matches('/'),
    };
    match (local, &r.resource_type, &r.id) {
        (true, Some(t), Some(id)) => Some((t.clone(), id.clone())),
        _ => None,
    }
}

/// Current, not deleted resources by (type, id).
/// The current resources that the reference parameters `codes` of
/// `resource` point at (local references, or absolute ones under
/// `own_base`), in the order the references come.
pub fn referenced_by(
    tx: &mut dyn Tx,
    svc: i64,
    resource: &StoredResource,
    codes: &[&str],
    own_base: &str,
) -> Result<Vec<StoredResource>, StoreError> {
    let Some(body) = resource
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
    else {
        return Ok(Vec::new());
    };
    let mut targets: Vec<(String, String)> = Vec::new();
    for code in codes {
        for t in references_of(&body, &resource.resource_type, Some(code), own_base) {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    let mut found = fetch_targets(tx, svc, &targets)?;
    found.sort_by_key(|r| {
        targets
            .iter()
            .position(|(t, id)| *t == r.resource_type && *id == r.id)
    });
    Ok(found)
}

fn fetch_targets(
    tx: &mut dyn Tx,
    svc: i64,
    targets: &[(String, String)],
) -> Result<Vec<StoredResource>, StoreError> {
    let mut by_type: HashMap<&str, Vec<&str>> = HashMap::new();
    for (t, id) in targets {
        by_type.entry(t.as_str()).or_default().push(id.as_str());
    }
    let mut out = Vec::new();
    let mut types: Vec<_> = by_type.into_iter().collect();
    types.sort();
    for (t, ids) in types {
        for chunk in ids.chunks(100) {
            let mut q = Sql::new(tx.dialect());
            q.s(&format!(
                "SELECT {COLUMNS} FROM fhir_resources WHERE svc = "
            ))
            .v(svc)
            .s(" AND resource_type = ")
            .v(t)
            .s(" AND is_current = 1 AND deleted = 0 AND ")
            .in_list(
                "id",
                &chunk.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            );
            for row in tx.query(&q.text, &q.params)? {
                out.push(from_row(&row)?);
            }
        }
    }
    Ok(out)
}

/// Current resources whose reference parameters (keys `keys(target type)`)
/// point at one of `targets`.
fn fetch_referrers(
    tx: &mut dyn Tx,
    svc: i64,
    keys: &dyn Fn(&str) -> Vec<i64>,
    targets: &[(String, String)],
) -> Result<Vec<StoredResource>, StoreError> {
    let mut rids: Vec<i64> = Vec::new();
    let mut by_type: HashMap<&str, Vec<String>> = HashMap::new();
    for (t, id) in targets {
        by_type.entry(t.as_str()).or_default().push(id.clone());
    }
    for (t, ids) in by_type {
        let keys = keys(t);
        if keys.is_empty() {
            continue;
        }
        for chunk in ids.chunks(100) {
            let mut q = Sql::new(tx.dialect());
            q.s("SELECT DISTINCT rid FROM fhir_ix_ref WHERE svc = ")
                .v(svc)
                .s(" AND ")
                .in_list("p", &keys)
                .s(" AND ttype = ")
                .v(t)
                .s(" AND ")
                .in_list("tid", chunk);
            for row in tx.query(&q.text, &q.params)? {
                rids.push(row.get(0)?);
            }
        }
    }
    rids.sort_unstable();
    rids.dedup();
    let mut out = crate::resources::by_rids(tx, &rids)?;
    out.retain(|r| !r.deleted);
    Ok(out)
}

/// The keys of every reference parameter, of every resource type, that may
/// point at a `target_type` resource (`_revinclude=*`).
fn keys_referring_to(target_type: &str) -> Vec<i64> {
    let defs = r4();
    let mut keys: Vec<i64> = defs
        .search_params()
        .iter()
        .filter(|sp| sp.kind == SearchParamType::Reference)
        .filter(|sp| sp.targets.is_empty() || sp.targets.iter().any(|t| t == target_type))
        .flat_map(|sp| {
            sp.base
                .iter()
                .filter(|b| defs.is_resource_type(b))
                .map(|b| param_key(b, &sp.code))
                .collect::<Vec<_>>()
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn include(
    tx: &mut dyn Tx,
    svc: i64,
    query: &SearchQuery,
    own_base: &str,
    within: Option<&(String, String)>,
    page: &mut SearchPage,
) -> Result<(), SearchError> {
    let mut seen: HashSet<(String, String)> = page
        .matches
        .iter()
        .map(|r| (r.resource_type.clone(), r.id.clone()))
        .collect();
    let mut frontier: Vec<StoredResource> = page.matches.clone();
    let mut truncated = false;
    for round in 0..=MAX_ITERATIONS {
        let applies = |inc: &&Include| round == 0 || inc.iterate;
        let mut found: Vec<StoredResource> = Vec::new();
        // _include: references read from the bodies.
        let incs: Vec<&Include> = query.includes.iter().filter(applies).collect();
        if !incs.is_empty() {
            let mut targets: Vec<(String, String)> = Vec::new();
            for r in &frontier {
                let Some(body) = &r.body else { continue };
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
                    continue;
                };
                for inc in &incs {
                    if inc.source_type != "*" && inc.source_type != r.resource_type {
                        continue;
                    }
                    for (t, id) in references_of(
                        &json,
                        &r.resource_type,
                        inc.param.as_ref().map(|p| p.code.as_str()),
                        own_base,
                    ) {
                        if inc.target_type.as_ref().is_some_and(|tt| *tt != t) {
                            continue;
                        }
                        if !seen.contains(&(t.clone(), id.clone()))
                            && !targets.contains(&(t.clone(), id.clone()))
                        {
                            targets.push((t, id));
                        }
                    }
                }
            }
            found.extend(fetch_targets(tx, svc, &targets)?);
        }
        // _revinclude: referrers found through fhir_ix_ref.
        for inc in query.revincludes.iter().filter(applies) {
            let defs = r4();
            let codes: Vec<String> = match &inc.param {
                Some(p) => vec![p.code.clone()],
                None => defs
                    .search_params_for(&inc.source_type)
                    .into_iter()
                    .filter(|sp| sp.kind == SearchParamType::Reference)
                    .map(|sp| sp.code.clone())
                    .collect(),
            };
            let targets: Vec<(String, String)> = frontier
                .iter()
                .filter(|r| {
                    inc.target_type
                        .as_ref()
                        .is_none_or(|t| *t == r.resource_type)
                })
                .map(|r| (r.resource_type.clone(), r.id.clone()))
                .collect();
            if targets.is_empty() {
                continue;
            }
            if inc.source_type == "*" {
                found.extend(fetch_referrers(tx, svc, &keys_referring_to, &targets)?);
                continue;
            }
            let keys: Vec<i64> = codes
                .iter()
                .map(|code| param_key(&inc.source_type, code))
                .collect();
            found.extend(fetch_referrers(tx, svc, &|_| keys.clone(), &targets)?);
        }
        // A confined caller sees members of its compartment only, and
        // iterates from them only.
        if let Some((ctype, cid)) = within {
            found.retain(|r| stored_in_compartment(ctype, cid, r, own_base));
        }
        let mut next = Vec::new();
        for r in found {
            if seen.insert((r.resource_type.clone(), r.id.clone())) {
                if page.included.len() >= MAX_INCLUDED {
                    truncated = true;
                    break;
                }
                page.included.push(r.clone());
                next.push(r);
            }
        }
        if next.is_empty() || truncated {
            break;
        }
        frontier = next;
        let any_iterate = query
            .includes
            .iter()
            .chain(&query.revincludes)
            .any(|i| i.iterate);
        if !any_iterate {
            break;
        }
    }
    if truncated {
        page.issues.push(Issue::new(
            Severity::Warning,
            IssueCode::Informational,
            format!(
                "Included items are truncated: more than {MAX_INCLUDED} resources are included."
            ),
        ));
    }
    Ok(())
}

/// `(a) OR (b) OR …` for each item, nested as a balanced tree: a list of
/// hundreds of values (`_id=a,b,…`) nests a few levels deep, not one level
/// per value (SQLite refuses expressions nested over 1,000 deep).
fn or_balanced<T>(q: &mut Sql, items: &[T], each: &mut impl FnMut(&mut Sql, &T)) {
    match items {
        [] => {}
        [one] => {
            q.s("(");
            each(q, one);
            q.s(")");
        }
        _ => {
            let (left, right) = items.split_at(items.len() / 2);
            q.s("(");
            or_balanced(q, left, each);
            q.s(" OR ");
            or_balanced(q, right, each);
            q.s(")");
        }
    }
}
