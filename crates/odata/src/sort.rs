//! `$orderby` sorting.

use std::cmp::Ordering;

use serde_json::Value;

use crate::eval::{Resolved, resolve};
use crate::query::OrderBy;
use crate::text::{cmp_ci, parse_instant};

/// Rank of a value's kind, so that mixed columns still sort by a total order
/// (`sort_by` requires one). Date-time strings form their own kind so that
/// instant order and text order never meet.
fn rank(r: &Resolved<'_>) -> u8 {
    match r {
        Resolved::Missing | Resolved::Value(Value::Null) => 0,
        Resolved::Value(Value::Bool(_)) => 1,
        Resolved::Count(_) | Resolved::Value(Value::Number(_)) => 2,
        Resolved::Value(Value::String(s)) if parse_instant(s).is_some() => 3,
        Resolved::Value(Value::String(_)) => 4,
        Resolved::Value(_) => 5,
    }
}

fn number(r: &Resolved<'_>) -> Option<f64> {
    match r {
        Resolved::Count(n) => Some(*n as f64),
        Resolved::Value(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

fn compare(a: Resolved<'_>, b: Resolved<'_>) -> Ordering {
    let by_rank = rank(&a).cmp(&rank(&b));
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    match (a, b) {
        (Resolved::Value(Value::Bool(x)), Resolved::Value(Value::Bool(y))) => x.cmp(y),
        (Resolved::Value(Value::String(x)), Resolved::Value(Value::String(y))) => {
            // Same rank: both are instants or neither is.
            match (parse_instant(x), parse_instant(y)) {
                (Some(ix), Some(iy)) => ix.cmp(&iy),
                _ => cmp_ci(x, y),
            }
        }
        (x, y) => match (number(&x), number(&y)) {
            (Some(nx), Some(ny)) => nx.partial_cmp(&ny).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        },
    }
}

/// Sorts resources by `orderby`, in place and stably.
///
/// Keys compare case-insensitively for strings, as instants for ISO 8601
/// date-time strings, numerically for numbers, `false < true` for booleans.
/// Values of different kinds order as: null/missing, booleans, numbers,
/// date-time strings, other strings, arrays and objects.
/// Following OData, `null` and missing values come first in ascending order
/// and last in descending order. Ties keep their input order, so callers
/// should pre-sort by a stable key (e.g. `id`) to make paging deterministic.
pub fn sort(objects: &mut [Value], orderby: &[OrderBy]) {
    if orderby.is_empty() {
        return;
    }
    objects.sort_by(|a, b| {
        for key in orderby {
            let ord = compare(resolve(&key.path, a, &[]), resolve(&key.path, b, &[]));
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}
