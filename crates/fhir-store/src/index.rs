//! Search index rows for current resource versions.
//!
//! Each [`IndexEntry`] becomes one row in the table of its kind of value
//! (`fhir_ix_str`, `_tok`, `_ref`, `_date`, `_num`, `_uri`, `_comp`; see
//! migration 0007). Rows name their parameter by a 64-bit key ([`param_key`])
//! rather than by text, and carry no resource type: the key includes it.
//! `_id` and `_lastUpdated` are not written: search reads them from
//! `fhir_resources` itself.
//!
//! Rows are written with one multi-row `INSERT` per table and chunk (chunks of
//! 64, 32, … 1 rows, so that few distinct statements are prepared). There is
//! no index by rid: [`remove`] recomputes the entries of the version from its
//! stored body and deletes them by primary key.

use std::collections::BTreeSet;

use hale_fhir_model::index::{QuantityValue, ReferenceValue, TokenValue};
use hale_fhir_model::{IndexEntry, IndexValue};
use hale_store::{StoreError, Tx, Value};

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The key of parameter `code` of `resource_type` in the index tables: the
/// FNV-1a 64-bit hash of `"{resource_type}.{code}"`, as a signed integer.
/// Stable across releases (it is stored); a test checks that no two R4
/// parameters (with the `:text` and `:identifier` variants) collide.
pub fn param_key(resource_type: &str, code: &str) -> i64 {
    fnv1a64(format!("{resource_type}.{code}").as_bytes()) as i64
}

/// The key of a token parameter's display texts (`:text`), in `fhir_ix_str`.
pub fn text_key(resource_type: &str, code: &str) -> i64 {
    fnv1a64(format!("{resource_type}.{code}:text").as_bytes()) as i64
}

/// The key of a reference parameter's `Reference.identifier` (`:identifier`),
/// in `fhir_ix_tok`.
pub fn identifier_key(resource_type: &str, code: &str) -> i64 {
    fnv1a64(format!("{resource_type}.{code}:identifier").as_bytes()) as i64
}

/// The stored form of a token or quantity system (and of a composite
/// reference's target type): its FNV-1a 64-bit hash, 0 for none. Systems are
/// long URLs repeated in most rows; only equality is ever asked of them.
pub fn system_key(system: &str) -> i64 {
    if system.is_empty() {
        0
    } else {
        fnv1a64(system.as_bytes()) as i64
    }
}

/// Parameters that are the union of two others and get no rows of their own:
/// Observation's `combo-X` is `X` | `component-X` (R4 defines them so), so a
/// search on it reads both. Saves three rows per Observation.
pub fn union_of(resource_type: &str, code: &str) -> Option<[String; 2]> {
    let rest = code.strip_prefix("combo-")?;
    (resource_type == "Observation").then(|| [rest.to_owned(), format!("component-{rest}")])
}

/// Open bounds of number ranges (a `Range` without `low` or `high`).
pub(crate) const NUM_MIN: f64 = -1.0e300;
pub(crate) const NUM_MAX: f64 = 1.0e300;

/// One row of an index table, without `svc` and `rid`.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(crate) enum IxRow {
    Str {
        p: i64,
        norm: Vec<u8>,
        ex: Vec<u8>,
    },
    Tok {
        p: i64,
        code: String,
        sys: i64,
    },
    Ref {
        p: i64,
        tid: String,
        ttype: String,
    },
    Date {
        p: i64,
        lo: i64,
        hi: i64,
    },
    Num {
        p: i64,
        lo: f64,
        hi: f64,
        sys: i64,
        code: String,
    },
    Uri {
        p: i64,
        uri: String,
    },
    Comp {
        p: i64,
        parts: CompParts,
    },
}

/// The columns of a composite row.
#[derive(Debug, Clone, PartialEq, PartialOrd, Default)]
pub(crate) struct CompParts {
    pub c1: String,
    pub s1: i64,
    pub a2: i64,
    pub b2: String,
    pub lo2: f64,
    pub hi2: f64,
    pub lo3: f64,
    pub hi3: f64,
}

/// The (lo, hi) of a number or quantity: its value as a point, or a `Range`'s
/// bounds. The model gives a point's precision range in `low`/`high`; a
/// `Range` has `value == low` (or no `low`).
pub(crate) fn quantity_bounds(q: &QuantityValue) -> Option<(f64, f64)> {
    let v = q.value?;
    Some(match (q.low, q.high) {
        (Some(l), Some(h)) if l < v && v < h => (v, v),
        (l, h) => (l.unwrap_or(NUM_MIN), h.unwrap_or(NUM_MAX)),
    })
}

