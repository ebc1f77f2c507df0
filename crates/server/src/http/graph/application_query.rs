//! `GET /v1.0/applications`: the listing, with the common `$filter` clauses
//! (`displayName` eq/in/startswith, `appId` and `id` eq/in,
//! `identifierUris/any(x:x eq '…')`, combined with `and`/`or`) pushed down to
//! the database and paged by keyset (creation order; `$skiptoken` is the last
//! object ID of the page). Whatever the database cannot express narrows
//! nothing there and is evaluated on the rows read, so the answer is the
//! same as evaluating the whole filter in memory. `$orderby` and `$count`
//! read every candidate and page by offset.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_directory::{Application, ObjectId};
use hale_odata::{CmpOp, Filter, Literal, fold_case};
use hale_store::applications::{self, AppFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::collection::{eventual, next_link, odata_error};
use super::{GraphError, context, json as respond};
use crate::http::AppState;
use crate::http::auth::Caller;

/// Properties `$filter` may use on applications (Graph's list for v1.0).
const FILTERABLE: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "identifierUris",
    "signInAudience",
    "publisherDomain",
    "tags",
    "createdDateTime",
    "isFallbackPublicClient",
    "web",
    "spa",
    "publicClient",
    "api",
    "appRoles",
    "requiredResourceAccess",
    "passwordCredentials",
    "keyCredentials",
];
/// Properties `$orderby` may use.
const SORTABLE: &[&str] = &["displayName", "createdDateTime", "appId"];

fn is(path: &[String], name: &str) -> bool {
    matches!(path, [one] if one.eq_ignore_ascii_case(name))
}

fn text(literal: &Literal) -> Option<&str> {
    match literal {
        Literal::String(s) | Literal::Guid(s) => Some(s),
        _ => None,
    }
}

/// GUIDs among `values`; a value that is no GUID can match no ID, so it is
/// left out (the list may end up empty: nothing matches).
fn guids(values: &[Literal]) -> Option<Vec<Uuid>> {
    let mut out = Vec::new();
    for v in values {
        if let Ok(id) = Uuid::parse_str(text(v)?) {
            out.push(id);
        }
    }
    Some(out)
}

/// The part of `filter` the database can answer: every application that
/// matches `filter` matches the result (it may match more). `None` when
/// nothing can be pushed down.
pub(super) fn pushdown(filter: &Filter) -> Option<AppFilter> {
    match filter {
        Filter::Cmp {
            path,
            op: CmpOp::Eq,
            value,
        } => pushdown_in(path, std::slice::from_ref(value)),
        Filter::In { path, values } => pushdown_in(path, values),
        Filter::StartsWith { path, prefix } if is(path, "displayName") => {
            Some(AppFilter::DisplayNameStartsWith(fold_case(prefix)))
        }
        Filter::Any {
            collection,
            var,
            body,
        } if is(collection, "identifierUris") => match body.as_ref() {
            Filter::Cmp {
                path,
                op: CmpOp::Eq,
                value: Literal::String(uri),
            } if matches!(path.as_slice(), [v] if v == var) => {
                // Stored URIs are `str::to_lowercase`d, which differs from the
                // per-character folding of `$filter` only around a final sigma.
                let folded = fold_case(uri);
                (!folded.contains(['σ', 'ς'])).then_some(AppFilter::IdentifierUri(folded))
            }
            _ => None,
        },
        Filter::And(a, b) => match (pushdown(a), pushdown(b)) {
            (Some(a), Some(b)) => Some(AppFilter::And(vec![a, b])),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => None,
        },
        Filter::Or(a, b) => Some(AppFilter::Or(vec![pushdown(a)?, pushdown(b)?])),
        _ => None,
    }
}

