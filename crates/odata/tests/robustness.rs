//! Resource limits and a small deterministic property test: the parser must
//! never panic, whatever the input, and everything it accepts must print and
//! re-parse to the same tree.

use hale_odata::{
    CmpOp, Filter, Limits, Literal, MAX_DEPTH_CAP, MAX_TREE_HEIGHT, apply_select, codes,
    parse_query, sort,
};
use serde_json::{Value, json};

/// xorshift64* — tiny, deterministic, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn roomy() -> Limits {
    Limits {
        max_filter_len: usize::MAX,
        max_in_values: usize::MAX,
        max_or_clauses: usize::MAX,
        max_depth: MAX_DEPTH_CAP,
        ..Limits::default()
    }
}

fn objects() -> Vec<Value> {
    vec![
        json!({}),
        json!(null),
        json!("text"),
        json!({"a": 1, "b": "x", "c": [1, "x", null, {"a": 1}], "d": null, "e": {"a": [true, false]},
               "x": "2021-01-02T12:00:00Z", "tags": ["a", "B"], "n": 1.5, "big": 18446744073709551615u64}),
        json!({"A": "X", "B": [], "C": {"D": {"E": "é"}}, "tags": null}),
    ]
}

/// Whatever parsed must evaluate without panicking and survive a
/// print/re-parse round trip unchanged.
fn check_accepted(f: &Filter, objs: &[Value]) {
    for o in objs {
        let _ = f.matches(o);
    }
    let _ = f.properties();
    let _ = f.property_paths();
    let _ = f.advanced_features();
    let _ = f.uses_all();
    let text = f.to_string();
    match Filter::parse(&text, &roomy()) {
        Ok(again) => assert_eq!(&again, f, "round trip of {text:?}"),
        Err(e) => panic!("canonical text {text:?} rejected: {e}"),
    }
}

const FRAGMENTS: &[&str] = &[
    "a",
    "b",
    "x",
    "tags",
    "web/redirectUris",
    " ",
    " ",
    "  ",
    "\t",
    "(",
    ")",
    "((",
    "))",
    "'",
    "''",
    "'x'",
    "'it''s'",
    "/",
    ",",
    ":",
    "any",
    "all",
    "any(",
    "/any(x:",
    "x:x",
    "not",
    "not ",
    "and",
    " and ",
    "or",
    " or ",
    "in",
    " in (",
    "eq",
    " eq ",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "has",
    "$count",
    "/$count",
    "$it",
    "startswith(",
    "endswith(",
    "contains(",
    "foo(",
    "1",
    "-",
    "-1",
    "0",
    "1.5",
    "1e",
    "1e9",
    "1e999",
    ".",
    "9999999999999999999999",
    "2021-01-02",
    "2021-01-02T12:00:00Z",
    "2021-02-30",
    "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "72f988bf-86f1",
    "null",
    "true",
    "FALSE",
    "é",
    "✓",
    "\u{0}",
    "%",
    "%27",
    "+",
    "*",
    "\\",
    "\"",
    "\n",
    "$",
    "_",
    "@odata.type",
    "#",
];

fn random_text(rng: &mut Rng) -> String {
    let n = rng.below(40);
    (0..n).map(|_| *rng.pick(FRAGMENTS)).collect()
}

