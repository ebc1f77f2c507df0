//! `$select` projection.

use serde_json::{Map, Value};

use crate::error::ODataError;
use crate::text::{eq_ci, get_ci};

/// Projects `object` onto the properties named in `select`.
///
/// * Names match exactly, then case-insensitively; the output keeps the
///   object's own spelling of the key.
/// * `id` is **not** added implicitly: Graph returns only what was selected
///   (its documented `$select` examples on `/applications` omit `id`).
/// * Instance annotations (keys starting with `@`, e.g. `@odata.type`) are
///   kept, and so are property annotations (`name@odata.…`) of selected
///   properties.
/// * Names the object does not have are skipped; use [`validate_select`]
///   to reject unknown names up front, as Graph does.
/// * A non-object `object` is returned unchanged.
pub fn apply_select(object: &Value, select: &[String]) -> Value {
    let Value::Object(map) = object else {
        return object.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let keep = match key.split_once('@') {
            Some(("", _)) => true,
            Some((prop, _)) => select.iter().any(|s| eq_ci(s, prop)),
            None => false,
        };
        if keep {
            out.insert(key.clone(), value.clone());
        }
    }
    for name in select {
        if let Some((key, value)) = get_ci(map, name) {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// Checks every `$select` name against the properties of a type, ignoring
/// case. The first unknown name gives Graph's
/// [`ODataError::select_property_not_found`] error for `type_name`
/// (e.g. `"microsoft.graph.application"`).
pub fn validate_select(
    select: &[String],
    known: &[&str],
    type_name: &str,
) -> Result<(), ODataError> {
    match select.iter().find(|s| !known.iter().any(|k| eq_ci(k, s))) {
        Some(unknown) => Err(ODataError::select_property_not_found(unknown, type_name)),
        None => Ok(()),
    }
}
