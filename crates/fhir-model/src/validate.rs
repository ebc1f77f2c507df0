//! Structural validation of a resource against the R4 element definitions:
//! known elements only, JSON types, primitive formats, cardinality, required
//! elements, one value per choice element, `_x` primitive extensions,
//! contained resources, extensions and reference formats, and the codes of
//! `code` elements with a required binding (when the definitions enumerate
//! the value set: every FHIR-defined one; not BCP-13 MIME types, languages or
//! currencies). Invariants (FHIRPath constraints), other bindings and
//! profiles are not checked.

use serde_json::{Map, Value};

use crate::definitions::{ElementDef, Max, TypeDef, r4};
use crate::issue::{Issue, IssueCode};
use crate::primitives::{check_primitive, is_id};

/// Validates `resource`; an empty result means it is structurally valid.
/// Every issue is an `error` with the FHIRPath-like location in `expression`
/// (e.g. `Patient.name[0].given[1]`).
pub fn validate(resource: &Value) -> Vec<Issue> {
    let mut v = Validator {
        root: resource,
        issues: Vec::new(),
    };
    v.resource(resource, "", false);
    v.issues
}

/// Codes an error about a required binding lists at most.
const MAX_CODES_NAMED: usize = 12;

const ID_REQUIREMENTS: &str = "Id must be any combination of upper or lower case ASCII letters ('A'..'Z', and 'a'..'z'), numerals ('0'..'9'), '-' and '.', with a length limit of 64 characters. (This might be an integer, an un-prefixed OID, UUID, or any other identifier pattern that meets these constraints.)";

struct Validator<'a> {
    root: &'a Value,
    issues: Vec<Issue>,
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(loc: &str, name: &str) -> String {
    if loc.is_empty() {
        name.to_owned()
    } else {
        format!("{loc}.{name}")
    }
}

impl<'a> Validator<'a> {
    fn err(&mut self, code: IssueCode, loc: &str, msg: impl Into<String>) {
        self.issues.push(Issue::error_at(code, loc, msg));
    }

    /// A resource at `loc` (`""` for the root). `contained` applies the rules
    /// for contained resources.
    fn resource(&mut self, v: &Value, loc: &str, contained: bool) {
        let defs = r4();
        let Value::Object(obj) = v else {
            let at = if loc.is_empty() { "Resource" } else { loc };
            self.err(
                IssueCode::Structure,
                at,
                format!("A resource must be a JSON object, found {}", json_kind(v)),
            );
            return;
        };
        let rt = match obj.get("resourceType") {
            Some(Value::String(rt)) => rt.as_str(),
            Some(other) => {
                let at = join(loc, "resourceType");
                self.err(
                    IssueCode::Structure,
                    &at,
                    format!("resourceType must be a string, found {}", json_kind(other)),
                );
                return;
            }
            None => {
                let at = if loc.is_empty() { "Resource" } else { loc };
                self.err(
                    IssueCode::Required,
                    at,
                    "Missing required element 'resourceType'",
                );
                return;
            }
        };
        if !defs.is_resource_type(rt) {
            let at = join(loc, "resourceType");
            self.err(
                IssueCode::NotSupported,
                &at,
                format!("Resource type '{rt}' is not supported."),
            );
            return;
        }
        let here = if loc.is_empty() {
            rt.to_owned()
        } else {
            loc.to_owned()
        };
        let Some(td) = defs.type_def(rt) else { return };
        if contained {
            if obj.get("id").is_none() {
                self.err(
                    IssueCode::Required,
                    &join(&here, "id"),
                    "A contained resource must have an id",
                );
            }
            if obj.contains_key("contained") {
                self.err(
                    IssueCode::Structure,
                    &join(&here, "contained"),
                    "A contained resource must not contain resources",
                );
            }
        }
        self.object(obj, td, "", &here, true);
        if !contained && loc.is_empty() {
            self.local_references(v, &here);
        }
    }