const CORPUS: &[&str] = &[
    "appId eq '72f988bf-86f1-41af-91ab-2d7cd011db47'",
    "appId eq 72f988bf-86f1-41af-91ab-2d7cd011db47",
    "identifierUris/any(x:x eq 'api://foo')",
    "web/redirectUris/any(u:startswith(u,'https://'))",
    "startswith(displayName,'a') or endswith(mail,'@contoso.com')",
    "not(displayName eq 'x') and accountEnabled eq true",
    "companyName in (null, 'Microsoft', 'Contoso')",
    "assignedLicenses/$count eq 0 and createdDateTime ge 2021-01-02T12:00:00Z",
    "(a eq 1 or b eq 2) and not c/any(v:v/d lt -1.5)",
    "requiredResourceAccess/any(r:r/resourceAccess/any(a:a/type eq 'Scope'))",
    "subject eq 'let''s meet for lunch?'",
    "tags/all(t:startswith(t,'x')) or n ne null",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let len = chars.len();
        match rng.below(6) {
            0 => {
                let at = rng.below(len + 1);
                let frag: Vec<char> = rng.pick(FRAGMENTS).chars().collect();
                chars.splice(at..at, frag);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(6)).min(len);
                chars.drain(at..end);
            }
            2 if len > 0 => {
                let at = rng.below(len);
                chars[at] = *rng.pick(&['(', ')', '\'', ' ', '/', ',', ':', 'x', '1', '-', 'é']);
            }
            3 if len > 1 => {
                let (i, j) = (rng.below(len), rng.below(len));
                chars.swap(i, j);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(10)).min(len);
                let slice: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, slice);
            }
            _ => chars.truncate(rng.below(len + 1)),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let objs = objects();
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let mut inputs: Vec<String> = (0..20_000).map(|_| random_text(&mut rng)).collect();
    for base in CORPUS {
        for _ in 0..2_000 {
            inputs.push(mutate(&mut rng, base));
        }
    }
    for text in &inputs {
        for limits in [Limits::default(), roomy()] {
            match Filter::parse(text, &limits) {
                Ok(f) => {
                    accepted += 1;
                    check_accepted(&f, &objs);
                }
                Err(e) => {
                    rejected += 1;
                    assert!(
                        [codes::BAD_REQUEST, codes::REQUEST_UNSUPPORTED_QUERY].contains(&e.code),
                        "{text:?}: {e}"
                    );
                    assert!(!e.message.is_empty());
                }
            }
        }
    }
    // Both outcomes are well represented, so the generator is doing its job.
    assert!(accepted > 2_000, "accepted {accepted}");
    assert!(rejected > 20_000, "rejected {rejected}");
}

const NAMES: &[&str] = &[
    "$filter",
    "filter",
    "$FILTER",
    "$select",
    "select",
    "$top",
    "TOP",
    "$count",
    "$orderby",
    "$orderBy",
    "$skiptoken",
    "$search",
    "$expand",
    "$skip",
    "$format",
    "$foo",
    "foo",
    "$",
    "",
];

#[test]
fn random_query_strings_never_panic() {
    let mut rng = Rng(42);
    let objs = objects();
    for _ in 0..20_000 {
        let n = rng.below(5);
        let pairs: Vec<(String, String)> = (0..n)
            .map(|_| {
                let name = rng.pick(NAMES).to_string();
                let value = match rng.below(4) {
                    0 => rng
                        .pick(&["1", "0", "999", "1000", "true", "false", "-1", "", "x"])
                        .to_string(),
                    1 => {
                        let base = rng.clone_pick(CORPUS);
                        mutate(&mut rng, base)
                    }
                    2 => rng
                        .pick(&[
                            "id,displayName",
                            "displayName desc",
                            "a/b asc, c",
                            "*",
                            " ,",
                        ])
                        .to_string(),
                    _ => random_text(&mut rng),
                };
                (name, value)
            })
            .collect();
        let result = parse_query(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &Limits::default(),
        );
        if let Ok(q) = result {
            assert!((1..=999).contains(&q.top));
            let _ = q.validate_advanced(rng.chance(50));
            let mut page = objs.clone();
            sort(&mut page, &q.orderby);
            for o in &page {
                if let Some(f) = &q.filter {
                    let _ = f.matches(o);
                }
                if let Some(select) = &q.select {
                    let _ = apply_select(o, select);
                }
            }
        }
    }
}