/// Where a reference points, as stored: `(tid, ttype)` rows. An absolute URL
/// under `own_base` is local. `own_base` `None` (from [`remove`]) gives every
/// form the reference may have been stored under.
pub(crate) fn reference_targets(
    r: &ReferenceValue,
    own_base: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (local, url) = match (&r.base_url, own_base) {
        (None, _) => (true, r.id.is_none()),
        (Some(b), Some(own)) => {
            let same = b.trim_end_matches('/') == own.trim_end_matches('/');
            (same, !same)
        }
        (Some(_), None) => (true, true),
    };
    if local && let (Some(t), Some(id)) = (&r.resource_type, &r.id) {
        out.push((id.clone(), t.clone()));
    }
    if url && let Some(u) = &r.url {
        out.push((u.clone(), String::new()));
    }
    out
}

fn token_cols(t: &TokenValue) -> (String, i64) {
    (
        t.code.clone().unwrap_or_default(),
        system_key(t.system.as_deref().unwrap_or_default()),
    )
}

/// Component columns (a, b, lo, hi) of one composite part: a token's system
/// key and code (a token without a code gives no row), a quantity's system key,
/// code and bounds, a reference's type key and id, a string's folded value or
/// a uri in `b`, a date's or number's bounds.
fn comp_part(v: &IndexValue, own_base: Option<&str>) -> Option<(i64, String, f64, f64)> {
    Some(match v {
        IndexValue::Token(t) => {
            let (code, sys) = token_cols(t);
            if code.is_empty() {
                return None;
            }
            (sys, code, 0.0, 0.0)
        }
        IndexValue::Quantity(q) => {
            let (lo, hi) = quantity_bounds(q)?;
            (
                system_key(q.system.as_deref().unwrap_or_default()),
                q.code
                    .clone()
                    .or_else(|| q.unit.clone())
                    .unwrap_or_default(),
                lo,
                hi,
            )
        }
        IndexValue::Number(n) => (0, String::new(), n.value, n.value),
        IndexValue::Date(d) => (0, String::new(), d.start as f64, d.end as f64),
        IndexValue::String(s) => (0, s.normalized.clone(), 0.0, 0.0),
        IndexValue::Uri(u) => (0, u.clone(), 0.0, 0.0),
        IndexValue::Reference(r) => {
            let (tid, ttype) = reference_targets(r, own_base).into_iter().next()?;
            (system_key(&ttype), tid, 0.0, 0.0)
        }
        IndexValue::Composite(_) => return None,
    })
}

