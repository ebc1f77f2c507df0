//! Every error path: input, expected Graph error code and message.

use hale_odata::{Filter, Limits, ODataError, codes, parse_query};

const BAD: &str = codes::BAD_REQUEST;
const UNSUPPORTED: &str = codes::REQUEST_UNSUPPORTED_QUERY;
const REQ_BAD: &str = codes::REQUEST_BAD_REQUEST;

fn syntax(pos: usize, text: &str) -> String {
    format!("Invalid filter clause: Syntax error at position {pos} in '{text}'.")
}

fn filter_err(text: &str, limits: &Limits) -> ODataError {
    match Filter::parse(text, limits) {
        Ok(f) => panic!("{text:?} parsed as {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn filter_syntax_errors() {
    let cases: Vec<(&str, &str, String)> = vec![
        ("", BAD, syntax(0, "")),
        ("   ", BAD, syntax(3, "   ")),
        ("displayName eq", BAD, syntax(14, "displayName eq")),
        ("displayName 'x'", BAD, syntax(12, "displayName 'x'")),
        ("displayName", BAD, syntax(11, "displayName")),
        ("(a eq 1", BAD, syntax(7, "(a eq 1")),
        ("a eq 1)", BAD, syntax(6, "a eq 1)")),
        ("a eq 1 and", BAD, syntax(10, "a eq 1 and")),
        ("a eq 1 xor b eq 2", BAD, syntax(7, "a eq 1 xor b eq 2")),
        ("a eq 1 or or b eq 1", BAD, syntax(10, "a eq 1 or or b eq 1")),
        ("eq eq 1", BAD, syntax(0, "eq eq 1")),
        ("not", BAD, syntax(3, "not")),
        ("a eq 1 and not", BAD, syntax(14, "a eq 1 and not")),
        ("a eq b", BAD, syntax(5, "a eq b")),
        ("a eq 1e999", BAD, syntax(5, "a eq 1e999")),
        ("'x' eq a", BAD, syntax(0, "'x' eq a")),
        ("a in ()", BAD, syntax(6, "a in ()")),
        ("a in ('x' 'y')", BAD, syntax(10, "a in ('x' 'y')")),
        ("a in 'x'", BAD, syntax(5, "a in 'x'")),
        ("a/ eq 1", BAD, syntax(3, "a/ eq 1")),
        ("a/$count/b eq 1", BAD, syntax(8, "a/$count/b eq 1")),
        ("a/$foo eq 1", BAD, syntax(2, "a/$foo eq 1")),
        ("$it eq 1", BAD, syntax(0, "$it eq 1")),
        ("$count eq 1", BAD, syntax(0, "$count eq 1")),
        ("a/$count/any(x:x eq 1)", BAD, syntax(8, "a/$count/any(x:x eq 1)")),
        ("identifierUris/any(x x eq 1)", BAD, syntax(21, "identifierUris/any(x x eq 1)")),
        ("identifierUris/any()", BAD, syntax(19, "identifierUris/any()")),
        ("identifierUris/any(x:)", BAD, syntax(21, "identifierUris/any(x:)")),
        ("identifierUris/any(eq:eq eq 1)", BAD, syntax(19, "identifierUris/any(eq:eq eq 1)")),
        ("identifierUris/any(x:x eq 1", BAD, syntax(27, "identifierUris/any(x:x eq 1")),
        ("a/any(x:x eq 1) eq true", BAD, syntax(16, "a/any(x:x eq 1) eq true")),
        ("startswith(displayName, 1)", BAD, syntax(24, "startswith(displayName, 1)")),
        ("startswith(displayName)", BAD, syntax(22, "startswith(displayName)")),
        ("startswith('x', displayName)", BAD, syntax(11, "startswith('x', displayName)")),
        ("startswith(a/$count,'x')", BAD, syntax(11, "startswith(a/$count,'x')")),
        ("startswith(a/any(x:x eq 1),'x')", BAD, syntax(13, "startswith(a/any(x:x eq 1),'x')")),
        ("startswith(a,'x'", BAD, syntax(16, "startswith(a,'x'")),
        ("eq(a, 'x')", BAD, syntax(0, "eq(a, 'x')")),
        // Lexical errors.
        (
            "a eq #",
            BAD,
            "Invalid filter clause: Syntax error: character '#' is not valid at position 5 in 'a eq #'."
                .into(),
        ),
        (
            "a eq -",
            BAD,
            "Invalid filter clause: Syntax error: character '-' is not valid at position 5 in 'a eq -'."
                .into(),
        ),
        (
            "startswith(displayName,%27Kamolika%27)",
            BAD,
            "Invalid filter clause: Syntax error: character '%' is not valid at position 23 in 'startswith(displayName,%27Kamolika%27)'."
                .into(),
        ),
        (
            "é eq 1",
            BAD,
            "Invalid filter clause: Syntax error: character 'é' is not valid at position 0 in 'é eq 1'."
                .into(),
        ),
        (
            "a eq 'x",
            BAD,
            "Invalid filter clause: There is an unterminated string literal at position 5 in 'a eq 'x'."
                .into(),
        ),
        (
            "a eq 'it''s",
            BAD,
            "Invalid filter clause: There is an unterminated string literal at position 5 in 'a eq 'it''s'."
                .into(),
        ),
        // Functions and operators the directory does not implement.
        ("contains(displayName,'x')", UNSUPPORTED, "Unsupported query.".into()),
        ("tolower(displayName) eq 'x'", UNSUPPORTED, "Unsupported query.".into()),
        ("tags has 'x'", UNSUPPORTED, "Unsupported query.".into()),
        (
            "foo(displayName)",
            BAD,
            "Invalid filter clause: An unknown function with name 'foo' was found.".into(),
        ),
    ];
    for (text, code, message) in cases {
        let err = filter_err(text, &Limits::default());
        assert_eq!(
            (err.code, err.message.as_str()),
            (code, message.as_str()),
            "{text:?}"
        );
        assert_eq!(err.status(), 400);
    }
}

fn or_chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("appId eq 'a{i}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn in_list(n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| format!("'v{i}'")).collect();
    format!("appId in ({})", values.join(","))
}

#[test]
fn filter_limit_errors() {
    let d = Limits::default();
    let too_many = |n: usize| {
        format!(
            "Too many child clauses specified in search filter expression containing 'OR' operators: {n}. Max allowed: 15."
        )
    };
    let long = format!("displayName eq '{}'", "x".repeat(4096));
    let deep = format!("{}a eq 1{}", "(".repeat(33), ")".repeat(33));
    let nots = format!("{}a eq 1", "not ".repeat(33));
    let lambdas = {
        let mut s = String::from("v32 eq 1");
        for i in (0..32).rev() {
            s = format!("c/any(v{i}:{s})");
        }
        s
    };
    let cases: Vec<(String, &str, String)> = vec![
        (
            long,
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum length of 4096 characters."
                .into(),
        ),
        (
            deep,
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum nesting depth of 32."
                .into(),
        ),
        (
            nots,
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum nesting depth of 32."
                .into(),
        ),
        (
            format!("c/any(v:{lambdas})"),
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum nesting depth of 32."
                .into(),
        ),
        (in_list(16), UNSUPPORTED, too_many(16)),
        (in_list(40), UNSUPPORTED, too_many(40)),
        (or_chain(16), UNSUPPORTED, too_many(16)),
        // Parentheses do not split an `or` cluster.
        (format!("({}) or (x eq 1 or y eq 2)", or_chain(14)), UNSUPPORTED, too_many(16)),
        // Every value of an `in` list counts as one clause of the cluster.
        (format!("{} or {}", in_list(10), or_chain(6)), UNSUPPORTED, too_many(16)),
        // Clusters nested under `and`, `not` and lambdas are checked too.
        (format!("a eq 1 and not ({})", or_chain(16)), UNSUPPORTED, too_many(16)),
        (format!("c/any(x:{})", or_chain(16)), UNSUPPORTED, too_many(16)),
    ];
    for (text, code, message) in cases {
        let err = filter_err(&text, &d);
        assert_eq!(
            (err.code, err.message.as_str()),
            (code, message.as_str()),
            "{text:.80}"
        );
    }
    // At the limits everything is accepted.
    for ok in [
        in_list(15),
        or_chain(15),
        format!("{} or {}", in_list(10), or_chain(5)),
        format!("({}) and ({})", or_chain(15), or_chain(15)),
        format!("{}a eq 1{}", "(".repeat(32), ")".repeat(32)),
        format!("{}a eq 1", "not ".repeat(32)),
        format!("displayName eq '{}'", "x".repeat(4096 - 17)),
    ] {
        assert!(Filter::parse(&ok, &d).is_ok(), "{ok:.80}");
    }
    // The limits are configurable.
    let strict = Limits {
        max_filter_len: 12,
        max_in_values: 2,
        max_or_clauses: 3,
        max_depth: 1,
        ..Limits::default()
    };
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "displayName eq 'x'",
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum length of 12 characters."
                .into(),
        ),
        (
            "a in (1,2,3)",
            UNSUPPORTED,
            "Too many child clauses specified in search filter expression containing 'OR' operators: 3. Max allowed: 2."
                .into(),
        ),
        (
            "((a eq 1))",
            BAD,
            "Invalid filter clause: The filter expression exceeds the maximum nesting depth of 1."
                .into(),
        ),
    ];
    for (text, code, message) in cases {
        let err = filter_err(text, &strict);
        assert_eq!(
            (err.code, err.message.as_str()),
            (code, message.as_str()),
            "{text:?}"
        );
    }
    let roomy = Limits {
        max_filter_len: usize::MAX,
        max_in_values: 100,
        max_or_clauses: 3,
        ..Limits::default()
    };
    let err = filter_err("a in (1,2) or b eq 1 or c eq 1", &roomy);
    assert_eq!(
        err.message,
        "Too many child clauses specified in search filter expression containing 'OR' operators: 4. Max allowed: 3."
    );
}

