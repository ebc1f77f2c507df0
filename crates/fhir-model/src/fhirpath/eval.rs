//! FHIRPath evaluation over `serde_json::Value` resources, typed by the R4
//! definitions so that choice elements (`value[x]`), `ofType`, `is` and `as`
//! work as the specification says.

use serde_json::Value;

use super::parse::{BinOp, Expr, Literal, TypeSpec};
use crate::definitions::{Definitions, r4};

/// Where a node sits in the type tree: its FHIR type code, and for elements
/// defined inline (backbone elements) the structure and path that define them.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeType {
    /// FHIR type code (`Quantity`, `string`, `BackboneElement`, `Patient`).
    pub code: &'static str,
    /// The structure whose elements describe the node's children.
    pub owner: &'static str,
    /// Path of the node inside `owner` (`""` for a type's root).
    pub path: String,
}

impl NodeType {
    fn named(defs: &'static Definitions, code: &str) -> Option<NodeType> {
        let code = static_name(defs, code)?;
        Some(NodeType {
            code,
            owner: code,
            path: String::new(),
        })
    }
}

/// Interns a type name as the `&'static str` held by the definitions.
fn static_name(defs: &'static Definitions, name: &str) -> Option<&'static str> {
    if let Some(t) = defs.type_def(name) {
        return Some(t.name.as_str());
    }
    PRIMITIVE_NAMES
        .iter()
        .copied()
        .find(|p| *p == name)
        .filter(|p| defs.is_primitive(p))
}

const PRIMITIVE_NAMES: &[&str] = &[
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
];

/// One item of a FHIRPath collection.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// A node of the input resource.
    Node {
        /// The JSON value (object, or primitive value; `Null` when only `_x` exists).
        value: &'a Value,
        /// The `_x` sibling holding a primitive's `id`/`extension`.
        ext: Option<&'a Value>,
        /// Its type, when known from the definitions.
        ty: Option<NodeType>,
    },
    /// A Boolean computed by the expression.
    Bool(bool),
    /// A String computed by the expression or a literal.
    Str(String),
    /// An Integer.
    Int(i64),
    /// A Decimal.
    Dec(f64),
    /// A date/dateTime/time literal (text as written after `@`).
    Temporal(String),
    /// The target of `resolve()` when only its type is known (from the reference
    /// string): enough for `resolve() is Patient`.
    Resolved(String),
}

impl<'a> Item<'a> {
    /// The JSON value of a node, or `None` for computed items.
    pub fn as_value(&self) -> Option<&'a Value> {
        match self {
            Item::Node { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The FHIR type code of a node, when known.
    pub fn type_code(&self) -> Option<&str> {
        match self {
            Item::Node { ty: Some(t), .. } => Some(t.code),
            Item::Node { value, .. } => match value {
                Value::String(_) => Some("string"),
                Value::Bool(_) => Some("boolean"),
                Value::Number(n) if n.is_i64() => Some("integer"),
                Value::Number(_) => Some("decimal"),
                Value::Object(o) => o.get("resourceType").and_then(Value::as_str),
                _ => None,
            },
            Item::Bool(_) => Some("Boolean"),
            Item::Str(_) => Some("String"),
            Item::Int(_) => Some("Integer"),
            Item::Dec(_) => Some("Decimal"),
            Item::Temporal(_) => Some("DateTime"),
            Item::Resolved(t) => Some(t),
        }
    }
}

/// An evaluation failure (unknown function, wrong argument count, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FHIRPath evaluation error: {}", self.0)
    }
}

impl std::error::Error for EvalError {}

type R<'a> = Result<Vec<Item<'a>>, EvalError>;

/// Evaluates `expr` with `resource` as `%resource` and as the input.
pub fn evaluate<'a>(expr: &Expr, resource: &'a Value) -> R<'a> {
    let root = resource_node(resource);
    let env = Env {
        defs: r4(),
        resource,
    };
    env.eval(expr, std::slice::from_ref(&root))
}

