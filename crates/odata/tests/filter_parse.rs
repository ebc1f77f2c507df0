//! `$filter` text → syntax tree, input and expected tree side by side.

use hale_odata::{CmpOp, Filter, Limits, Literal};

fn p(path: &str) -> Vec<String> {
    path.split('/').map(str::to_string).collect()
}

fn cmp(path: &str, op: CmpOp, value: Literal) -> Filter {
    Filter::Cmp {
        path: p(path),
        op,
        value,
    }
}

fn s(v: &str) -> Literal {
    Literal::String(v.to_string())
}

fn eq(path: &str, value: Literal) -> Filter {
    cmp(path, CmpOp::Eq, value)
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn any(collection: &str, var: &str, body: Filter) -> Filter {
    Filter::Any {
        collection: p(collection),
        var: var.to_string(),
        body: Box::new(body),
    }
}

fn starts(path: &str, prefix: &str) -> Filter {
    Filter::StartsWith {
        path: p(path),
        prefix: prefix.to_string(),
    }
}

fn parse(text: &str) -> Filter {
    Filter::parse(text, &Limits::default()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn check(cases: Vec<(&str, Filter)>) {
    for (text, want) in cases {
        let got = parse(text);
        assert_eq!(got, want, "parsing {text:?}");
        // The canonical text form parses back to the same tree.
        let canon = got.to_string();
        assert_eq!(parse(&canon), want, "re-parsing {canon:?} (from {text:?})");
    }
}

#[test]
fn comparison_operators() {
    use CmpOp::*;
    check(vec![
        ("displayName eq 'x'", cmp("displayName", Eq, s("x"))),
        ("displayName ne 'x'", cmp("displayName", Ne, s("x"))),
        ("n gt 1", cmp("n", Gt, Literal::Int(1))),
        ("n ge -1", cmp("n", Ge, Literal::Int(-1))),
        ("n lt 2.5", cmp("n", Lt, Literal::Number(2.5))),
        ("n le 1e3", cmp("n", Le, Literal::Number(1000.0))),
        (
            "accountEnabled eq true",
            eq("accountEnabled", Literal::Bool(true)),
        ),
        (
            "accountEnabled eq false",
            eq("accountEnabled", Literal::Bool(false)),
        ),
        ("companyName eq null", eq("companyName", Literal::Null)),
        ("companyName ne null", cmp("companyName", Ne, Literal::Null)),
    ]);
}

#[test]
fn literals() {
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    check(vec![
        // GUIDs appear bare and quoted.
        (
            "appOwnerOrganizationId eq 72f988bf-86f1-41af-91ab-2d7cd011db47",
            eq("appOwnerOrganizationId", Literal::Guid(guid.into())),
        ),
        (
            "appId eq '72f988bf-86f1-41af-91ab-2d7cd011db47'",
            eq("appId", s(guid)),
        ),
        // A GUID may start with a letter.
        (
            "appId eq f5289423-7233-4d60-831a-fe107a8551cc",
            eq(
                "appId",
                Literal::Guid("f5289423-7233-4d60-831a-fe107a8551cc".into()),
            ),
        ),
        (
            "appId eq 2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2",
            eq(
                "appId",
                Literal::Guid("2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2".into()),
            ),
        ),
        // Dates and date-time-offsets are bare.
        (
            "createdDateTime ge 2021-01-02T12:00:00Z",
            cmp(
                "createdDateTime",
                CmpOp::Ge,
                Literal::DateTime("2021-01-02T12:00:00Z".into()),
            ),
        ),
        (
            "createdDateTime lt 2017-05-01",
            cmp(
                "createdDateTime",
                CmpOp::Lt,
                Literal::DateTime("2017-05-01".into()),
            ),
        ),
        (
            "d eq 2021-01-02T12:00:00.123+02:00",
            eq(
                "d",
                Literal::DateTime("2021-01-02T12:00:00.123+02:00".into()),
            ),
        ),
        // Quoted date-times stay strings.
        (
            "start/dateTime ge '2017-07-01T08:00'",
            cmp("start/dateTime", CmpOp::Ge, s("2017-07-01T08:00")),
        ),
        // Escaped quotes.
        (
            "subject eq 'let''s meet for lunch?'",
            eq("subject", s("let's meet for lunch?")),
        ),
        ("x eq ''''", eq("x", s("'"))),
        ("x eq ''", eq("x", s(""))),
        ("x eq 'a''''b'", eq("x", s("a''b"))),
        // Everything inside quotes is literal, keywords and parentheses included.
        ("x eq ' and (or) not '", eq("x", s(" and (or) not "))),
        ("x eq 'Ünïcødé ✓'", eq("x", s("Ünïcødé ✓"))),
        // Keyword literals are case-insensitive.
        ("x eq TRUE", eq("x", Literal::Bool(true))),
        ("x eq Null", eq("x", Literal::Null)),
        // Numbers that overflow i64 become floating point.
        ("x eq 99999999999999999999", eq("x", Literal::Number(1e20))),
        ("x eq -9223372036854775808", eq("x", Literal::Int(i64::MIN))),
    ]);
}

#[test]
fn paths_and_count_segments() {
    check(vec![
        (
            "api/requestedAccessTokenVersion eq 2",
            eq("api/requestedAccessTokenVersion", Literal::Int(2)),
        ),
        ("web / homePageUrl eq 'x'", eq("web/homePageUrl", s("x"))),
        (
            "assignedLicenses/$count eq 0",
            eq("assignedLicenses/$count", Literal::Int(0)),
        ),
        (
            "owners/$COUNT ne 1",
            cmp("owners/$count", CmpOp::Ne, Literal::Int(1)),
        ),
        ("_x_1 eq 1", eq("_x_1", Literal::Int(1))),
        (
            "extension_abc123_dept eq 'x'",
            eq("extension_abc123_dept", s("x")),
        ),
    ]);
}

#[test]
fn functions_in_and_lambdas() {
    check(vec![
        ("startswith(displayName,'a')", starts("displayName", "a")),
        (
            "startsWith( displayName , 'Box' )",
            starts("displayName", "Box"),
        ),
        (
            "endswith(mail,'@outlook.com')",
            Filter::EndsWith {
                path: p("mail"),
                suffix: "@outlook.com".into(),
            },
        ),
        (
            "startswith(displayName,'a') eq true",
            starts("displayName", "a"),
        ),
        (
            "startswith(displayName,'a') eq false",
            not(starts("displayName", "a")),
        ),
        (
            "startswith(displayName,'a') ne false",
            starts("displayName", "a"),
        ),
        (
            "department in ('Retail', 'Sales')",
            Filter::In {
                path: p("department"),
                values: vec![s("Retail"), s("Sales")],
            },
        ),
        (
            "companyName in (null, 'Microsoft')",
            Filter::In {
                path: p("companyName"),
                values: vec![Literal::Null, s("Microsoft")],
            },
        ),
        (
            "identifierUris/any(x:x eq 'api://foo')",
            any("identifierUris", "x", eq("x", s("api://foo"))),
        ),
        (
            "web/redirectUris/any(u:startswith(u,'https://'))",
            any("web/redirectUris", "u", starts("u", "https://")),
        ),
        (
            "requiredResourceAccess/any(r: r/resourceAppId eq 00000003-0000-0000-c000-000000000000)",
            any(
                "requiredResourceAccess",
                "r",
                eq(
                    "r/resourceAppId",
                    Literal::Guid("00000003-0000-0000-c000-000000000000".into()),
                ),
            ),
        ),
        // Nested lambdas, each variable in its own scope.
        (
            "requiredResourceAccess/any(r:r/resourceAccess/any(a:a/type eq 'Scope'))",
            any(
                "requiredResourceAccess",
                "r",
                any("r/resourceAccess", "a", eq("a/type", s("Scope"))),
            ),
        ),
        (
            "assignedPlans/any(a:a/servicePlanId eq 2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2 and a/capabilityStatus eq 'Suspended')",
            any(
                "assignedPlans",
                "a",
                and(
                    eq(
                        "a/servicePlanId",
                        Literal::Guid("2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2".into()),
                    ),
                    eq("a/capabilityStatus", s("Suspended")),
                ),
            ),
        ),
        (
            "tags/ALL(t: startswith(t, 'x'))",
            Filter::All {
                collection: p("tags"),
                var: "t".into(),
                body: Box::new(starts("t", "x")),
            },
        ),
        (
            "proxyAddresses/any (p:endsWith(p, 'OnMicrosoft.com'))",
            any(
                "proxyAddresses",
                "p",
                Filter::EndsWith {
                    path: p("p"),
                    suffix: "OnMicrosoft.com".into(),
                },
            ),
        ),
    ]);
}

#[test]
fn precedence_parentheses_and_not() {
    let a = || eq("a", Literal::Int(1));
    let b = || eq("b", Literal::Int(2));
    let c = || eq("c", Literal::Int(3));
    check(vec![
        // and binds tighter than or, on either side.
        ("a eq 1 or b eq 2 and c eq 3", or(a(), and(b(), c()))),
        ("a eq 1 and b eq 2 or c eq 3", or(and(a(), b()), c())),
        // Chains are left-associative.
        ("a eq 1 and b eq 2 and c eq 3", and(and(a(), b()), c())),
        ("a eq 1 or b eq 2 or c eq 3", or(or(a(), b()), c())),
        // Parentheses override.
        ("(a eq 1 or b eq 2) and c eq 3", and(or(a(), b()), c())),
        ("a eq 1 and (b eq 2 or c eq 3)", and(a(), or(b(), c()))),
        ("((((a eq 1))))", a()),
        // not applies to the comparison after it, and binds tighter than and/or.
        ("not a eq 1", not(a())),
        ("not(a eq 1)", not(a())),
        ("NOT (a eq 1) and b eq 2", and(not(a()), b())),
        ("not a eq 1 or b eq 2", or(not(a()), b())),
        ("not (a eq 1 or b eq 2)", not(or(a(), b()))),
        ("not not a eq 1", not(not(a()))),
        (
            "NOT groupTypes/any(c:c eq 'Unified')",
            not(any("groupTypes", "c", eq("c", s("Unified")))),
        ),
        (
            "NOT startsWith(displayName, 'Conf')",
            not(starts("displayName", "Conf")),
        ),
        (
            "companyName ne null and NOT(companyName eq 'Microsoft')",
            and(
                cmp("companyName", CmpOp::Ne, Literal::Null),
                not(eq("companyName", s("Microsoft"))),
            ),
        ),
    ]);
}

#[test]
fn keywords_and_whitespace() {
    let want = or(
        and(eq("a", Literal::Int(1)), starts("b", "x")),
        any("c", "v", eq("v", s("y"))),
    );
    for text in [
        "a eq 1 and startswith(b,'x') or c/any(v:v eq 'y')",
        "a EQ 1 AND StartsWith(b,'x') OR c/Any(v:v Eq 'y')",
        "  a\teq\t1\r\nand\nstartswith( b , 'x' )   or   c / any ( v : v eq 'y' )  ",
        "(a eq 1)and(startswith(b,'x'))or(c/any(v:v eq 'y'))",
    ] {
        assert_eq!(parse(text), want, "{text:?}");
    }
}

#[test]
fn display_is_canonical() {
    let cases = [
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"),
        (
            "(a eq 1 or b eq 2) and c eq 3",
            "(a eq 1 or b eq 2) and c eq 3",
        ),
        (
            "a eq 1 and (b eq 2 and c eq 3)",
            "a eq 1 and (b eq 2 and c eq 3)",
        ),
        ("NOT startsWith(x, 'it''s')", "not (startswith(x,'it''s'))"),
        ("x in ( 1 , 2.0 , 'a' )", "x in (1,2.0,'a')"),
        ("X/ANY( v : v EQ 2021-01-02 )", "X/any(v:v eq 2021-01-02)"),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).to_string(), want, "{text:?}");
    }
}

#[test]
fn properties_and_paths() {
    // (filter, properties(), property_paths(), advanced_features())
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        ("appId eq 'x'", vec!["appId"], vec!["appId"], vec![]),
        (
            "web/redirectUris/any(u:startswith(u,'https://')) and displayName ne 'x'",
            vec!["web", "displayName"],
            vec!["web/redirectUris", "displayName"],
            vec!["ne"],
        ),
        (
            "requiredResourceAccess/any(r:r/resourceAccess/any(a:a/id eq 1) and appId eq 'z')",
            vec!["requiredResourceAccess", "appId"],
            vec![
                "requiredResourceAccess",
                "requiredResourceAccess/resourceAccess",
                "requiredResourceAccess/resourceAccess/id",
                "appId",
            ],
            vec![],
        ),
        (
            "not(endswith(mail,'x')) or assignedLicenses/$count eq 0 or mail eq 'y'",
            vec!["mail", "assignedLicenses"],
            vec!["mail", "assignedLicenses/$count"],
            vec!["not", "endsWith", "$count"],
        ),
        // Outside its lambda, a variable name is an ordinary property.
        (
            "tags/any(x:x eq 'a') and x eq 'b'",
            vec!["tags", "x"],
            vec!["tags", "x"],
            vec![],
        ),
    ];
    for (text, props, paths, features) in cases {
        let f = parse(text);
        assert_eq!(f.properties(), props, "properties of {text:?}");
        assert_eq!(f.property_paths(), paths, "paths of {text:?}");
        assert_eq!(f.advanced_features(), features, "features of {text:?}");
    }
    assert!(parse("a/all(x:x eq 1)").uses_all());
    assert!(parse("not (b eq 1 or a/any(y:y/z/all(x:x eq 1)))").uses_all());
    assert!(!parse("a/any(x:x eq 1)").uses_all());
}
