//! `$filter` evaluation: filter, object and expected result side by side.

use hale_odata::{Filter, Limits};
use serde_json::{Value, json};

fn app() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.application",
        "id": "0f1e2d3c-0000-4000-8000-000000000001",
        "appId": "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
        "displayName": "Contoso Web",
        "description": null,
        "signInAudience": "AzureADMyOrg",
        "isFallbackPublicClient": false,
        "createdDateTime": "2021-01-02T12:00:00Z",
        "identifierUris": ["api://contoso-web", "https://contoso.com/web"],
        "tags": [],
        "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [
            {"value": "user_impersonation", "isEnabled": true, "type": "User"},
            {"value": "Admin.All", "isEnabled": false, "type": "Admin"}
        ]},
        "web": {"homePageUrl": null, "redirectUris": ["https://contoso.com/signin", "http://localhost:8080/"]},
        "requiredResourceAccess": [
            {"resourceAppId": "00000003-0000-0000-c000-000000000000",
             "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}
        ],
        "score": 7.5,
        "big": 18446744073709551615u64
    })
}

fn check(object: &Value, cases: &[(&str, bool)]) {
    for (text, want) in cases {
        let f = Filter::parse(text, &Limits::default()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(f.matches(object), *want, "{text:?}");
    }
}

#[test]
fn equality_is_case_insensitive() {
    check(
        &app(),
        &[
            ("displayName eq 'Contoso Web'", true),
            ("displayName eq 'contoso web'", true),
            ("displayName eq 'CONTOSO WEB'", true),
            ("displayName eq 'Contoso'", false),
            ("displayName ne 'contoso web'", false),
            ("displayName ne 'other'", true),
            // Property names are matched case-insensitively too.
            ("DisplayName eq 'contoso web'", true),
            ("SIGNINAUDIENCE eq 'azureadmyorg'", true),
            // GUIDs: bare or quoted, any case.
            ("appId eq 72f988bf-86f1-41af-91ab-2d7cd011db47", true),
            ("appId eq '72f988bf-86f1-41af-91ab-2d7cd011db47'", true),
            ("appId eq 72f988bf-86f1-41af-91ab-2d7cd011db48", false),
            ("appId in ('x', 72F988BF-86F1-41AF-91AB-2D7CD011DB47)", true),
        ],
    );
}

#[test]
fn functions_are_case_insensitive() {
    check(
        &app(),
        &[
            ("startswith(displayName,'contoso')", true),
            ("startswith(displayName,'CONTOSO W')", true),
            ("startswith(displayName,'')", true),
            ("startswith(displayName,'Web')", false),
            ("startswith(displayName,'Contoso Web and more')", false),
            ("endswith(displayName,'WEB')", true),
            ("endswith(displayName,'contoso')", false),
            ("startswith(description,'a')", false),
            ("startswith(missing,'a')", false),
            ("endswith(missing,'')", false),
            // A non-string property never matches.
            ("startswith(isFallbackPublicClient,'f')", false),
            ("startswith(displayName,'x') eq false", true),
            ("not startswith(displayName,'x')", true),
        ],
    );
    check(
        &json!({"displayName": "ÉCOLE Straße"}),
        &[
            ("startswith(displayName,'école')", true),
            ("endswith(displayName,'STRASSE')", false),
            ("endswith(displayName,'STRAßE')", true),
            ("displayName eq 'école straße'", true),
        ],
    );
}

#[test]
fn in_operator() {
    check(
        &app(),
        &[
            (
                "signInAudience in ('AzureADMyOrg', 'AzureADMultipleOrgs')",
                true,
            ),
            (
                "signInAudience in ('azureadmultipleorgs', 'AZUREADMYORG')",
                true,
            ),
            ("signInAudience in ('PersonalMicrosoftAccount')", false),
            ("description in (null, 'x')", true),
            ("missing in (null)", true),
            ("missing in ('x')", false),
            ("api/requestedAccessTokenVersion in (1, 2)", true),
            ("not (signInAudience in ('AzureADMyOrg'))", false),
        ],
    );
}

#[test]
fn nulls_and_missing_properties() {
    check(
        &app(),
        &[
            // `eq null` matches null and missing.
            ("description eq null", true),
            ("missing eq null", true),
            ("web/homePageUrl eq null", true),
            ("web/missing eq null", true),
            ("nothere/deeper eq null", true),
            ("displayName eq null", false),
            // A missing or null property never equals a non-null literal...
            ("missing eq 'x'", false),
            ("missing eq ''", false),
            ("missing eq 0", false),
            ("missing eq false", false),
            ("description eq 'x'", false),
            ("nothere/deeper eq 'x'", false),
            // ...so `ne` with a non-null literal holds for it.
            ("missing ne 'x'", true),
            ("description ne 'x'", true),
            // `ne null` holds only when a value is present.
            ("description ne null", false),
            ("missing ne null", false),
            ("displayName ne null", true),
            // Ordering comparisons against null or missing are false.
            ("missing gt 0", false),
            ("missing lt 0", false),
            ("missing ge 0", false),
            ("description le 'z'", false),
            ("score gt null", false),
            ("score le null", false),
        ],
    );
}

#[test]
fn types_numbers_booleans_dates() {
    check(
        &app(),
        &[
            ("isFallbackPublicClient eq false", true),
            ("isFallbackPublicClient eq true", false),
            ("isFallbackPublicClient ne true", true),
            // A literal of another type never compares equal.
            ("isFallbackPublicClient eq 'false'", false),
            ("api/requestedAccessTokenVersion eq '2'", false),
            ("displayName eq 1", false),
            ("api/requestedAccessTokenVersion eq 2", true),
            ("api/requestedAccessTokenVersion eq 2.0", true),
            ("api/requestedAccessTokenVersion gt 1", true),
            ("api/requestedAccessTokenVersion ge 2", true),
            ("api/requestedAccessTokenVersion lt 2", false),
            ("api/requestedAccessTokenVersion le 2", true),
            ("score gt 7", true),
            ("score lt 7.6", true),
            ("score eq 7.5", true),
            ("big gt 9223372036854775807", true),
            // Date-time literals compare as instants, whatever the offset.
            ("createdDateTime eq 2021-01-02T12:00:00Z", true),
            ("createdDateTime eq 2021-01-02T14:00:00+02:00", true),
            ("createdDateTime eq 2021-01-02T12:00:00.000Z", true),
            ("createdDateTime gt 2021-01-02", true),
            ("createdDateTime lt 2021-01-03", true),
            ("createdDateTime ge 2021-01-02T12:00:01Z", false),
            ("createdDateTime le 2021-01-02T12:00:00Z", true),
            ("displayName gt 2021-01-01", false),
            // Quoted, a date-time is just a string (ordered case-insensitively).
            ("createdDateTime ge '2021-01-01'", true),
            ("displayName gt 'contoso'", true),
            ("displayName lt 'CONTOSO WEZ'", true),
            ("displayName ge 'Contoso Web'", true),
            ("displayName gt 'Contoso Web'", false),
            // A whole collection compared without a lambda never matches.
            ("identifierUris eq 'api://contoso-web'", false),
        ],
    );
}

#[test]
fn lambdas() {
    check(
        &app(),
        &[
            ("identifierUris/any(x:x eq 'api://contoso-web')", true),
            ("identifierUris/any(x:x eq 'API://CONTOSO-WEB')", true),
            ("identifierUris/any(x:x eq 'api://other')", false),
            ("identifierUris/any(x:startswith(x,'https://'))", true),
            ("web/redirectUris/any(u:startswith(u,'https://'))", true),
            ("web/redirectUris/any(u:startswith(u,'ftp://'))", false),
            ("web/redirectUris/all(u:startswith(u,'http'))", true),
            ("web/redirectUris/all(u:startswith(u,'https://'))", false),
            ("tags/any(t:t eq 'x')", false),
            ("tags/all(t:t eq 'x')", true),
            ("missing/any(t:t eq 'x')", false),
            ("missing/all(t:t eq 'x')", true),
            ("displayName/any(t:t eq 'x')", false),
            ("displayName/all(t:t eq 'x')", false),
            ("not identifierUris/any(x:x eq 'api://other')", true),
            (
                "api/oauth2PermissionScopes/any(s:s/value eq 'Admin.All' and s/isEnabled eq false)",
                true,
            ),
            (
                "api/oauth2PermissionScopes/any(s:s/value eq 'Admin.All' and s/isEnabled eq true)",
                false,
            ),
            (
                "requiredResourceAccess/any(r:r/resourceAppId eq 00000003-0000-0000-c000-000000000000)",
                true,
            ),
            // Nested lambdas; the inner variable shadows nothing.
            (
                "requiredResourceAccess/any(r:r/resourceAccess/any(a:a/type eq 'scope'))",
                true,
            ),
            (
                "requiredResourceAccess/any(r:r/resourceAccess/any(a:a/type eq 'Role'))",
                false,
            ),
            // Unqualified paths in a body refer to the resource itself.
            (
                "identifierUris/any(x:x eq 'api://contoso-web' and displayName eq 'contoso web')",
                true,
            ),
            (
                "identifierUris/any(x:x eq 'api://contoso-web' and displayName eq 'other')",
                false,
            ),
            // Outside its lambda the variable name is a plain (here missing) property.
            (
                "identifierUris/any(x:x eq 'api://contoso-web') and x eq null",
                true,
            ),
            // The same name can be rebound in an inner lambda; the innermost wins.
            (
                "requiredResourceAccess/any(x:x/resourceAccess/any(x:x/type eq 'Scope'))",
                true,
            ),
        ],
    );
}

#[test]
fn count_segments() {
    check(
        &app(),
        &[
            ("identifierUris/$count eq 2", true),
            ("identifierUris/$count gt 1", true),
            ("tags/$count eq 0", true),
            ("tags/$count ne 0", false),
            ("missing/$count eq 0", true),
            ("description/$count eq 0", true),
            ("displayName/$count eq 0", false),
            ("api/oauth2PermissionScopes/$count eq 2", true),
            (
                "requiredResourceAccess/any(r:r/resourceAccess/$count eq 1)",
                true,
            ),
        ],
    );
}

#[test]
fn logic() {
    check(
        &app(),
        &[
            (
                "displayName eq 'x' or signInAudience eq 'AzureADMyOrg'",
                true,
            ),
            (
                "displayName eq 'x' and signInAudience eq 'AzureADMyOrg'",
                false,
            ),
            (
                "displayName eq 'x' and signInAudience eq 'y' or score eq 7.5",
                true,
            ),
            (
                "displayName eq 'x' and (signInAudience eq 'y' or score eq 7.5)",
                false,
            ),
            ("not (displayName eq 'x')", true),
            ("not not displayName eq 'x'", false),
            ("not (displayName eq 'x' or score eq 7.5)", false),
        ],
    );
}

#[test]
fn non_object_inputs() {
    let f = Filter::parse("a eq null", &Limits::default()).unwrap();
    assert!(f.matches(&json!(null)));
    assert!(f.matches(&json!([1, 2])));
    let f = Filter::parse("a eq 1", &Limits::default()).unwrap();
    assert!(!f.matches(&json!("text")));
}
