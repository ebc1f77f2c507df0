//! Evaluation of a [`Filter`] against a JSON object.

use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::{CmpOp, Filter, Literal};
use crate::text::{cmp_ci, ends_with_ci, eq_ci, get_ci, parse_instant, starts_with_ci};

/// What a property path points at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'v> {
    /// The property (or one of its parents) is absent.
    Missing,
    /// The value found (possibly JSON `null`).
    Value(&'v Value),
    /// A `…/$count` segment: the number of items of the collection.
    Count(usize),
}

type Env<'f, 'v> = Vec<(&'f str, &'v Value)>;

/// Resolves `path` against `root`, or against a lambda item when its first
/// segment names a variable bound in `env` (innermost binding wins).
pub(crate) fn resolve<'v>(
    path: &[String],
    root: &'v Value,
    env: &[(&str, &'v Value)],
) -> Resolved<'v> {
    let (mut cur, rest) = match path.first() {
        Some(first) => match env.iter().rev().find(|(name, _)| *name == first.as_str()) {
            Some((_, item)) => (*item, &path[1..]),
            None => (root, path),
        },
        None => (root, path),
    };
    for (i, seg) in rest.iter().enumerate() {
        if seg == "$count" {
            return match cur {
                Value::Array(items) => Resolved::Count(items.len()),
                Value::Null => Resolved::Count(0),
                _ => Resolved::Missing,
            };
        }
        let next = match cur {
            Value::Object(map) => get_ci(map, seg).map(|(_, v)| v),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => {
                // An absent collection has no items.
                if rest.get(i + 1).is_some_and(|s| s == "$count") && rest.len() == i + 2 {
                    return Resolved::Count(0);
                }
                return Resolved::Missing;
            }
        }
    }
    Resolved::Value(cur)
}

/// Orders a JSON value against a literal of a compatible type; `None` when
/// the types do not match (such a clause is false).
fn compare(v: &Value, lit: &Literal) -> Option<Ordering> {
    match lit {
        Literal::String(s) | Literal::Guid(s) => v.as_str().map(|x| cmp_ci(x, s)),
        Literal::Bool(b) => v.as_bool().map(|x| x.cmp(b)),
        Literal::Int(n) => match v {
            Value::Number(num) => match num.as_i64() {
                Some(x) => Some(x.cmp(n)),
                None => num.as_f64()?.partial_cmp(&(*n as f64)),
            },
            _ => None,
        },
        Literal::Number(f) => match v {
            Value::Number(num) => num.as_f64()?.partial_cmp(f),
            _ => None,
        },
        Literal::DateTime(d) => {
            let want = parse_instant(d)?;
            let have = parse_instant(v.as_str()?)?;
            Some(have.cmp(&want))
        }
        Literal::Null => None,
    }
}

fn equals(r: Resolved<'_>, lit: &Literal) -> bool {
    match (r, lit) {
        (Resolved::Missing | Resolved::Value(Value::Null), Literal::Null) => true,
        (Resolved::Missing | Resolved::Value(Value::Null), _) => false,
        (_, Literal::Null) => false,
        (Resolved::Count(n), _) => compare(&Value::from(n as u64), lit) == Some(Ordering::Equal),
        (Resolved::Value(Value::String(s)), Literal::String(l) | Literal::Guid(l)) => eq_ci(s, l),
        (Resolved::Value(v), _) => compare(v, lit) == Some(Ordering::Equal),
    }
}

fn ordering(r: Resolved<'_>, lit: &Literal) -> Option<Ordering> {
    match r {
        Resolved::Missing | Resolved::Value(Value::Null) => None,
        Resolved::Count(n) => compare(&Value::from(n as u64), lit),
        Resolved::Value(v) => compare(v, lit),
    }
}

fn string_at<'v>(r: Resolved<'v>) -> Option<&'v str> {
    match r {
        Resolved::Value(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Evaluates a lambda body for each item of a collection, with the lambda
/// variable bound to the item: `any` (`exists` = true) holds as soon as one
/// item matches, `all` (`exists` = false) fails as soon as one does not.
fn quantify<'f, 'v>(
    items: &'v [Value],
    var: &'f str,
    body: &'f Filter,
    root: &'v Value,
    env: &mut Env<'f, 'v>,
    exists: bool,
) -> bool {
    for item in items {
        env.push((var, item));
        let hit = eval(body, root, env);
        env.pop();
        if hit == exists {
            return exists;
        }
    }
    !exists
}

fn eval<'f, 'v>(f: &'f Filter, root: &'v Value, env: &mut Env<'f, 'v>) -> bool {
    match f {
        Filter::Cmp { path, op, value } => {
            let r = resolve(path, root, env);
            match op {
                CmpOp::Eq => equals(r, value),
                CmpOp::Ne => !equals(r, value),
                CmpOp::Gt => ordering(r, value) == Some(Ordering::Greater),
                CmpOp::Ge => matches!(
                    ordering(r, value),
                    Some(Ordering::Greater | Ordering::Equal)
                ),
                CmpOp::Lt => ordering(r, value) == Some(Ordering::Less),
                CmpOp::Le => matches!(ordering(r, value), Some(Ordering::Less | Ordering::Equal)),
            }
        }
        Filter::StartsWith { path, prefix } => {
            string_at(resolve(path, root, env)).is_some_and(|s| starts_with_ci(s, prefix))
        }
        Filter::EndsWith { path, suffix } => {
            string_at(resolve(path, root, env)).is_some_and(|s| ends_with_ci(s, suffix))
        }
        Filter::In { path, values } => {
            let r = resolve(path, root, env);
            values.iter().any(|lit| equals(r, lit))
        }
        Filter::Any {
            collection,
            var,
            body,
        } => match resolve(collection, root, env) {
            Resolved::Value(Value::Array(items)) => quantify(items, var, body, root, env, true),
            _ => false,
        },
        Filter::All {
            collection,
            var,
            body,
        } => match resolve(collection, root, env) {
            Resolved::Value(Value::Array(items)) => quantify(items, var, body, root, env, false),
            // An absent or null collection is empty: `all` holds vacuously.
            Resolved::Missing | Resolved::Value(Value::Null) => true,
            _ => false,
        },
        Filter::And(a, b) => eval(a, root, env) && eval(b, root, env),
        Filter::Or(a, b) => eval(a, root, env) || eval(b, root, env),
        Filter::Not(x) => !eval(x, root, env),
    }
}

impl Filter {
    /// Evaluates the filter against one resource.
    ///
    /// * String comparisons (`eq`, `ne`, `in`, `startswith`, `endswith`,
    ///   and the ordering operators) ignore case, as directory queries do.
    /// * Property names are matched exactly first, then case-insensitively.
    /// * A missing property behaves like `null`: `eq null` matches it, `eq`
    ///   with any other literal does not, `ne` is the negation of `eq`, and
    ///   `gt`/`ge`/`lt`/`le` are false.
    /// * A literal of another type than the property never compares equal
    ///   (so `accountEnabled eq 'true'` is false for a boolean property).
    /// * Bare date-time literals compare as instants against string
    ///   properties holding ISO 8601 values.
    /// * `any` over a missing collection is false; `all` is true.
    pub fn matches(&self, object: &Value) -> bool {
        let mut env = Vec::new();
        eval(self, object, &mut env)
    }
}
