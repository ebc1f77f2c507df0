//! `parse_query`, advanced-query rules, `$select` and `$orderby`.

use hale_odata::{
    Filter, Limits, ODataError, OrderBy, Query, apply_select, parse_query, sort, validate_select,
};
use serde_json::{Value, json};

fn q(pairs: &[(&str, &str)]) -> Query {
    parse_query(pairs.iter().copied(), &Limits::default())
        .unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
}

fn ob(path: &str, descending: bool) -> OrderBy {
    OrderBy {
        path: path.split('/').map(str::to_string).collect(),
        descending,
    }
}

fn names(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn defaults() {
    let query = q(&[]);
    assert_eq!(
        query,
        Query {
            filter: None,
            select: None,
            top: 100,
            top_specified: false,
            count: false,
            orderby: vec![],
            skiptoken: None,
            search: None,
            expand: None,
        }
    );
    let custom = parse_query(
        [],
        &Limits {
            default_top: 7,
            ..Limits::default()
        },
    )
    .unwrap();
    assert_eq!(custom.top, 7);
}

#[test]
fn option_names_and_values() {
    let limits = Limits::default();
    let f = |s: &str| Some(Filter::parse(s, &limits).unwrap());
    let cases: Vec<(Vec<(&str, &str)>, Query)> = vec![
        (
            vec![
                ("$filter", "appId eq 'x'"),
                ("$select", "id, displayName ,appId"),
                ("$top", "999"),
                ("$count", "true"),
                ("$orderby", "displayName desc, createdDateTime"),
                ("$skiptoken", "X'4453707402'"),
                ("$search", "\"displayName:Web\""),
                ("$expand", "owners"),
            ],
            Query {
                filter: f("appId eq 'x'"),
                select: names(&["id", "displayName", "appId"]),
                top: 999,
                top_specified: true,
                count: true,
                orderby: vec![ob("displayName", true), ob("createdDateTime", false)],
                skiptoken: Some("X'4453707402'".into()),
                search: Some("\"displayName:Web\"".into()),
                expand: Some("owners".into()),
            },
        ),
        // Without `$`, and in any case.
        (
            vec![
                ("filter", "appId eq 'x'"),
                ("SELECT", "id"),
                ("Top", "1"),
                ("COUNT", "TRUE"),
                ("orderBy", "displayName ASC"),
                ("skipToken", "t"),
                ("Search", "s"),
            ],
            Query {
                filter: f("appId eq 'x'"),
                select: names(&["id"]),
                top: 1,
                top_specified: true,
                count: true,
                orderby: vec![ob("displayName", false)],
                skiptoken: Some("t".into()),
                search: Some("s".into()),
                expand: None,
            },
        ),
        (
            vec![("$Filter", "a eq 1"), ("$TOP", "5"), ("$count", "false")],
            Query {
                filter: f("a eq 1"),
                top: 5,
                top_specified: true,
                ..q(&[])
            },
        ),
        // Custom (non-`$`) parameters are ignored; `$format=json` is accepted.
        (
            vec![
                ("api-version", "1.6"),
                ("foo", "bar"),
                ("$format", "JSON"),
                ("", "x"),
            ],
            q(&[]),
        ),
        // `$select`: empty or `*` means every property; duplicates collapse.
        (vec![("$select", "")], q(&[])),
        (vec![("$select", " * ")], q(&[])),
        (vec![("$select", "id,*")], q(&[])),
        (
            vec![("$select", "id,ID,displayName,Id")],
            Query {
                select: names(&["id", "displayName"]),
                ..q(&[])
            },
        ),
        (vec![("$expand", "")], q(&[])),
        (
            vec![("$orderby", " web/homePageUrl  desc ,id asc ")],
            Query {
                orderby: vec![ob("web/homePageUrl", true), ob("id", false)],
                ..q(&[])
            },
        ),
    ];
    for (pairs, want) in cases {
        let got = parse_query(pairs.iter().copied(), &limits)
            .unwrap_or_else(|e| panic!("{pairs:?}: {e}"));
        assert_eq!(got, want, "{pairs:?}");
    }
    assert_eq!(ob("web/homePageUrl", true).property(), "web/homePageUrl");
}

#[test]
fn advanced_query_rules() {
    let ne = ODataError::advanced_query_required("ne");
    let ends = ODataError::advanced_query_required("endsWith");
    let not = ODataError::advanced_query_required("not");
    let count = ODataError::advanced_query_required("$count");
    let search = ODataError::search_requires_consistency_level();
    let sorting = ODataError::sorting_not_supported();
    // (pairs, ConsistencyLevel: eventual present, expected result)
    type Case<'a> = (Vec<(&'a str, &'a str)>, bool, Result<(), ODataError>);
    let cases: Vec<Case> = vec![
        (vec![("$filter", "appId eq 'x'")], false, Ok(())),
        (
            vec![("$filter", "startswith(displayName,'a')")],
            false,
            Ok(()),
        ),
        (
            vec![("$filter", "displayName ne 'x'")],
            false,
            Err(ne.clone()),
        ),
        (
            vec![("$filter", "displayName ne 'x'")],
            true,
            Err(ne.clone()),
        ),
        (
            vec![("$filter", "displayName ne 'x'"), ("$count", "true")],
            false,
            Err(ne.clone()),
        ),
        (
            vec![("$filter", "displayName ne 'x'"), ("$count", "true")],
            true,
            Ok(()),
        ),
        (
            vec![("$filter", "endswith(mail,'@x.com')")],
            true,
            Err(ends.clone()),
        ),
        (
            vec![("$filter", "endswith(mail,'@x.com')"), ("$count", "true")],
            true,
            Ok(()),
        ),
        (vec![("$filter", "not(a eq 1)")], false, Err(not.clone())),
        (
            vec![("$filter", "a eq 1 or not endswith(b,'x')")],
            false,
            Err(not.clone()),
        ),
        (
            vec![("$filter", "owners/$count eq 0")],
            false,
            Err(count.clone()),
        ),
        (
            vec![("$search", "\"displayName:Web\"")],
            false,
            Err(search.clone()),
        ),
        (vec![("$search", "\"displayName:Web\"")], true, Ok(())),
        (
            vec![("$search", "\"displayName:Web\""), ("$count", "true")],
            false,
            Err(search.clone()),
        ),
        (vec![("$orderby", "displayName")], false, Ok(())),
        (
            vec![("$filter", "a eq 1"), ("$orderby", "displayName")],
            false,
            Err(sorting.clone()),
        ),
        (
            vec![("$filter", "a eq 1"), ("$orderby", "displayName")],
            true,
            Err(sorting.clone()),
        ),
        (
            vec![
                ("$filter", "a eq 1"),
                ("$orderby", "displayName"),
                ("$count", "true"),
            ],
            true,
            Ok(()),
        ),
        (vec![("$count", "true")], false, Ok(())),
    ];
    for (pairs, eventual, want) in cases {
        assert_eq!(
            q(&pairs).validate_advanced(eventual),
            want,
            "{pairs:?} eventual={eventual}"
        );
    }
    // `$count=true` is honoured only with the header.
    assert!(q(&[("$count", "true")]).include_count(true));
    assert!(!q(&[("$count", "true")]).include_count(false));
    assert!(!q(&[("$count", "false")]).include_count(true));
}

#[test]
fn select_projection() {
    let obj = json!({
        "@odata.type": "#microsoft.graph.application",
        "@odata.id": "https://example/applications/1",
        "id": "1",
        "appId": "a",
        "displayName": "App",
        "displayName@odata.type": "#String",
        "web": {"redirectUris": ["https://x"]},
        "description": null
    });
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<(Vec<String>, Value)> = vec![
        (
            s(&["displayName"]),
            json!({"@odata.type": "#microsoft.graph.application", "@odata.id": "https://example/applications/1",
                   "displayName": "App", "displayName@odata.type": "#String"}),
        ),
        // `id` is not added implicitly; names match case-insensitively and
        // keep the object's spelling.
        (
            s(&["APPID", "Web"]),
            json!({"@odata.type": "#microsoft.graph.application", "@odata.id": "https://example/applications/1",
                   "appId": "a", "web": {"redirectUris": ["https://x"]}}),
        ),
        // Null values are kept; unknown names are skipped.
        (
            s(&["id", "description", "nope"]),
            json!({"@odata.type": "#microsoft.graph.application", "@odata.id": "https://example/applications/1",
                   "id": "1", "description": null}),
        ),
        (
            s(&[]),
            json!({"@odata.type": "#microsoft.graph.application", "@odata.id": "https://example/applications/1"}),
        ),
    ];
    for (select, want) in cases {
        assert_eq!(apply_select(&obj, &select), want, "{select:?}");
    }
    assert_eq!(apply_select(&json!([1, 2]), &s(&["id"])), json!([1, 2]));
    assert_eq!(apply_select(&json!(null), &s(&["id"])), json!(null));
}

#[test]
fn select_validation() {
    let known = ["id", "appId", "displayName", "web"];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        validate_select(
            &s(&["id", "APPID", "Web"]),
            &known,
            "microsoft.graph.application"
        ),
        Ok(())
    );
    assert_eq!(
        validate_select(&s(&[]), &known, "microsoft.graph.application"),
        Ok(())
    );
    assert_eq!(
        validate_select(
            &s(&["id", "foo", "bar"]),
            &known,
            "microsoft.graph.application"
        ),
        Err(ODataError::select_property_not_found(
            "foo",
            "microsoft.graph.application"
        ))
    );
}