/// The rows of `entries` for a `resource_type` resource, deduplicated.
pub(crate) fn rows_of(
    resource_type: &str,
    entries: &[IndexEntry],
    own_base: Option<&str>,
) -> Vec<IxRow> {
    let mut rows: Vec<IxRow> = Vec::with_capacity(entries.len() + 8);
    for e in entries {
        if e.code == "_id" || e.code == "_lastUpdated" || union_of(resource_type, &e.code).is_some()
        {
            continue;
        }
        let p = param_key(resource_type, &e.code);
        match &e.value {
            IndexValue::String(s) => rows.push(IxRow::Str {
                p,
                norm: s.normalized.as_bytes().to_vec(),
                ex: if s.exact == s.normalized {
                    Vec::new()
                } else {
                    s.exact.as_bytes().to_vec()
                },
            }),
            IndexValue::Token(t) => {
                if t.code.is_some() || t.system.is_some() {
                    let (code, sys) = token_cols(t);
                    rows.push(IxRow::Tok { p, code, sys });
                }
                if let Some(text) = &t.text
                    && !text.is_empty()
                {
                    rows.push(IxRow::Str {
                        p: text_key(resource_type, &e.code),
                        norm: text.as_bytes().to_vec(),
                        ex: Vec::new(),
                    });
                }
            }
            IndexValue::Reference(r) => {
                for (tid, ttype) in reference_targets(r, own_base) {
                    rows.push(IxRow::Ref { p, tid, ttype });
                }
                if let Some(ident) = &r.identifier {
                    let (code, sys) = token_cols(ident);
                    rows.push(IxRow::Tok {
                        p: identifier_key(resource_type, &e.code),
                        code,
                        sys,
                    });
                }
            }
            IndexValue::Date(d) => rows.push(IxRow::Date {
                p,
                lo: d.start,
                hi: d.end,
            }),
            IndexValue::Number(n) => rows.push(IxRow::Num {
                p,
                lo: n.value,
                hi: n.value,
                sys: 0,
                code: String::new(),
            }),
            IndexValue::Quantity(q) => {
                if let Some((lo, hi)) = quantity_bounds(q) {
                    let sys = system_key(q.system.as_deref().unwrap_or_default());
                    // A quantity is found by its code, and by its unit when
                    // the unit differs (`5.4||mg` matches code or unit).
                    let code = q
                        .code
                        .clone()
                        .or_else(|| q.unit.clone())
                        .unwrap_or_default();
                    if let Some(unit) = &q.unit
                        && q.code.as_ref().is_some_and(|c| c != unit)
                    {
                        rows.push(IxRow::Num {
                            p,
                            lo,
                            hi,
                            sys: 0,
                            code: unit.clone(),
                        });
                    }
                    rows.push(IxRow::Num {
                        p,
                        lo,
                        hi,
                        sys,
                        code,
                    });
                }
            }
            IndexValue::Uri(u) => rows.push(IxRow::Uri { p, uri: u.clone() }),
            IndexValue::Composite(parts) => {
                let mut c = CompParts::default();
                let mut ok = true;
                for (i, part) in parts.iter().enumerate() {
                    let Some((a, b, lo, hi)) = comp_part(part, own_base) else {
                        ok = false;
                        break;
                    };
                    match i {
                        0 => {
                            c.s1 = a;
                            c.c1 = b;
                        }
                        1 => {
                            c.a2 = a;
                            c.b2 = b;
                            c.lo2 = lo;
                            c.hi2 = hi;
                        }
                        2 => {
                            c.lo3 = lo;
                            c.hi3 = hi;
                        }
                        _ => {}
                    }
                }
                if ok && !parts.is_empty() {
                    rows.push(IxRow::Comp { p, parts: c });
                }
            }
        }
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows.dedup();
    rows
}

/// The table, columns and values of a row (svc and rid included).
fn row_values(row: &IxRow, svc: i64, rid: i64) -> (&'static str, &'static str, Vec<Value>) {
    match row {
        IxRow::Str { p, norm, ex } => (
            "fhir_ix_str",
            "svc, p, norm, rid, ex",
            vec![
                svc.into(),
                (*p).into(),
                Value::Blob(norm.clone()),
                rid.into(),
                Value::Blob(ex.clone()),
            ],
        ),
        IxRow::Tok { p, code, sys } => (
            "fhir_ix_tok",
            "svc, p, code, rid, sys",
            vec![
                svc.into(),
                (*p).into(),
                code.into(),
                rid.into(),
                (*sys).into(),
            ],
        ),
        IxRow::Ref { p, tid, ttype } => (
            "fhir_ix_ref",
            "svc, p, tid, ttype, rid",
            vec![
                svc.into(),
                (*p).into(),
                tid.into(),
                ttype.into(),
                rid.into(),
            ],
        ),
        IxRow::Date { p, lo, hi } => (
            "fhir_ix_date",
            "svc, p, lo, hi, rid",
            vec![
                svc.into(),
                (*p).into(),
                (*lo).into(),
                (*hi).into(),
                rid.into(),
            ],
        ),
        IxRow::Num {
            p,
            lo,
            hi,
            sys,
            code,
        } => (
            "fhir_ix_num",
            "svc, p, lo, hi, rid, sys, code",
            vec![
                svc.into(),
                (*p).into(),
                (*lo).into(),
                (*hi).into(),
                rid.into(),
                (*sys).into(),
                code.into(),
            ],
        ),
        IxRow::Uri { p, uri } => (
            "fhir_ix_uri",
            "svc, p, uri, rid",
            vec![svc.into(), (*p).into(), uri.into(), rid.into()],
        ),
        IxRow::Comp { p, parts: c } => (
            "fhir_ix_comp",
            "svc, p, c1, rid, s1, a2, b2, lo2, hi2, lo3, hi3",
            vec![
                svc.into(),
                (*p).into(),
                (&c.c1).into(),
                rid.into(),
                c.s1.into(),
                c.a2.into(),
                (&c.b2).into(),
                c.lo2.into(),
                c.hi2.into(),
                c.lo3.into(),
                c.hi3.into(),
            ],
        ),
    }
}

/// Writes the index rows of version `rid` of a `resource_type` resource.
/// `own_base` is the service's base URL (no trailing slash): absolute
/// references under it are indexed as local ones.
pub fn insert(
    tx: &mut dyn Tx,
    svc: i64,
    rid: i64,
    resource_type: &str,
    entries: &[IndexEntry],
    own_base: &str,
) -> Result<(), StoreError> {
    let mut pending = Pending::default();
    pending.add(svc, rid, resource_type, entries, own_base);
    pending.flush(tx)
}

/// Index rows not written yet: those of the versions a transaction writes,
/// gathered so that they go to the database in a few multi-row `INSERT`s per
/// table, not a few per resource (on PostgreSQL each statement is a round
/// trip). [`Pending::flush`] them before anything in the same transaction
/// reads the index (a search, a conditional match) or removes rows from it
/// ([`remove`]), and before the transaction commits.
#[derive(Debug, Default)]
pub struct Pending {
    /// Rows by table, in the order tables were first met.
    groups: Vec<(&'static str, &'static str, Vec<Vec<Value>>)>,
}

impl Pending {
    /// Adds the index rows of version `rid` (see [`insert`]).
    pub fn add(
        &mut self,
        svc: i64,
        rid: i64,
        resource_type: &str,
        entries: &[IndexEntry],
        own_base: &str,
    ) {
        for row in &rows_of(resource_type, entries, Some(own_base)) {
            let (table, cols, values) = row_values(row, svc, rid);
            match self.groups.iter_mut().find(|g| g.0 == table) {
                Some(g) => g.2.push(values),
                None => self.groups.push((table, cols, vec![values])),
            }
        }
    }

    /// Writes every waiting row; none is left waiting, even on error (the
    /// transaction is then rolled back by its caller).
    pub fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        for (table, cols, all) in std::mem::take(&mut self.groups) {
            let width = all[0].len();
            let mut left = all.len();
            let mut rows = all.into_iter();
            while left > 0 {
                // Chunks of 64, 32, 16 … rows: few distinct statements to prepare.
                let n = crate::chunk_size(left);
                left -= n;
                let mut sql = format!("INSERT INTO {table} ({cols}) VALUES ");
                crate::push_value_rows(&mut sql, n, width);
                let params: Vec<Value> = rows.by_ref().take(n).flatten().collect();
                tx.execute(&sql, &params)?;
            }
        }
        Ok(())
    }
}