/// Evaluates `expr` against `focus` (items from an earlier evaluation on `resource`).
pub fn evaluate_on<'a>(expr: &Expr, resource: &'a Value, focus: &[Item<'a>]) -> R<'a> {
    let env = Env {
        defs: r4(),
        resource,
    };
    env.eval(expr, focus)
}

/// A resource JSON object as a typed node.
pub fn resource_node(resource: &Value) -> Item<'_> {
    let ty = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|t| NodeType::named(r4(), t));
    Item::Node {
        value: resource,
        ext: None,
        ty,
    }
}

struct Env<'a> {
    defs: &'static Definitions,
    resource: &'a Value,
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The JSON scalar of an item, for comparisons.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Bool(bool),
    Num(f64),
    Str(String),
    Other,
}

fn scalar(item: &Item<'_>) -> Scalar {
    match item {
        Item::Node { value, .. } => match value {
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => n.as_f64().map(Scalar::Num).unwrap_or(Scalar::Other),
            Value::String(s) => Scalar::Str(s.clone()),
            _ => Scalar::Other,
        },
        Item::Bool(b) => Scalar::Bool(*b),
        Item::Str(s) | Item::Temporal(s) => Scalar::Str(s.clone()),
        Item::Int(i) => Scalar::Num(*i as f64),
        Item::Dec(d) => Scalar::Num(*d),
        Item::Resolved(_) => Scalar::Other,
    }
}

fn items_equal(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (scalar(a), scalar(b)) {
        (Scalar::Other, Scalar::Other) => match (a.as_value(), b.as_value()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        (x, y) => x == y,
    }
}

fn items_equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (scalar(a), scalar(b)) {
        (Scalar::Str(x), Scalar::Str(y)) => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            norm(&x) == norm(&y)
        }
        _ => items_equal(a, b),
    }
}