#[test]
fn query_option_errors() {
    let d = Limits::default();
    let page = |raw: &str| {
        format!("Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive.")
    };
    let top_value = |raw: &str| {
        format!(
            "Invalid value '{raw}' for $top query option found. The $top query option requires a non-negative integer value."
        )
    };
    let dup = |name: &str| {
        format!(
            "Query option '{name}' was specified more than once, but it must be specified at most once."
        )
    };
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, String);
    let cases: Vec<Case> = vec![
        (vec![("$top", "0")], UNSUPPORTED, page("0")),
        (vec![("$top", "1000")], UNSUPPORTED, page("1000")),
        (vec![("$top", "0999999")], UNSUPPORTED, page("0999999")),
        (vec![("top", "5000")], UNSUPPORTED, page("5000")),
        (vec![("$top", "abc")], BAD, top_value("abc")),
        (vec![("$top", "-1")], BAD, top_value("-1")),
        (vec![("$top", "+5")], BAD, top_value("+5")),
        (vec![("$top", " 5")], BAD, top_value(" 5")),
        (vec![("$top", "")], BAD, top_value("")),
        (vec![("$top", "1.5")], BAD, top_value("1.5")),
        (
            vec![("$top", "99999999999999999999999")],
            BAD,
            top_value("99999999999999999999999"),
        ),
        (
            vec![("$count", "yes")],
            BAD,
            "'yes' is not a valid count option.".into(),
        ),
        (
            vec![("$count", "")],
            BAD,
            "'' is not a valid count option.".into(),
        ),
        (
            vec![("$count", "1")],
            BAD,
            "'1' is not a valid count option.".into(),
        ),
        (
            vec![("$filter", "a eq 1"), ("$filter", "b eq 1")],
            BAD,
            dup("$filter"),
        ),
        (
            vec![("$filter", "a eq 1"), ("filter", "b eq 1")],
            BAD,
            dup("$filter"),
        ),
        (vec![("$Top", "1"), ("top", "2")], BAD, dup("$top")),
        (
            vec![("$select", "id"), ("$SELECT", "id")],
            BAD,
            dup("$select"),
        ),
        (
            vec![("$orderby", "id"), ("$orderBy", "id")],
            BAD,
            dup("$orderby"),
        ),
        (
            vec![("$count", "true"), ("count", "true")],
            BAD,
            dup("$count"),
        ),
        (
            vec![("$skiptoken", "a"), ("$skipToken", "b")],
            BAD,
            dup("$skiptoken"),
        ),
        (
            vec![("$search", "\"a\""), ("search", "\"b\"")],
            BAD,
            dup("$search"),
        ),
        (
            vec![("$foo", "1")],
            BAD,
            "The query parameter '$foo' is not supported.".into(),
        ),
        (
            vec![("$apply", "x")],
            BAD,
            "The query parameter '$apply' is not supported.".into(),
        ),
        (
            vec![("$", "x")],
            BAD,
            "The query parameter '$' is not supported.".into(),
        ),
        (
            vec![("$skip", "10")],
            REQ_BAD,
            "'$skip' is not supported by the service.".into(),
        ),
        (
            vec![("skip", "10")],
            REQ_BAD,
            "'$skip' is not supported by the service.".into(),
        ),
        (
            vec![("$format", "xml")],
            BAD,
            "The requested $format 'xml' is not supported.".into(),
        ),
        (vec![("$filter", "a eq")], BAD, syntax(4, "a eq")),
        (
            vec![("$select", "a,,b")],
            BAD,
            "Parsing OData Select and Expand failed: Syntax error at position 2 in 'a,,b'.".into(),
        ),
        (
            vec![("$select", "a/b")],
            BAD,
            "Parsing OData Select and Expand failed: Syntax error at position 1 in 'a/b'.".into(),
        ),
        (
            vec![("$select", "a b")],
            BAD,
            "Parsing OData Select and Expand failed: Syntax error at position 2 in 'a b'.".into(),
        ),
        (
            vec![("$select", "id,")],
            BAD,
            "Parsing OData Select and Expand failed: Syntax error at position 3 in 'id,'.".into(),
        ),
        (
            vec![("$select", "$count")],
            BAD,
            "Parsing OData Select and Expand failed: Syntax error at position 0 in '$count'."
                .into(),
        ),
        (
            vec![("$orderby", "displayName sideways")],
            BAD,
            "Syntax error at position 12 in 'displayName sideways'.".into(),
        ),
        (
            vec![("$orderby", "")],
            BAD,
            "Syntax error at position 0 in ''.".into(),
        ),
        (
            vec![("$orderby", "a,")],
            BAD,
            "Syntax error at position 2 in 'a,'.".into(),
        ),
        (
            vec![("$orderby", "a desc desc")],
            BAD,
            "Syntax error at position 7 in 'a desc desc'.".into(),
        ),
        (
            vec![("$orderby", "a/")],
            BAD,
            "Syntax error at position 2 in 'a/'.".into(),
        ),
        (
            vec![("$orderby", "a;b")],
            BAD,
            "Syntax error at position 1 in 'a;b'.".into(),
        ),
    ];
    for (pairs, code, message) in cases {
        let err = parse_query(pairs.iter().copied(), &d).expect_err(&format!("{pairs:?}"));
        assert_eq!(
            (err.code, err.message.as_str()),
            (code, message.as_str()),
            "{pairs:?}"
        );
    }
    // A custom max_top is reflected in the message.
    let err = parse_query([("$top", "51")], &Limits { max_top: 50, ..d }).unwrap_err();
    assert_eq!(
        err.message,
        "Invalid page size specified: '51'. Must be between 1 and 50 inclusive."
    );
}