fn ids(objects: &[Value]) -> Vec<&str> {
    objects.iter().map(|o| o["id"].as_str().unwrap()).collect()
}

#[test]
fn sorting() {
    let data = vec![
        json!({"id": "1", "displayName": "beta", "n": 3, "created": "2021-01-02T12:00:00Z", "web": {"u": "b"}}),
        json!({"id": "2", "displayName": "Alpha", "n": 10, "created": "2021-01-02T13:00:00+02:00", "web": {"u": "a"}}),
        json!({"id": "3", "displayName": null, "n": 2.5, "created": "2020-12-31", "web": null}),
        json!({"id": "4", "n": -1, "created": "2021-01-02T12:00:00.5Z", "web": {"u": "B"}}),
        json!({"id": "5", "displayName": "alpha", "n": true, "created": "not a date", "web": {"u": "c"}}),
        json!({"id": "6", "displayName": "Gamma", "n": "7", "web": {}}),
    ];
    let cases: Vec<(Vec<OrderBy>, Vec<&str>)> = vec![
        (vec![], vec!["1", "2", "3", "4", "5", "6"]),
        // Case-insensitive, stable, nulls and missing first.
        (
            vec![ob("displayName", false)],
            vec!["3", "4", "2", "5", "1", "6"],
        ),
        // Descending reverses, nulls last; ties keep input order.
        (
            vec![ob("displayName", true)],
            vec!["6", "1", "2", "5", "3", "4"],
        ),
        // Kinds: null/missing < bool < numbers < date-times < strings.
        (vec![ob("n", false)], vec!["5", "4", "3", "1", "2", "6"]),
        // Date-time strings order as instants, not as text.
        (
            vec![ob("created", false)],
            vec!["6", "3", "2", "1", "4", "5"],
        ),
        // Nested paths.
        (vec![ob("web/u", false)], vec!["3", "6", "2", "1", "4", "5"]),
        // Several keys.
        (
            vec![ob("web/u", false), ob("id", true)],
            vec!["6", "3", "2", "4", "1", "5"],
        ),
    ];
    for (orderby, want) in cases {
        let mut objects = data.clone();
        sort(&mut objects, &orderby);
        assert_eq!(ids(&objects), want, "{orderby:?}");
    }
}