/// Three-valued Boolean of a collection (`None` = empty).
fn to_bool(items: &[Item<'_>]) -> Result<Option<bool>, EvalError> {
    match items {
        [] => Ok(None),
        [one] => match scalar(one) {
            Scalar::Bool(b) => Ok(Some(b)),
            // A single non-Boolean item is `true` in a Boolean context.
            _ => Ok(Some(true)),
        },
        _ => Err(EvalError(
            "expected a single Boolean, found a collection".into(),
        )),
    }
}

fn bool_result<'a>(b: Option<bool>) -> Vec<Item<'a>> {
    b.map(|b| vec![Item::Bool(b)]).unwrap_or_default()
}

/// Splits a reference string into its resource type, when it has one.
pub fn reference_type(reference: &str) -> Option<&str> {
    let defs = r4();
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let segs: Vec<&str> = path.split('/').collect();
    // …/Type/id or …/Type/id/_history/vid
    let n = segs.len();
    let candidates = [
        n.checked_sub(2),
        n.checked_sub(4)
            .filter(|_| n >= 4 && segs[n - 2] == "_history"),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|i| segs[i])
        .find(|t| defs.is_resource_type(t))
}

impl<'a> Env<'a> {
    fn eval(&self, expr: &Expr, input: &[Item<'a>]) -> R<'a> {
        match expr {
            Expr::This => Ok(input.to_vec()),
            Expr::Empty => Ok(Vec::new()),
            Expr::Var(v) => match v.as_str() {
                "resource" | "context" | "rootResource" => Ok(vec![resource_node(self.resource)]),
                "ucum" => Ok(vec![Item::Str("http://unitsofmeasure.org".into())]),
                "sct" => Ok(vec![Item::Str("http://snomed.info/sct".into())]),
                "loinc" => Ok(vec![Item::Str("http://loinc.org".into())]),
                other => Err(EvalError(format!("unknown variable %{other}"))),
            },
            Expr::Literal(l) => Ok(vec![match l {
                Literal::Bool(b) => Item::Bool(*b),
                Literal::String(s) => Item::Str(s.clone()),
                Literal::Integer(i) => Item::Int(*i),
                Literal::Decimal(d) => Item::Dec(*d),
                Literal::Date(s) | Literal::DateTime(s) | Literal::Time(s) => {
                    Item::Temporal(s.clone())
                }
                Literal::Quantity(v, _) => Item::Dec(*v),
            }]),
            Expr::Member(base, name) => {
                let items = self.eval(base, input)?;
                let mut out = Vec::new();
                let first_step = matches!(**base, Expr::This);
                for it in &items {
                    // A path's first identifier may name the type of the input
                    // (`Patient.name`, `Resource.id`).
                    if first_step
                        && name.starts_with(|c: char| c.is_ascii_uppercase())
                        && let Some(code) = it.type_code()
                        && self.defs.is_subtype(code, name)
                    {
                        out.push(it.clone());
                        continue;
                    }
                    self.children(it, name, &mut out);
                }
                Ok(out)
            }
            Expr::Index(base, idx) => {
                let items = self.eval(base, input)?;
                let i = self.eval(idx, input)?;
                match i.as_slice() {
                    [Item::Int(n)] if *n >= 0 => {
                        Ok(items.into_iter().nth(*n as usize).into_iter().collect())
                    }
                    _ => Err(EvalError("indexer must be an Integer".into())),
                }
            }
            Expr::Neg(e) => {
                let v = self.eval(e, input)?;
                Ok(v.into_iter()
                    .filter_map(|it| match scalar(&it) {
                        Scalar::Num(n) => Some(Item::Dec(-n)),
                        _ => None,
                    })
                    .collect())
            }
            Expr::Is(e, spec) => {
                let v = self.eval(e, input)?;
                match v.as_slice() {
                    [] => Ok(Vec::new()),
                    [one] => Ok(vec![Item::Bool(self.is_type(one, spec))]),
                    _ => Err(EvalError("'is' needs a single item".into())),
                }
            }
            Expr::As(e, spec) => {
                // Lenient like most engines: filter a collection rather than fail.
                let v = self.eval(e, input)?;
                Ok(v.into_iter().filter(|it| self.is_type(it, spec)).collect())
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r, input),
            Expr::Call(base, name, args) => {
                let items = self.eval(base, input)?;
                self.call(name, items, args, input)
            }
        }
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr, input: &[Item<'a>]) -> R<'a> {
        let lv = self.eval(l, input)?;
        // Short-circuit Boolean operators as the three-valued logic allows.
        match op {
            BinOp::And => {
                let a = to_bool(&lv)?;
                if a == Some(false) {
                    return Ok(bool_result(Some(false)));
                }
                let b = to_bool(&self.eval(r, input)?)?;
                return Ok(bool_result(match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                }));
            }
            BinOp::Or => {
                let a = to_bool(&lv)?;
                if a == Some(true) {
                    return Ok(bool_result(Some(true)));
                }
                let b = to_bool(&self.eval(r, input)?)?;
                return Ok(bool_result(match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }));
            }
            BinOp::Implies => {
                let a = to_bool(&lv)?;
                if a == Some(false) {
                    return Ok(bool_result(Some(true)));
                }
                let b = to_bool(&self.eval(r, input)?)?;
                return Ok(bool_result(match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(true), Some(false)) => Some(false),
                    (None, Some(false)) | (None, None) | (Some(true), None) => None,
                    (Some(false), _) => Some(true),
                }));
            }
            _ => {}
        }
        let rv = self.eval(r, input)?;
        match op {
            BinOp::Union => {
                let mut out: Vec<Item<'a>> = Vec::with_capacity(lv.len() + rv.len());
                for it in lv.into_iter().chain(rv) {
                    if !out
                        .iter()
                        .any(|o| items_equal(o, &it) && o.type_code() == it.type_code())
                    {
                        out.push(it);
                    }
                }
                Ok(out)
            }
            BinOp::Xor => Ok(bool_result(match (to_bool(&lv)?, to_bool(&rv)?) {
                (Some(a), Some(b)) => Some(a != b),
                _ => None,
            })),
            BinOp::Eq | BinOp::Ne => {
                if lv.is_empty() || rv.is_empty() {
                    return Ok(Vec::new());
                }
                let eq = lv.len() == rv.len() && lv.iter().zip(&rv).all(|(a, b)| items_equal(a, b));
                Ok(vec![Item::Bool(if op == BinOp::Eq { eq } else { !eq })])
            }
            BinOp::Equiv | BinOp::NotEquiv => {
                let eq =
                    lv.len() == rv.len() && lv.iter().zip(&rv).all(|(a, b)| items_equivalent(a, b));
                Ok(vec![Item::Bool(if op == BinOp::Equiv { eq } else { !eq })])
            }
            BinOp::In | BinOp::Contains => {
                let (needle, hay) = if op == BinOp::In {
                    (&lv, &rv)
                } else {
                    (&rv, &lv)
                };
                match needle.as_slice() {
                    [] => Ok(Vec::new()),
                    [n] => Ok(vec![Item::Bool(hay.iter().any(|h| items_equal(h, n)))]),
                    _ => Err(EvalError("membership test needs a single item".into())),
                }
            }
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (a, b) = match (lv.as_slice(), rv.as_slice()) {
                    ([a], [b]) => (scalar(a), scalar(b)),
                    ([], _) | (_, []) => return Ok(Vec::new()),
                    _ => return Err(EvalError("comparison needs single items".into())),
                };
                let ord = match (a, b) {
                    (Scalar::Num(x), Scalar::Num(y)) => x.partial_cmp(&y),
                    (Scalar::Str(x), Scalar::Str(y)) => Some(x.cmp(&y)),
                    _ => None,
                };
                Ok(ord
                    .map(|o| {
                        Item::Bool(match op {
                            BinOp::Lt => o.is_lt(),
                            BinOp::Gt => o.is_gt(),
                            BinOp::Le => o.is_le(),
                            _ => o.is_ge(),
                        })
                    })
                    .into_iter()
                    .collect())
            }
            BinOp::Concat => {
                let s = |v: &[Item<'_>]| match v.first().map(scalar) {
                    Some(Scalar::Str(s)) => s,
                    _ => String::new(),
                };
                Ok(vec![Item::Str(s(&lv) + &s(&rv))])
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::IntDiv | BinOp::Mod => {
                let (a, b) = match (lv.as_slice(), rv.as_slice()) {
                    ([a], [b]) => (scalar(a), scalar(b)),
                    _ => return Ok(Vec::new()),
                };
                match (a, b) {
                    (Scalar::Str(x), Scalar::Str(y)) if op == BinOp::Add => {
                        Ok(vec![Item::Str(x + &y)])
                    }
                    (Scalar::Num(x), Scalar::Num(y)) => {
                        let v = match op {
                            BinOp::Add => x + y,
                            BinOp::Sub => x - y,
                            BinOp::Mul => x * y,
                            BinOp::Div if y != 0.0 => x / y,
                            BinOp::IntDiv if y != 0.0 => (x / y).trunc(),
                            BinOp::Mod if y != 0.0 => x % y,
                            _ => return Ok(Vec::new()),
                        };
                        Ok(vec![Item::Dec(v)])
                    }
                    _ => Ok(Vec::new()),
                }
            }
            BinOp::And | BinOp::Or | BinOp::Implies => unreachable!("handled above"),
        }
    }

    /// Appends the children called `name` of `item` to `out`.
    fn children(&self, item: &Item<'a>, name: &str, out: &mut Vec<Item<'a>>) {
        let Item::Node { value, ext, ty } = item else {
            return;
        };
        let obj = match value {
            Value::Object(o) => o,
            _ => {
                // A primitive: its `id` and `extension` live in the `_x` sibling.
                if let Some(Value::Object(e)) = ext
                    && let Some(v) = e.get(name)
                {
                    let child_ty = if name == "extension" {
                        NodeType::named(self.defs, "Extension")
                    } else {
                        None
                    };
                    push_values(v, None, child_ty, out);
                }
                return;
            }
        };
        if let Some(t) = ty
            && let Some((elem_types, child)) = self.element(t, name)
        {
            if let Some(choice) = elem_types {
                for code in choice {
                    let key = format!("{name}{}", capitalize(code));
                    if obj.contains_key(&key) || obj.contains_key(&format!("_{key}")) {
                        let cty = NodeType::named(self.defs, code);
                        push_values(
                            obj.get(&key).unwrap_or(&Value::Null),
                            obj.get(&format!("_{key}")),
                            cty,
                            out,
                        );
                    }
                }
            } else {
                push_child(obj.get(name), obj.get(&format!("_{name}")), child, out);
            }
            return;
        }
        // Untyped (or unknown element): plain JSON navigation.
        let child_ty = match obj.get(name) {
            Some(Value::Object(o)) => o
                .get("resourceType")
                .and_then(Value::as_str)
                .and_then(|rt| NodeType::named(self.defs, rt)),
            _ => None,
        };
        push_child(obj.get(name), obj.get(&format!("_{name}")), child_ty, out);
    }

    /// Looks up element `name` below node type `t`: `Some((Some(types), _))`
    /// for a choice element, `Some((None, child type))` otherwise.
    #[allow(clippy::type_complexity)]
    fn element(
        &self,
        t: &NodeType,
        name: &str,
    ) -> Option<(Option<&'static [String]>, Option<NodeType>)> {
        let owner = self.defs.type_def(t.owner)?;
        let path = if t.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", t.path)
        };
        let (elem, path) = match owner.element(&path) {
            Some(e) => (e, path),
            None => {
                let choice = format!("{path}[x]");
                let e = owner.element(&choice)?;
                return Some((Some(e.types.as_slice()), None));
            }
        };
        if let Some(cr) = &elem.content_reference {
            let (o, p) = cr.split_once('.').unwrap_or((cr, ""));
            let owner = self.defs.type_def(o)?;
            return Some((
                None,
                Some(NodeType {
                    code: "BackboneElement",
                    owner: owner.name.as_str(),
                    path: p.to_owned(),
                }),
            ));
        }
        let code = elem.types.first()?;
        let inline = (code == "BackboneElement" || code == "Element")
            && owner.children(&path).next().is_some();
        let child = if inline {
            Some(NodeType {
                code: if code == "BackboneElement" {
                    "BackboneElement"
                } else {
                    "Element"
                },
                owner: owner.name.as_str(),
                path,
            })
        } else if code == "Resource" {
            // Typed per value from its resourceType; see push_child.
            None
        } else {
            NodeType::named(self.defs, code)
        };
        Some((None, child))
    }

    fn is_type(&self, item: &Item<'_>, spec: &TypeSpec) -> bool {
        let Some(code) = item.type_code() else {
            return false;
        };
        let want = spec.name.as_str();
        let system = spec.namespace.as_deref() == Some("System");
        if system
            || matches!(
                item,
                Item::Bool(_) | Item::Str(_) | Item::Int(_) | Item::Dec(_) | Item::Temporal(_)
            )
        {
            return system_type(code) == Some(want) || code == want;
        }
        if self.defs.is_subtype(code, want) {
            return true;
        }
        // Primitive specialisations (R4 datatypes page).
        matches!(
            (code, want),
            ("code" | "id" | "markdown", "string")
                | ("url" | "canonical" | "oid" | "uuid", "uri")
                | ("positiveInt" | "unsignedInt", "integer")
        )
    }

    fn call(&self, name: &str, items: Vec<Item<'a>>, args: &[Expr], outer: &[Item<'a>]) -> R<'a> {
        let argc = |n: usize| -> Result<(), EvalError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(EvalError(format!("{name}() takes {n} argument(s)")))
            }
        };
        match name {
            "where" => {
                argc(1)?;
                let mut out = Vec::new();
                for it in items {
                    let r = self.eval(&args[0], std::slice::from_ref(&it))?;
                    if to_bool(&r)? == Some(true) {
                        out.push(it);
                    }
                }
                Ok(out)
            }
            "select" => {
                argc(1)?;
                let mut out = Vec::new();
                for it in items {
                    out.extend(self.eval(&args[0], std::slice::from_ref(&it))?);
                }
                Ok(out)
            }
            "repeat" => {
                argc(1)?;
                let mut out: Vec<Item<'a>> = Vec::new();
                let mut frontier = items;
                let mut rounds = 0;
                while !frontier.is_empty() && rounds < 64 {
                    let mut next = Vec::new();
                    for it in &frontier {
                        for r in self.eval(&args[0], std::slice::from_ref(it))? {
                            if !out.contains(&r) {
                                out.push(r.clone());
                                next.push(r);
                            }
                        }
                    }
                    frontier = next;
                    rounds += 1;
                }
                Ok(out)
            }
            "all" => {
                argc(1)?;
                for it in items {
                    if to_bool(&self.eval(&args[0], std::slice::from_ref(&it))?)? != Some(true) {
                        return Ok(vec![Item::Bool(false)]);
                    }
                }
                Ok(vec![Item::Bool(true)])
            }
            "exists" => {
                if args.len() > 1 {
                    return argc(1).map(|_| Vec::new());
                }
                if let Some(c) = args.first() {
                    for it in items {
                        if to_bool(&self.eval(c, std::slice::from_ref(&it))?)? == Some(true) {
                            return Ok(vec![Item::Bool(true)]);
                        }
                    }
                    Ok(vec![Item::Bool(false)])
                } else {
                    Ok(vec![Item::Bool(!items.is_empty())])
                }
            }
            "empty" => {
                argc(0)?;
                Ok(vec![Item::Bool(items.is_empty())])
            }
            "hasValue" => {
                argc(0)?;
                Ok(vec![Item::Bool(
                    matches!(items.as_slice(), [Item::Node { value, .. }] if !value.is_object() && !value.is_null()),
                )])
            }
            "count" => {
                argc(0)?;
                Ok(vec![Item::Int(items.len() as i64)])
            }
            "not" => {
                argc(0)?;
                Ok(bool_result(to_bool(&items)?.map(|b| !b)))
            }
            "first" => {
                argc(0)?;
                Ok(items.into_iter().take(1).collect())
            }
            "last" => {
                argc(0)?;
                Ok(items.into_iter().last().into_iter().collect())
            }
            "tail" => {
                argc(0)?;
                Ok(items.into_iter().skip(1).collect())
            }
            "single" => {
                argc(0)?;
                if items.len() > 1 {
                    Err(EvalError(
                        "single() on a collection of several items".into(),
                    ))
                } else {
                    Ok(items)
                }
            }
            "skip" | "take" => {
                argc(1)?;
                let n = match self.eval(&args[0], outer)?.as_slice() {
                    [Item::Int(n)] => (*n).max(0) as usize,
                    _ => return Err(EvalError(format!("{name}() needs an Integer"))),
                };
                Ok(if name == "skip" {
                    items.into_iter().skip(n).collect()
                } else {
                    items.into_iter().take(n).collect()
                })
            }
            "distinct" => {
                argc(0)?;
                let mut out: Vec<Item<'a>> = Vec::new();
                for it in items {
                    if !out.iter().any(|o| items_equal(o, &it)) {
                        out.push(it);
                    }
                }
                Ok(out)
            }
            "union" | "combine" => {
                argc(1)?;
                let other = self.eval(&args[0], outer)?;
                let mut out = items;
                for it in other {
                    if name == "combine" || !out.iter().any(|o| items_equal(o, &it)) {
                        out.push(it);
                    }
                }
                Ok(out)
            }
            "iif" => {
                if args.len() < 2 || args.len() > 3 {
                    return Err(EvalError("iif() takes 2 or 3 arguments".into()));
                }
                if to_bool(&self.eval(&args[0], outer)?)? == Some(true) {
                    self.eval(&args[1], outer)
                } else if let Some(e) = args.get(2) {
                    self.eval(e, outer)
                } else {
                    Ok(Vec::new())
                }
            }
            "ofType" | "as" | "is" => {
                argc(1)?;
                let spec = type_spec_of(&args[0])
                    .ok_or_else(|| EvalError(format!("{name}() needs a type name")))?;
                if name == "is" {
                    return match items.as_slice() {
                        [] => Ok(Vec::new()),
                        [one] => Ok(vec![Item::Bool(self.is_type(one, &spec))]),
                        _ => Err(EvalError("is() needs a single item".into())),
                    };
                }
                Ok(items
                    .into_iter()
                    .filter(|it| self.is_type(it, &spec))
                    .collect())
            }
            "extension" => {
                argc(1)?;
                let url = match self.eval(&args[0], outer)?.first().map(scalar) {
                    Some(Scalar::Str(s)) => s,
                    _ => return Err(EvalError("extension() needs a URL string".into())),
                };
                let mut exts = Vec::new();
                for it in &items {
                    self.children(it, "extension", &mut exts);
                }
                Ok(exts
                    .into_iter()
                    .filter(|e| {
                        e.as_value()
                            .and_then(|v| v.get("url"))
                            .and_then(Value::as_str)
                            == Some(url.as_str())
                    })
                    .collect())
            }
            "resolve" => {
                argc(0)?;
                let mut out = Vec::new();
                for it in items {
                    let Some(v) = it.as_value() else { continue };
                    let reference = match v {
                        Value::String(s) => Some(s.as_str()),
                        Value::Object(o) => o.get("reference").and_then(Value::as_str),
                        _ => None,
                    };
                    if let Some(local) = reference.and_then(|r| r.strip_prefix('#')) {
                        if let Some(Value::Array(cs)) = self.resource.get("contained")
                            && let Some(c) = cs
                                .iter()
                                .find(|c| c.get("id").and_then(Value::as_str) == Some(local))
                        {
                            out.push(resource_node(c));
                        }
                        continue;
                    }
                    let ty = reference.and_then(reference_type).or_else(|| {
                        v.get("type")
                            .and_then(Value::as_str)
                            .filter(|t| self.defs.is_resource_type(t))
                    });
                    if let Some(t) = ty {
                        out.push(Item::Resolved(t.to_owned()));
                    }
                }
                Ok(out)
            }
            "children" => {
                argc(0)?;
                let mut out = Vec::new();
                for it in &items {
                    if let Some(Value::Object(o)) = it.as_value() {
                        for k in o
                            .keys()
                            .filter(|k| !k.starts_with('_') && *k != "resourceType")
                        {
                            self.children(it, k, &mut out);
                        }
                    }
                }
                Ok(out)
            }
            "toString" => {
                argc(0)?;
                Ok(items
                    .first()
                    .map(|i| match scalar(i) {
                        Scalar::Str(s) => Item::Str(s),
                        Scalar::Num(n) => Item::Str(n.to_string()),
                        Scalar::Bool(b) => Item::Str(b.to_string()),
                        Scalar::Other => Item::Str(String::new()),
                    })
                    .into_iter()
                    .collect())
            }
            "startsWith" | "endsWith" | "contains" | "lower" | "upper" | "length" | "matches"
            | "replace" | "substring" | "indexOf" => {
                let s = match items.as_slice() {
                    [] => return Ok(Vec::new()),
                    [one] => match scalar(one) {
                        Scalar::Str(s) => s,
                        _ => return Ok(Vec::new()),
                    },
                    _ => return Err(EvalError(format!("{name}() needs a single string"))),
                };
                let arg = |i: usize| -> Result<Option<String>, EvalError> {
                    match args.get(i) {
                        Some(a) => Ok(match self.eval(a, outer)?.first().map(scalar) {
                            Some(Scalar::Str(s)) => Some(s),
                            Some(Scalar::Num(n)) => Some(n.to_string()),
                            _ => None,
                        }),
                        None => Ok(None),
                    }
                };
                let int_arg = |i: usize| -> Result<Option<i64>, EvalError> {
                    match args.get(i) {
                        Some(a) => Ok(match self.eval(a, outer)?.as_slice() {
                            [Item::Int(n)] => Some(*n),
                            _ => None,
                        }),
                        None => Ok(None),
                    }
                };
                Ok(match name {
                    "startsWith" => arg(0)?.map(|p| Item::Bool(s.starts_with(&p))),
                    "endsWith" => arg(0)?.map(|p| Item::Bool(s.ends_with(&p))),
                    "contains" => arg(0)?.map(|p| Item::Bool(s.contains(&p))),
                    "indexOf" => arg(0)?.map(|p| {
                        Item::Int(
                            s.find(&p)
                                .map(|i| s[..i].chars().count() as i64)
                                .unwrap_or(-1),
                        )
                    }),
                    "lower" => Some(Item::Str(s.to_lowercase())),
                    "upper" => Some(Item::Str(s.to_uppercase())),
                    "length" => Some(Item::Int(s.chars().count() as i64)),
                    "replace" => match (arg(0)?, arg(1)?) {
                        (Some(a), Some(b)) => Some(Item::Str(s.replace(&a, &b))),
                        _ => None,
                    },
                    "substring" => int_arg(0)?.map(|start| {
                        let len = int_arg(1).ok().flatten();
                        let chars = s.chars().skip(start.max(0) as usize);
                        Item::Str(match len {
                            Some(l) => chars.take(l.max(0) as usize).collect(),
                            None => chars.collect(),
                        })
                    }),
                    _ => {
                        return Err(EvalError(
                            "matches() is not supported (no regex engine)".into(),
                        ));
                    }
                }
                .into_iter()
                .collect())
            }
            // Terminology and profile functions are not evaluated by this subset.
            other => Err(EvalError(format!("unsupported function {other}()"))),
        }
    }
}

