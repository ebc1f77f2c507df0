//! A FHIRPath subset: everything the R4 SearchParameter expressions use
//! (paths, choice types, `|`, `where`, `resolve() is X`, `ofType`, `as`, `is`,
//! `exists`, `extension(url)`, `first`, `empty`, Boolean logic, equality) plus
//! the common collection and string functions. Terminology functions
//! (`memberOf`, `subsumes`), `matches` and date arithmetic are not implemented.

mod eval;
mod parse;

pub use eval::{EvalError, Item, NodeType, evaluate, evaluate_on, reference_type, resource_node};
pub use parse::{BinOp, Expr, Literal, ParseError, TypeSpec, parse};