#[test]
fn end_to_end_page() {
    let apps = vec![
        json!({"id": "1", "appId": "aaa", "displayName": "Zulu", "identifierUris": ["api://zulu"], "signInAudience": "AzureADMyOrg"}),
        json!({"id": "2", "appId": "bbb", "displayName": "alpha", "identifierUris": [], "signInAudience": "AzureADMultipleOrgs"}),
        json!({"id": "3", "appId": "ccc", "displayName": "Bravo", "identifierUris": ["api://bravo"], "signInAudience": "AzureADMyOrg"}),
    ];
    let query = q(&[
        (
            "$filter",
            "signInAudience eq 'azureadmyorg' or identifierUris/$count eq 0",
        ),
        ("$orderby", "displayName"),
        ("$select", "displayName,appId"),
        ("$top", "2"),
        ("$count", "true"),
    ]);
    query.validate_advanced(true).unwrap();
    let filter = query.filter.as_ref().unwrap();
    let mut hits: Vec<Value> = apps.into_iter().filter(|a| filter.matches(a)).collect();
    sort(&mut hits, &query.orderby);
    let page: Vec<Value> = hits
        .iter()
        .take(query.top as usize)
        .map(|a| apply_select(a, query.select.as_deref().unwrap()))
        .collect();
    assert_eq!(
        page,
        vec![
            json!({"displayName": "alpha", "appId": "bbb"}),
            json!({"displayName": "Bravo", "appId": "ccc"}),
        ]
    );
    assert_eq!(hits.len(), 3);
}
