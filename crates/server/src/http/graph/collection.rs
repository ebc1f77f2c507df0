//! Graph's collection answers for directory objects that are listed from
//! memory (users, groups, members, memberships, directory roles): `$filter`,
//! `$orderby`, `$count` (with `ConsistencyLevel: eventual`), `$top` and
//! `$skiptoken` paging, `$select`, and the `@odata` envelope.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hale_odata::{ODataError, Query};
use serde_json::{Value, json};

use super::{GraphError, context, json as respond};
use crate::http::AppState;

/// What a collection lets callers query.
pub(super) struct Resource {
    /// Graph's type name in errors, e.g. `User`.
    pub name: &'static str,
    /// Graph's qualified type for `$select` errors, e.g. `microsoft.graph.user`.
    pub type_name: &'static str,
    /// Properties `$filter` may use.
    pub filterable: &'static [&'static str],
    /// Properties `$orderby` may use.
    pub sortable: &'static [&'static str],
    /// Every property `$select` may name.
    pub selectable: &'static [&'static str],
    /// Whether `$select` may also name directory extensions
    /// (`extension_{appId}_{name}`), which objects of this type can hold.
    pub directory_extensions: bool,
}

/// Checks `$select`ed names against `selectable`; names of directory
/// extensions pass when the type can hold them (an object without a value
/// simply does not show it, as in Graph).
fn validate_select(
    select: &[String],
    selectable: &[&str],
    type_name: &str,
    directory_extensions: bool,
) -> Result<(), GraphError> {
    let declared: Vec<String> = select
        .iter()
        .filter(|s| !(directory_extensions && hale_directory::extension_short_name(s).is_some()))
        .cloned()
        .collect();
    hale_odata::validate_select(&declared, selectable, type_name).map_err(odata_error)
}

/// A query error in Graph's shape.
pub(super) fn odata_error(e: ODataError) -> GraphError {
    GraphError {
        status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        code: e.code,
        message: e.message,
    }
}

/// Whether the request carries `ConsistencyLevel: eventual`.
pub(super) fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
}

/// Parses and checks the query options of a request on `resource`.
pub(super) fn parse(
    resource: &Resource,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Query, GraphError> {
    let limits = hale_odata::Limits::default();
    let q = hale_odata::parse_query(query.iter().map(|(k, v)| (k.as_str(), v.as_str())), &limits)
        .map_err(odata_error)?;
    q.validate_advanced(eventual(headers))
        .map_err(odata_error)?;
    if q.search.is_some() || q.expand.is_some() {
        return Err(odata_error(ODataError::unsupported_query()));
    }
    if let Some(filter) = &q.filter {
        if filter.uses_all() {
            return Err(odata_error(ODataError::unsupported_query()));
        }
        for property in filter.properties() {
            if !resource
                .filterable
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&property))
            {
                return Err(odata_error(ODataError::unsupported_filter_property(
                    &property,
                    resource.name,
                )));
            }
        }
    }
    for order in &q.orderby {
        let property = order.property();
        if !resource
            .sortable
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&property))
        {
            return Err(odata_error(ODataError::unsupported_sort_property(
                &property,
                resource.name,
            )));
        }
    }
    if let Some(select) = &q.select {
        validate_select(
            select,
            resource.selectable,
            resource.type_name,
            resource.directory_extensions,
        )?;
    }
    Ok(q)
}

/// An object of a listing: every property (what `$filter` and `$select` see)
/// and the properties shown when there is no `$select`.
pub(super) struct Listed {
    pub full: Value,
    pub default: Option<&'static [&'static str]>,
}

impl Listed {
    /// The object as shown: `$select`ed, or its default properties;
    /// `@odata.type` is kept either way.
    pub fn shown(&self, select: Option<&[String]>) -> Value {
        match (select, self.default) {
            (Some(select), _) => hale_odata::apply_select(&self.full, select),
            (None, Some(default)) => {
                let names: Vec<String> = default.iter().map(|s| s.to_string()).collect();
                hale_odata::apply_select(&self.full, &names)
            }
            (None, None) => self.full.clone(),
        }
    }
}