    /// Every `#id` reference in the resource must name a contained resource.
    fn local_references(&mut self, v: &Value, rt: &str) {
        let ids: Vec<&str> = match self.root.get("contained") {
            Some(Value::Array(cs)) => cs
                .iter()
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .collect(),
            _ => Vec::new(),
        };
        let mut stack = vec![(v, rt.to_owned())];
        while let Some((node, loc)) = stack.pop() {
            match node {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("reference")
                        && let Some(local) = r.strip_prefix('#')
                        && !local.is_empty()
                        && !ids.contains(&local)
                    {
                        self.err(
                            IssueCode::Invalid,
                            &join(&loc, "reference"),
                            format!("The reference '{r}' does not match a contained resource"),
                        );
                    }
                    for (k, c) in o {
                        if k != "contained" {
                            stack.push((c, join(&loc, k)));
                        }
                    }
                }
                Value::Array(a) => {
                    for (i, c) in a.iter().enumerate() {
                        stack.push((c, format!("{loc}[{i}]")));
                    }
                }
                _ => {}
            }
        }
    }

    /// Finds the element for JSON key `key` among `td`'s children of `base`;
    /// returns the element and the concrete type (for choices, from the suffix).
    fn find<'d>(
        td: &'d TypeDef,
        base: &str,
        key: &str,
    ) -> Option<(&'d ElementDef, Option<&'d str>)> {
        let path = if base.is_empty() {
            key.to_owned()
        } else {
            format!("{base}.{key}")
        };
        if let Some(e) = td.element(&path)
            && !e.is_choice()
        {
            return Some((e, None));
        }
        for e in td.children(base).filter(|e| e.is_choice()) {
            let stem = e.name().trim_end_matches("[x]");
            if let Some(suffix) = key.strip_prefix(stem)
                && let Some(t) = e.types.iter().find(|t| capitalize(t) == suffix)
            {
                return Some((e, Some(t.as_str())));
            }
        }
        None
    }

    fn object(
        &mut self,
        obj: &Map<String, Value>,
        td: &TypeDef,
        base: &str,
        loc: &str,
        is_resource: bool,
    ) {
        if obj.is_empty() {
            self.err(
                IssueCode::Structure,
                loc,
                "An element must have a value or children (empty object)",
            );
            return;
        }
        // Present elements, by definition path, with the JSON keys used.
        let mut seen: Vec<(&ElementDef, String)> = Vec::new();
        for (key, value) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            let (name, underscore) = match key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (key.as_str(), false),
            };
            let Some((elem, choice_type)) = Self::find(td, base, name) else {
                self.err(
                    IssueCode::Structure,
                    &join(loc, key),
                    format!("Unrecognized element '{key}'"),
                );
                continue;
            };
            let ty = choice_type.or_else(|| elem.types.first().map(String::as_str));
            let is_primitive = ty.is_some_and(|t| r4().is_primitive(t));
            if underscore {
                if !is_primitive {
                    self.err(
                        IssueCode::Structure,
                        &join(loc, key),
                        format!("Unrecognized element '{key}' ('{name}' is not a primitive)"),
                    );
                    continue;
                }
                self.primitive_extension(value, obj.get(name), elem, &join(loc, key));
                if !obj.contains_key(name) {
                    seen.push((elem, name.to_owned()));
                }
                continue;
            }
            seen.push((elem, key.clone()));
            self.element(
                value,
                obj.get(&format!("_{key}")),
                elem,
                ty,
                td,
                &join(loc, key),
            );
        }
        // Cardinality of absent elements and choice exclusivity.
        for child in td.children(base) {
            let keys: Vec<&String> = seen
                .iter()
                .filter(|(e, _)| std::ptr::eq(*e, child))
                .map(|(_, k)| k)
                .collect();
            if child.min > 0 && keys.is_empty() {
                let name = child.name();
                self.err(
                    IssueCode::Required,
                    &join(loc, name),
                    format!(
                        "Missing required element '{name}' (minimum cardinality {})",
                        child.min
                    ),
                );
            }
            if child.is_choice() {
                let mut distinct: Vec<&String> = keys.clone();
                distinct.sort();
                distinct.dedup();
                if distinct.len() > 1 {
                    self.err(
                        IssueCode::Structure,
                        &join(loc, child.name()),
                        format!(
                            "Only one of {} may be present for the choice element '{}'",
                            distinct
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            child.name()
                        ),
                    );
                }
            }
        }
    }

    /// Checks `_x` (the id/extension part of a primitive) against the value `x`.
    fn primitive_extension(
        &mut self,
        ext: &Value,
        value: Option<&Value>,
        elem: &ElementDef,
        loc: &str,
    ) {
        let element_td = r4().type_def("Element");
        let check_one = |this: &mut Self, e: &Value, at: &str| match e {
            Value::Object(o) => {
                if let Some(td) = element_td {
                    this.object(o, td, "", at, false);
                }
            }
            Value::Null => {}
            other => this.err(
                IssueCode::Structure,
                at,
                format!(
                    "Expected an object for primitive extensions, found {}",
                    json_kind(other)
                ),
            ),
        };
        match (elem.is_array(), ext) {
            (true, Value::Array(items)) => {
                if let Some(Value::Array(vals)) = value
                    && vals.len() != items.len()
                {
                    self.err(
                        IssueCode::Structure,
                        loc,
                        format!(
                            "'{loc}' must have the same number of entries as the primitive array"
                        ),
                    );
                }
                for (i, e) in items.iter().enumerate() {
                    check_one(self, e, &format!("{loc}[{i}]"));
                }
            }
            (true, _) => self.err(
                IssueCode::Structure,
                loc,
                format!("Expected an array, found {}", json_kind(ext)),
            ),
            (false, Value::Array(_)) => self.err(
                IssueCode::Structure,
                loc,
                "Expected a single object, found an array",
            ),
            (false, e) => {
                if e.is_null() {
                    self.err(IssueCode::Structure, loc, "null is not allowed");
                } else {
                    check_one(self, e, loc);
                }
            }
        }
    }

    /// One present element (possibly an array) of type `ty`.
    fn element(
        &mut self,
        v: &Value,
        ext: Option<&Value>,
        elem: &ElementDef,
        ty: Option<&str>,
        td: &TypeDef,
        loc: &str,
    ) {
        if elem.is_array() {
            let Value::Array(items) = v else {
                self.err(
                    IssueCode::Structure,
                    loc,
                    format!(
                        "Expected an array for '{}' (cardinality {}..*), found {}",
                        elem.name(),
                        elem.min,
                        json_kind(v)
                    ),
                );
                return;
            };
            if items.is_empty() {
                self.err(IssueCode::Structure, loc, "Arrays must not be empty");
                return;
            }
            if let Max::Bounded(n) = elem.max
                && items.len() > n as usize
            {
                self.err(
                    IssueCode::Structure,
                    loc,
                    format!("At most {n} entries are allowed, found {}", items.len()),
                );
            }
            let exts = ext.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                let at = format!("{loc}[{i}]");
                if item.is_null() {
                    let has_ext = exts.and_then(|a| a.get(i)).is_some_and(|e| !e.is_null());
                    if !has_ext {
                        self.err(
                            IssueCode::Structure,
                            &at,
                            "null is only allowed where the matching '_' entry has content",
                        );
                    }
                    continue;
                }
                self.single(item, elem, ty, td, &at);
            }
        } else {
            if v.is_array() {
                self.err(
                    IssueCode::Structure,
                    loc,
                    format!(
                        "Expected a single value for '{}' (max cardinality 1), found an array",
                        elem.name()
                    ),
                );
                return;
            }
            if v.is_null() {
                self.err(IssueCode::Structure, loc, "null is not allowed");
                return;
            }
            self.single(v, elem, ty, td, loc);
        }
    }

    fn single(&mut self, v: &Value, elem: &ElementDef, ty: Option<&str>, td: &TypeDef, loc: &str) {
        let defs = r4();
        // contentReference: the structure of another element of the same resource.
        if let Some(cr) = &elem.content_reference {
            let (owner, path) = cr.split_once('.').unwrap_or((cr.as_str(), ""));
            match (v, defs.type_def(owner)) {
                (Value::Object(o), Some(otd)) => self.object(o, otd, path, loc, false),
                _ => self.err(
                    IssueCode::Structure,
                    loc,
                    format!("Expected an object, found {}", json_kind(v)),
                ),
            }
            return;
        }
        let Some(ty) = ty else { return };
        if defs.is_primitive(ty) {
            if let Err(mut reason) = check_primitive(ty, v) {
                if ty == "id"
                    && elem.path == "id"
                    && td.kind == crate::definitions::TypeKind::Resource
                    && v.is_string()
                {
                    // The Microsoft FHIR server's wording for a bad resource id.
                    reason = ID_REQUIREMENTS.to_owned();
                }
                let code = if crate::primitives::has_json_kind(ty, v) {
                    IssueCode::Value
                } else {
                    IssueCode::Structure
                };
                self.err(code, loc, reason);
            } else if let (Some(required), Value::String(code)) = (&elem.required, v)
                && !required.codes.contains_key(code)
            {
                let mut allowed: Vec<&str> = required.codes.keys().map(String::as_str).collect();
                allowed.sort_unstable();
                let more = allowed.len().saturating_sub(MAX_CODES_NAMED);
                allowed.truncate(MAX_CODES_NAMED);
                let mut list = allowed.join(", ");
                if more > 0 {
                    list.push_str(&format!(" and {more} more"));
                }
                self.err(
                    IssueCode::CodeInvalid,
                    loc,
                    format!(
                        "The code '{code}' is not in the value set '{}' that {}.{} requires (one of {list})",
                        required.value_set, td.name, elem.path
                    ),
                );
            }
            return;
        }
        let path = if elem.path.contains('.') || !elem.path.is_empty() {
            elem.path.as_str()
        } else {
            ""
        };
        match ty {
            "Resource" => self.resource(v, loc, elem.name() == "contained"),
            "BackboneElement" | "Element" if td.children(path).next().is_some() => match v {
                Value::Object(o) => self.object(o, td, path, loc, false),
                _ => self.err(
                    IssueCode::Structure,
                    loc,
                    format!("Expected an object, found {}", json_kind(v)),
                ),
            },
            _ => {
                let Some(ctd) = defs.type_def(ty) else { return };
                let Value::Object(o) = v else {
                    self.err(
                        IssueCode::Structure,
                        loc,
                        format!("Expected an object of type {ty}, found {}", json_kind(v)),
                    );
                    return;
                };
                self.object(o, ctd, "", loc, false);
                match ty {
                    "Reference" => self.reference(o, elem, loc),
                    "Extension" => {
                        let has_value = o.keys().any(|k| k.starts_with("value"));
                        if has_value && o.contains_key("extension") {
                            self.err(
                                IssueCode::Structure,
                                loc,
                                "An extension must have either extensions or value[x], not both",
                            );
                        }
                        if !has_value && !o.contains_key("extension") {
                            self.err(
                                IssueCode::Structure,
                                loc,
                                "An extension must have either extensions or value[x]",
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn reference(&mut self, o: &Map<String, Value>, elem: &ElementDef, loc: &str) {
        let defs = r4();
        let Some(Value::String(r)) = o.get("reference") else {
            return;
        };
        let at = join(loc, "reference");
        if r.starts_with('#') {
            return; // checked against contained ids by local_references
        }
        if let Some(u) = r.strip_prefix("urn:uuid:") {
            if check_primitive("uuid", &Value::String(r.clone())).is_err() {
                self.err(
                    IssueCode::Value,
                    &at,
                    format!("The reference '{r}' is not a valid urn:uuid ('{u}')"),
                );
            }
            return;
        }
        if r.starts_with("urn:oid:") {
            if check_primitive("oid", &Value::String(r.clone())).is_err() {
                self.err(
                    IssueCode::Value,
                    &at,
                    format!("The reference '{r}' is not a valid urn:oid"),
                );
            }
            return;
        }
        let target_type = if r.contains("://") {
            // Absolute: the type check applies when it ends in Type/id.
            crate::fhirpath::reference_type(r).map(str::to_owned)
        } else if let Some((t, criteria)) = r.split_once('?') {
            // A conditional reference (`Patient?identifier=…`), which a bundle
            // or a write resolves to the one resource its search matches.
            if !defs.is_resource_type(t) || criteria.is_empty() {
                self.err(
                    IssueCode::Value,
                    &at,
                    format!(
                        "The conditional reference '{r}' needs a resource type and search criteria"
                    ),
                );
                return;
            }
            Some(t.to_owned())
        } else {
            let segs: Vec<&str> = r.split('/').collect();
            let ok = match segs.as_slice() {
                [t, id] => defs.is_resource_type(t) && is_id(id),
                [t, id, "_history", v] => defs.is_resource_type(t) && is_id(id) && is_id(v),
                _ => false,
            };
            if !ok {
                self.err(
                    IssueCode::Value,
                    &at,
                    format!("The reference '{r}' is not valid: expected 'Type/id', 'Type/id/_history/version', an absolute URL, '#id' or 'urn:uuid:'"),
                );
                return;
            }
            Some(segs[0].to_owned())
        };
        if let Some(t) = target_type {
            let targets = &elem.targets;
            let open = targets.is_empty()
                || targets
                    .iter()
                    .any(|x| x == "Resource" || !defs.is_resource_type(x) && x.contains('/'));
            if !open && !targets.contains(&t) {
                self.err(
                    IssueCode::Value,
                    &at,
                    format!(
                        "The reference '{r}' points to a {t}, but '{}' allows only {}",
                        elem.name(),
                        targets.join(", ")
                    ),
                );
            }
        }
    }
}