/// Removes the index rows of version `rid`. Call it while the version's row
/// (with its body) still exists: the rows are found by recomputing its index
/// entries. A version without a body (a delete) has no rows.
pub fn remove(tx: &mut dyn Tx, svc: i64, rid: i64) -> Result<(), StoreError> {
    let Some(row) = tx.query_opt(
        "SELECT resource_type, body FROM fhir_resources WHERE rid = $1 AND svc = $2",
        &[rid.into(), svc.into()],
    )?
    else {
        return Ok(());
    };
    let resource_type: String = row.get(0)?;
    let Some(body): Option<Vec<u8>> = row.get(1)? else {
        return Ok(());
    };
    let body = crate::codec::decode(body)?;
    let Ok(resource) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(());
    };
    let entries = hale_fhir_model::index(&resource);
    let rows = rows_of(&resource_type, &entries, None);
    let mut seen = BTreeSet::new();
    for row in &rows {
        let (table, cols, values) = row_values(row, svc, rid);
        let names: Vec<&str> = cols.split(", ").collect();
        let sql = format!(
            "DELETE FROM {table} WHERE {}",
            names
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect::<Vec<_>>()
                .join(" AND ")
        );
        let key = format!("{table}{values:?}");
        if seen.insert(key) {
            tx.execute(&sql, &values)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_keys_do_not_collide() {
        let defs = hale_fhir_model::r4();
        let mut seen = std::collections::HashMap::new();
        let mut n = 0;
        for t in defs.resource_types() {
            for sp in defs.search_params_for(t) {
                for (label, key) in [
                    (format!("{t}.{}", sp.code), param_key(t, &sp.code)),
                    (format!("{t}.{}:text", sp.code), text_key(t, &sp.code)),
                    (
                        format!("{t}.{}:identifier", sp.code),
                        identifier_key(t, &sp.code),
                    ),
                ] {
                    n += 1;
                    if let Some(other) = seen.insert(key, label.clone()) {
                        panic!("{label} and {other} share key {key}");
                    }
                }
            }
        }
        assert!(n > 9_000, "{n}");
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn chunks_are_powers_of_two() {
        assert_eq!(crate::chunk_size(1), 1);
        assert_eq!(crate::chunk_size(3), 2);
        assert_eq!(crate::chunk_size(63), 32);
        assert_eq!(crate::chunk_size(64), 64);
        assert_eq!(crate::chunk_size(500), 64);
    }
}