impl Rng {
    fn clone_pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

// ---- random syntax trees: print, re-parse, compare ----

const PROPS: &[&str] = &[
    "a",
    "b",
    "displayName",
    "web",
    "redirectUris",
    "x",
    "Tags",
    "_u1",
    "appId",
];

fn gen_path(rng: &mut Rng, vars: &[String], allow_count: bool) -> Vec<String> {
    let mut path = Vec::new();
    if !vars.is_empty() && rng.chance(60) {
        path.push(rng.pick(vars).clone());
    } else {
        path.push(rng.pick(PROPS).to_string());
    }
    while rng.chance(30) {
        path.push(rng.pick(PROPS).to_string());
    }
    if allow_count && rng.chance(10) {
        path.push("$count".to_string());
    }
    path
}

fn gen_string(rng: &mut Rng) -> String {
    let pieces = [
        "",
        "x",
        "'",
        "''",
        " and ",
        "é",
        "✓",
        "(",
        ")",
        "%27",
        "Mixed Case",
        "\t",
    ];
    (0..rng.below(4)).map(|_| *rng.pick(&pieces)).collect()
}

fn gen_literal(rng: &mut Rng) -> Literal {
    match rng.below(8) {
        0 => Literal::String(gen_string(rng)),
        1 => {
            let hex = "0123456789abcdefABCDEF".as_bytes();
            let g: String = (0..36)
                .map(|i| match i {
                    8 | 13 | 18 | 23 => '-',
                    _ => *rng.pick(hex) as char,
                })
                .collect();
            Literal::Guid(g)
        }
        2 => Literal::Bool(rng.chance(50)),
        3 => Literal::Null,
        4 => Literal::Int(match rng.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => rng.next() as i64 % 1000,
        }),
        5 => Literal::Number(match rng.below(5) {
            0 => 1e300,
            1 => -0.5,
            2 => 1e-7,
            3 => 2.0,
            _ => (rng.next() % 100_000) as f64 / 7.0,
        }),
        6 => {
            let date = format!(
                "{:04}-{:02}-{:02}",
                1900 + rng.below(200),
                1 + rng.below(12),
                1 + rng.below(28)
            );
            let suffix = *rng.pick(&[
                "",
                "T00:00",
                "T23:59:59Z",
                "T12:00:00.123+02:00",
                "T01:02:03-05:30",
            ]);
            Literal::DateTime(format!("{date}{suffix}"))
        }
        _ => Literal::String("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
    }
}

fn gen_filter(rng: &mut Rng, depth: usize, vars: &mut Vec<String>) -> Filter {
    let leaf = depth == 0 || rng.chance(35);
    if leaf {
        return match rng.below(4) {
            0 => Filter::StartsWith {
                path: gen_path(rng, vars, false),
                prefix: gen_string(rng),
            },
            1 => Filter::EndsWith {
                path: gen_path(rng, vars, false),
                suffix: gen_string(rng),
            },
            2 => Filter::In {
                path: gen_path(rng, vars, true),
                values: (0..1 + rng.below(4)).map(|_| gen_literal(rng)).collect(),
            },
            _ => Filter::Cmp {
                path: gen_path(rng, vars, true),
                op: *rng.pick(&[
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Gt,
                    CmpOp::Ge,
                    CmpOp::Lt,
                    CmpOp::Le,
                ]),
                value: gen_literal(rng),
            },
        };
    }
    match rng.below(5) {
        0 => Filter::And(
            Box::new(gen_filter(rng, depth - 1, vars)),
            Box::new(gen_filter(rng, depth - 1, vars)),
        ),
        1 => Filter::Or(
            Box::new(gen_filter(rng, depth - 1, vars)),
            Box::new(gen_filter(rng, depth - 1, vars)),
        ),
        2 => Filter::Not(Box::new(gen_filter(rng, depth - 1, vars))),
        _ => {
            let collection = gen_path(rng, vars, false);
            let var = rng.pick(&["v", "w", "item", "x"]).to_string();
            vars.push(var.clone());
            let body = Box::new(gen_filter(rng, depth - 1, vars));
            vars.pop();
            if rng.chance(50) {
                Filter::Any {
                    collection,
                    var,
                    body,
                }
            } else {
                Filter::All {
                    collection,
                    var,
                    body,
                }
            }
        }
    }
}

fn to_or_chain(path: &[String], values: &[Literal]) -> Filter {
    let eq = |v: &Literal| Filter::Cmp {
        path: path.to_vec(),
        op: CmpOp::Eq,
        value: v.clone(),
    };
    let mut it = values.iter();
    let first = eq(it.next().expect("non-empty"));
    it.fold(first, |acc, v| Filter::Or(Box::new(acc), Box::new(eq(v))))
}

#[test]
fn random_trees_round_trip_and_agree() {
    let mut rng = Rng(7);
    let objs = objects();
    for _ in 0..5_000 {
        let depth = rng.below(6);
        let f = gen_filter(&mut rng, depth, &mut Vec::new());
        check_accepted(&f, &objs);
        // `not` is negation and `in` is a chain of `eq` on every object.
        let negated = Filter::Not(Box::new(f.clone()));
        for o in &objs {
            assert_eq!(negated.matches(o), !f.matches(o), "{f}");
        }
        if let Filter::In { path, values } = &f {
            let chain = to_or_chain(path, values);
            for o in &objs {
                assert_eq!(chain.matches(o), f.matches(o), "{f}");
            }
        }
    }
}

// ---- deep and long inputs ----

fn depth_error(max: usize) -> String {
    format!(
        "Invalid filter clause: The filter expression exceeds the maximum nesting depth of {max}."
    )
}

#[test]
fn hundred_thousand_parentheses() {
    const N: usize = 100_000;
    let open = "(".repeat(N);
    let balanced = format!("{open}a eq 1{}", ")".repeat(N));
    let unbounded = Limits {
        max_filter_len: usize::MAX,
        max_depth: usize::MAX,
        ..Limits::default()
    };
    // Run on a deliberately small stack: depth is bounded, not luck.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for text in [&open, &balanced] {
                // Default limits stop it on length...
                let e = Filter::parse(text, &Limits::default()).unwrap_err();
                assert_eq!(e.code, codes::BAD_REQUEST);
                assert!(
                    e.message.contains("maximum length of 4096"),
                    "{}",
                    e.message
                );
                // ...and without a length limit, on depth, capped at MAX_DEPTH_CAP.
                let e = Filter::parse(text, &unbounded).unwrap_err();
                assert_eq!(
                    (e.code, e.message.clone()),
                    (codes::BAD_REQUEST, depth_error(MAX_DEPTH_CAP))
                );
            }
            let nots = format!("{}a eq 1", "not ".repeat(N));
            let e = Filter::parse(&nots, &unbounded).unwrap_err();
            assert_eq!(e.message, depth_error(MAX_DEPTH_CAP));
            let lambdas = format!("{}x eq 1{}", "c/any(x:".repeat(N), ")".repeat(N));
            let e = Filter::parse(&lambdas, &unbounded).unwrap_err();
            assert_eq!(e.message, depth_error(MAX_DEPTH_CAP));
            let closers = ")".repeat(N);
            let e = Filter::parse(&closers, &unbounded).unwrap_err();
            assert_eq!(
                e.message,
                format!("Invalid filter clause: Syntax error at position 0 in '{closers}'.")
            );
            // The deepest accepted nesting parses, evaluates, prints and drops fine.
            let deepest = format!(
                "{}a eq 1{}",
                "(not ".repeat(MAX_DEPTH_CAP / 2),
                ")".repeat(MAX_DEPTH_CAP / 2)
            );
            let f = Filter::parse(&deepest, &unbounded).unwrap();
            assert!(f.matches(&json!({"a": 1})));
            assert_eq!(Filter::parse(&f.to_string(), &unbounded).unwrap(), f);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn long_chains_are_capped() {
    let unbounded = Limits {
        max_filter_len: usize::MAX,
        max_or_clauses: usize::MAX,
        ..Limits::default()
    };
    let chain = |n: usize, op: &str| {
        (0..n)
            .map(|i| format!("a eq {i}"))
            .collect::<Vec<_>>()
            .join(op)
    };
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            // 256 clauses: accepted, evaluated, printed, compared, debug-printed
            // and dropped without trouble.
            for op in [" and ", " or "] {
                let f = Filter::parse(&chain(MAX_TREE_HEIGHT, op), &unbounded).unwrap();
                let _ = f.matches(&json!({"a": 255}));
                let _ = format!("{f} {f:?}");
                assert_eq!(f.clone(), f);
            }
            let e = Filter::parse(&chain(MAX_TREE_HEIGHT + 2, " or "), &unbounded).unwrap_err();
            assert!(e.message.contains("too complex"), "{}", e.message);
            // Beyond the tree-height cap: a Graph-shaped error, not a stack overflow.
            let e = Filter::parse(&chain(5000, " and "), &unbounded).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                (
                    codes::BAD_REQUEST,
                    "Invalid filter clause: The filter expression is too complex; it exceeds 256 nested clauses."
                )
            );
        })
        .unwrap()
        .join()
        .unwrap();
    // With the default limits the length limit comes first.
    let e = Filter::parse(&chain(5000, " and "), &Limits::default()).unwrap_err();
    assert!(e.message.contains("maximum length"));
}