fn pushdown_in(path: &[String], values: &[Literal]) -> Option<AppFilter> {
    if is(path, "displayName") {
        let names = values
            .iter()
            .map(|v| match v {
                Literal::String(s) => Some(fold_case(s)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(AppFilter::DisplayNameIn(names))
    } else if is(path, "appId") {
        Some(AppFilter::AppIdIn(guids(values)?))
    } else if is(path, "id") {
        Some(AppFilter::IdIn(guids(values)?))
    } else {
        None
    }
}

fn parse_query(
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<hale_odata::Query, GraphError> {
    let limits = hale_odata::Limits::default();
    let q = hale_odata::parse_query(query.iter().map(|(k, v)| (k.as_str(), v.as_str())), &limits)
        .map_err(odata_error)?;
    q.validate_advanced(eventual(headers))
        .map_err(odata_error)?;
    if q.search.is_some() || q.expand.is_some() {
        return Err(odata_error(hale_odata::ODataError::unsupported_query()));
    }
    if let Some(filter) = &q.filter {
        for property in filter.properties() {
            if !FILTERABLE.contains(&property.as_str()) {
                return Err(odata_error(
                    hale_odata::ODataError::unsupported_filter_property(&property, "application"),
                ));
            }
        }
    }
    for order in &q.orderby {
        let property = order.property();
        if !SORTABLE.contains(&property.as_str()) {
            return Err(odata_error(
                hale_odata::ODataError::unsupported_sort_property(&property, "application"),
            ));
        }
    }
    if let Some(select) = &q.select {
        let known = serde_json::to_value(Application::new(caller.tenant_id, "x".into(), "x"))
            .unwrap_or_default();
        let names: Vec<&str> = known
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        hale_odata::validate_select(select, &names, "microsoft.graph.application")
            .map_err(odata_error)?;
    }
    Ok(q)
}

/// A page position: after an object (keyset) or an offset (sorted or counted
/// listings, evaluated over every candidate).
enum Cursor {
    After(ObjectId),
    Offset(usize),
}

fn parse_cursor(token: &str) -> Result<Cursor, GraphError> {
    let bad = || GraphError::bad_request("The skip token is not valid.");
    match token.strip_prefix('o') {
        Some(n) => n.parse().map(Cursor::Offset).map_err(|_| bad()),
        None => Uuid::parse_str(token)
            .map(|id| Cursor::After(ObjectId(id)))
            .map_err(|_| bad()),
    }
}

/// Rows read per round while filling a keyset page whose filter is partly
/// evaluated after reading.
const BATCH: usize = 200;

pub(crate) async fn list(
    state: &AppState,
    caller: &Caller,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_read_applications()?;
    let q = parse_query(caller, query, headers)?;
    let top = q.top as usize;
    let cursor = q.skiptoken.as_deref().map(parse_cursor).transpose()?;
    let tenant = caller.tenant_id;
    let counted = q.include_count(eventual(headers));
    let sql_filter = q
        .filter
        .as_ref()
        .and_then(pushdown)
        .unwrap_or(AppFilter::All);
    let filter = q.filter.clone();
    let matches = move |app: &Application| -> Option<Value> {
        let value = serde_json::to_value(app).unwrap_or_default();
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&value))
            .then_some(value)
    };

    let (items, next, count) = if !q.orderby.is_empty() || counted {
        let offset = match cursor {
            Some(Cursor::Offset(n)) => n,
            Some(Cursor::After(_)) => {
                return Err(GraphError::bad_request("The skip token is not valid."));
            }
            None => 0,
        };
        let candidates = state
            .store
            .read(move |tx| {
                applications::list_where(tx, tenant, &sql_filter, None, usize::MAX >> 1)
            })
            .await?;
        let mut matched: Vec<Value> = candidates.iter().filter_map(&matches).collect();
        hale_odata::sort(&mut matched, &q.orderby);
        let count = matched.len();
        let page: Vec<Value> = matched.into_iter().skip(offset).take(top + 1).collect();
        let next = (page.len() > top).then(|| format!("o{}", offset + top));
        (
            page.into_iter().take(top).collect::<Vec<_>>(),
            next,
            Some(count),
        )
    } else {
        let after = match cursor {
            Some(Cursor::After(id)) => Some(id),
            Some(Cursor::Offset(_)) => {
                return Err(GraphError::bad_request("The skip token is not valid."));
            }
            None => None,
        };
        // Keyset: read in creation order until the page (plus one, to know
        // whether another page follows) is full or the table is exhausted.
        let page = state
            .store
            .read(move |tx| {
                let mut page: Vec<(ObjectId, Value)> = Vec::new();
                let mut after = after;
                loop {
                    let want = (top + 1 - page.len()).max(BATCH.min(top + 1));
                    let batch = applications::list_where(tx, tenant, &sql_filter, after, want)?;
                    for app in &batch {
                        if page.len() <= top
                            && let Some(value) = matches(app)
                        {
                            page.push((app.id, value));
                        }
                    }
                    if batch.len() < want || page.len() > top {
                        return Ok::<_, hale_store::StoreError>(page);
                    }
                    after = batch.last().map(|a| a.id);
                }
            })
            .await?;
        let next = (page.len() > top).then(|| page[top - 1].0.to_string());
        let items = page.into_iter().take(top).map(|(_, v)| v).collect();
        (items, next, None)
    };
    let items: Vec<Value> = match &q.select {
        Some(select) => items
            .iter()
            .map(|v| hale_odata::apply_select(v, select))
            .collect(),
        None => items,
    };
    let mut body = json!({ "@odata.context": context(state, "applications") });
    if let Some(count) = count.filter(|_| counted) {
        body["@odata.count"] = json!(count);
    }
    body["value"] = Value::Array(items);
    if let Some(token) = next {
        body["@odata.nextLink"] = json!(next_link(state, "applications", query, &token));
    }
    Ok(respond(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(s: &str) -> String {
        fold_case(s)
    }

    #[test]
    fn what_is_pushed_down() {
        let limits = hale_odata::Limits::default();
        let id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        let cases: Vec<(String, Option<AppFilter>)> = vec![
            (
                "displayName eq 'Ärzte App'".into(),
                Some(AppFilter::DisplayNameIn(vec![folded("Ärzte App")])),
            ),
            (
                "startswith(DisplayName,'FHIR')".into(),
                Some(AppFilter::DisplayNameStartsWith("fhir".into())),
            ),
            (
                format!("appId in ('{}', 'junk')", id.to_uppercase()),
                Some(AppFilter::AppIdIn(vec![Uuid::parse_str(id).unwrap()])),
            ),
            (
                format!("id eq {id}"),
                Some(AppFilter::IdIn(vec![Uuid::parse_str(id).unwrap()])),
            ),
            (
                "identifierUris/any(x:x eq 'API://Foo')".into(),
                Some(AppFilter::IdentifierUri("api://foo".into())),
            ),
            (
                "startswith(displayName,'a') and tags/any(t:t eq 'x')".into(),
                Some(AppFilter::DisplayNameStartsWith("a".into())),
            ),
            (
                "displayName eq 'a' or appId eq 'b'".into(),
                Some(AppFilter::Or(vec![
                    AppFilter::DisplayNameIn(vec!["a".into()]),
                    AppFilter::AppIdIn(vec![]),
                ])),
            ),
            ("displayName eq 'a' or tags/any(t:t eq 'x')".into(), None),
            ("signInAudience eq 'AzureADMyOrg'".into(), None),
            ("displayName eq null".into(), None),
            ("identifierUris/any(x:startswith(x,'api'))".into(), None),
            ("identifierUris/any(x:x eq 'api://ΣΟΦΙΑ')".into(), None),
        ];
        for (text, expected) in cases {
            let filter = Filter::parse(&text, &limits).unwrap();
            assert_eq!(pushdown(&filter), expected, "{text}");
        }
    }
}