#[test]
fn first_error_in_input_order_wins() {
    let err = parse_query([("$top", "0"), ("$filter", "bad")], &Limits::default()).unwrap_err();
    assert_eq!(err.code, UNSUPPORTED);
    let err = parse_query([("$filter", "bad"), ("$top", "0")], &Limits::default()).unwrap_err();
    assert_eq!(err.code, BAD);
}

#[test]
fn public_constructors() {
    let cases: Vec<(ODataError, &str, &str)> = vec![
        (
            ODataError::unsupported_filter_property("createdDateTime", "Group"),
            UNSUPPORTED,
            "Unsupported or invalid query filter clause specified for property 'createdDateTime' of resource 'Group'.",
        ),
        (
            ODataError::unsupported_sort_property("createdDateTime", "User"),
            UNSUPPORTED,
            "Unsupported sort property 'createdDateTime' for 'User'.",
        ),
        (
            ODataError::sorting_not_supported(),
            UNSUPPORTED,
            "Sorting not supported for current query.",
        ),
        (
            ODataError::advanced_query_required("ne"),
            UNSUPPORTED,
            "Unsupported property filter clause operator 'NotEqualsMatch'.",
        ),
        (
            ODataError::advanced_query_required("endsWith"),
            UNSUPPORTED,
            "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
        ),
        (
            ODataError::search_requires_consistency_level(),
            UNSUPPORTED,
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ),
        (
            ODataError::count_segment_not_supported(),
            REQ_BAD,
            "$count is not currently supported.",
        ),
        (
            ODataError::select_property_not_found("foo", "microsoft.graph.application"),
            BAD,
            "Parsing OData Select and Expand failed: Could not find a property named 'foo' on type 'microsoft.graph.application'.",
        ),
        (
            ODataError::unsupported_query(),
            UNSUPPORTED,
            "Unsupported query.",
        ),
    ];
    for (err, code, message) in cases {
        assert_eq!((err.code, err.message.as_str()), (code, message));
    }
    let e = ODataError::new(BAD, "boom");
    assert_eq!(e.to_string(), "BadRequest: boom");
    assert_eq!(
        e.to_json(),
        serde_json::json!({"error": {"code": "BadRequest", "message": "boom"}})
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert_eq!(boxed.to_string(), "BadRequest: boom");
}
