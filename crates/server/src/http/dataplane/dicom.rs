//! `/dicom/{ws}/{name}/…`: the DICOM service's front door. Anonymous
//! `/health/check`; everything else authenticated (audience
//! `https://dicom.healthcareapis.azure.com`) and authorized. Failures are plain
//! text bodies, as Azure's DICOM service answers them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_arm::ServiceKind;
use hale_arm::authz::{self, DataAction};

use super::{Denied, ServicePath, authorize, find_service, with_timing, www_authenticate};
use crate::http::AppState;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn unknown_service(path: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("There is no DICOM service at '/dicom/{path}'."),
    )
}

/// Every request under `/dicom/`.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(path) = ServicePath::parse(&raw) else {
        return unknown_service(&raw);
    };
    if matches!(method, Method::GET | Method::HEAD) && path.rest() == ["health", "check"] {
        return match find_service(&state, ServiceKind::Dicom, &path).await {
            Ok(Some(_)) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"overallStatus":"Healthy"}"#,
            )
                .into_response(),
            Ok(None) => unknown_service(&raw),
            Err(e) => {
                tracing::error!(error = %e, "DICOM service lookup failed");
                text(StatusCode::SERVICE_UNAVAILABLE, "The server is currently unable to receive requests. Please retry your request.".into())
            }
        };
    }
    let action = DataAction::Dicom(authz::dicom_action(method.as_str()));
    let (decision, timing) = authorize(&state, &headers, ServiceKind::Dicom, &path, action).await;
    let response = match decision {
        // FIXME(issue 8): DICOMweb (STOW, QIDO, WADO, delete, change feed).
        // Until it exists an authorized request is answered 501, naming the
        // data action that authorized it.
        Ok(authorized) => {
            let operation = authorized.action.operation();
            let mut r = text(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "Authorized: the caller holds '{operation}' on this DICOM service. DICOMweb itself is not implemented yet (issue 8)."
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&operation) {
                r.headers_mut().insert(
                    header::HeaderName::from_static("x-hale-authorized-action"),
                    v,
                );
            }
            r
        }
        Err(Denied::UnknownService) => unknown_service(&raw),
        Err(Denied::Unauthenticated(_, service) | Denied::OtherTenant(service)) => {
            let mut r = text(StatusCode::UNAUTHORIZED, "Authentication failed.".into());
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                www_authenticate(&state, &service, ServiceKind::Dicom),
            );
            r
        }
        Err(Denied::Forbidden(_)) => text(StatusCode::FORBIDDEN, "Authorization failed.".into()),
        Err(Denied::Storage(e)) => {
            tracing::error!(error = %e, "DICOM authorization read failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is currently unable to receive requests. Please retry your request."
                    .into(),
            )
        }
    };
    with_timing(response, timing)
}