fn system_type(code: &str) -> Option<&'static str> {
    Some(match code {
        "boolean" | "Boolean" => "Boolean",
        "string" | "code" | "id" | "markdown" | "uri" | "url" | "canonical" | "oid" | "uuid"
        | "base64Binary" | "xhtml" | "String" => "String",
        "integer" | "positiveInt" | "unsignedInt" | "Integer" => "Integer",
        "decimal" | "Decimal" => "Decimal",
        "date" | "Date" => "Date",
        "dateTime" | "instant" | "DateTime" => "DateTime",
        "time" | "Time" => "Time",
        _ => return None,
    })
}

/// The type named by a function argument (`ofType(Quantity)`, `ofType(FHIR.Quantity)`).
fn type_spec_of(e: &Expr) -> Option<TypeSpec> {
    match e {
        Expr::Member(base, name) => match &**base {
            Expr::This => Some(TypeSpec {
                namespace: None,
                name: name.clone(),
            }),
            Expr::Member(b, ns) if **b == Expr::This => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

fn push_child<'a>(
    v: Option<&'a Value>,
    ext: Option<&'a Value>,
    ty: Option<NodeType>,
    out: &mut Vec<Item<'a>>,
) {
    match (v, ext) {
        (None, None) => {}
        (Some(v), e) => push_values(v, e, ty, out),
        (None, Some(e)) => push_values(&Value::Null, Some(e), ty, out),
    }
}

/// Pushes one item per array element (or the single value), pairing primitive
/// values with their `_x` extensions and typing contained resources.
fn push_values<'a>(
    v: &'a Value,
    ext: Option<&'a Value>,
    ty: Option<NodeType>,
    out: &mut Vec<Item<'a>>,
) {
    let type_of = |x: &'a Value| -> Option<NodeType> {
        match x.get("resourceType").and_then(Value::as_str) {
            Some(rt) if x.is_object() => NodeType::named(r4(), rt).or_else(|| ty.clone()),
            _ => ty.clone(),
        }
    };
    match v {
        Value::Array(arr) => {
            let exts = ext.and_then(Value::as_array);
            for (i, x) in arr.iter().enumerate() {
                let e = exts.and_then(|a| a.get(i)).filter(|e| !e.is_null());
                if x.is_null() && e.is_none() {
                    continue;
                }
                out.push(Item::Node {
                    value: x,
                    ext: e,
                    ty: type_of(x),
                });
            }
            if arr.is_empty()
                && let Some(a) = exts
            {
                for e in a.iter().filter(|e| !e.is_null()) {
                    out.push(Item::Node {
                        value: &Value::Null,
                        ext: Some(e),
                        ty: ty.clone(),
                    });
                }
            }
        }
        Value::Null => {
            if let Some(e) = ext {
                match e {
                    Value::Array(a) => {
                        for e in a.iter().filter(|e| !e.is_null()) {
                            out.push(Item::Node {
                                value: &Value::Null,
                                ext: Some(e),
                                ty: ty.clone(),
                            });
                        }
                    }
                    _ => out.push(Item::Node {
                        value: &Value::Null,
                        ext: Some(e),
                        ty,
                    }),
                }
            }
        }
        x => out.push(Item::Node {
            value: x,
            ext,
            ty: type_of(x),
        }),
    }
}