/// Answers a collection request over `items` (in their natural order):
/// filters, sorts, counts, pages with an offset `$skiptoken`, selects.
/// `fragment` is the `@odata.context` fragment, `path` the collection's path
/// under `/v1.0/` for the next link.
pub(super) fn respond_page(
    state: &AppState,
    q: &Query,
    headers: &HeaderMap,
    query: &[(String, String)],
    items: Vec<Listed>,
    fragment: &str,
    path: &str,
) -> Result<Response, GraphError> {
    let mut matched: Vec<Listed> = items
        .into_iter()
        .filter(|item| q.filter.as_ref().is_none_or(|f| f.matches(&item.full)))
        .collect();
    if !q.orderby.is_empty() {
        let mut keyed: Vec<(Value, Listed)> = matched
            .into_iter()
            .map(|item| (item.full.clone(), item))
            .collect();
        // Sort the values, then reorder the items by the sorted values' positions.
        let mut values: Vec<Value> = keyed
            .iter()
            .enumerate()
            .map(|(i, (v, _))| {
                let mut v = v.clone();
                v["@hale.position"] = json!(i);
                v
            })
            .collect();
        hale_odata::sort(&mut values, &q.orderby);
        let mut slots: Vec<Option<Listed>> = keyed.drain(..).map(|(_, item)| Some(item)).collect();
        matched = values
            .iter()
            .filter_map(|v| v["@hale.position"].as_u64())
            .filter_map(|i| slots[i as usize].take())
            .collect();
    }
    let offset = match q.skiptoken.as_deref() {
        None => 0,
        Some(token) => token
            .strip_prefix('o')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| GraphError::bad_request("The skip token is not valid."))?,
    };
    let top = q.top as usize;
    let total = matched.len();
    let select = q.select.as_deref();
    let page: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(top)
        .map(|item| item.shown(select))
        .collect();
    let mut body = json!({ "@odata.context": context(state, fragment) });
    if q.include_count(eventual(headers)) {
        body["@odata.count"] = json!(total);
    }
    body["value"] = Value::Array(page);
    if offset + top < total {
        body["@odata.nextLink"] =
            json!(next_link(state, path, query, &format!("o{}", offset + top)));
    }
    Ok(respond(StatusCode::OK, body))
}

/// The next page's URL: the request's query with `$skiptoken` replaced.
pub(super) fn next_link(
    state: &AppState,
    path: &str,
    query: &[(String, String)],
    token: &str,
) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in query
        .iter()
        .filter(|(n, _)| !n.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
    {
        pairs.append_pair(name, value);
    }
    pairs.append_pair("$skiptoken", token);
    format!("{}v1.0/{path}?{}", state.public_url, pairs.finish())
}

/// `$select` of a single-object request, checked against `selectable`.
pub(super) fn entity_select(
    query: &[(String, String)],
    selectable: &[&str],
    type_name: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    select_of(query, selectable, type_name, false)
}

/// [`entity_select`] for a type that can hold directory extensions.
pub(super) fn entity_select_extensible(
    query: &[(String, String)],
    selectable: &[&str],
    type_name: &str,
) -> Result<Option<Vec<String>>, GraphError> {
    select_of(query, selectable, type_name, true)
}

fn select_of(
    query: &[(String, String)],
    selectable: &[&str],
    type_name: &str,
    directory_extensions: bool,
) -> Result<Option<Vec<String>>, GraphError> {
    let select = query
        .iter()
        .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case("select"))
        .map(|(_, v)| v.as_str());
    let Some(select) = select else {
        return Ok(None);
    };
    let q = hale_odata::parse_query([("$select", select)], &hale_odata::Limits::default())
        .map_err(odata_error)?;
    if let Some(names) = &q.select {
        validate_select(names, selectable, type_name, directory_extensions)?;
    }
    Ok(q.select)
}
