//! The STOW-RS response: HTTP status and DICOM JSON store response.

use serde_json::{Map, Value, json};

use crate::{ApiVersion, FailureReason, Ingested, Rejection, Uid, WarningReason};

/// An instance that the store has durably stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// StudyInstanceUID.
    pub study_instance_uid: Uid,
    /// SeriesInstanceUID.
    pub series_instance_uid: Uid,
    /// SOPInstanceUID.
    pub sop_instance_uid: Uid,
    /// SOPClassUID.
    pub sop_class_uid: Uid,
    /// The warning reason, if any.
    pub warning_reason: Option<WarningReason>,
    /// v2: error comments of attributes that failed validation.
    pub failed_attributes: Vec<String>,
}

impl From<&Ingested> for StoredInstance {
    fn from(i: &Ingested) -> StoredInstance {
        StoredInstance {
            study_instance_uid: i.study_instance_uid.clone(),
            series_instance_uid: i.series_instance_uid.clone(),
            sop_instance_uid: i.sop_instance_uid.clone(),
            sop_class_uid: i.sop_class_uid.clone(),
            warning_reason: i.warning_reason,
            failed_attributes: i.failed_attributes.clone(),
        }
    }
}

/// What happened to one part of a STOW-RS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceOutcome {
    /// Stored.
    Stored(StoredInstance),
    /// Not stored.
    Failed(Rejection),
}

impl InstanceOutcome {
    /// A failure decided by the store after successful ingestion (45070 duplicate,
    /// 45071 pending, 272 write failure).
    pub fn store_failure(ingested: &Ingested, reason: FailureReason) -> InstanceOutcome {
        InstanceOutcome::Failed(Rejection {
            reason,
            sop_class_uid: Some(ingested.sop_class_uid.to_string()),
            sop_instance_uid: Some(ingested.sop_instance_uid.to_string()),
            failed_attributes: None,
            message: String::new(),
        })
    }
}

/// The STOW-RS answer: status and body (`None` for 204).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreResponse {
    /// HTTP status: 200, 202, 204 or 409.
    pub status: u16,
    /// The `application/dicom+json` body.
    pub body: Option<Value>,
}

/// `{base}/studies/{study}`; `base` ends with the version segment (and the
/// partition, when partitions are on), e.g. `https://host/dicom/ws/svc/v2`.
pub fn study_url(base: &str, study: &str) -> String {
    format!("{}/studies/{study}", base.trim_end_matches('/'))
}

/// `{base}/studies/{study}/series/{series}/instances/{instance}`.
pub fn instance_url(base: &str, study: &str, series: &str, instance: &str) -> String {
    format!(
        "{}/series/{series}/instances/{instance}",
        study_url(base, study)
    )
}

/// Builds the STOW-RS response the way Azure does:
///
/// - no parts → 204 without body;
/// - only stored → 200 (v2: 202 when any stored instance has a WarningReason);
/// - stored and failed → 202; only failed → 409;
/// - RetrieveURL (0008,1190) of the study only when the request path named a
///   study and something was stored;
/// - v2 adds FailedAttributesSequence (0074,1048) to every ReferencedSOPSequence
///   item, empty when there were no warnings;
/// - a failure item carries the SOP UIDs only when the file could be read, and
///   FailedAttributesSequence only for attribute validation failures.
pub fn store_response(
    outcomes: &[InstanceOutcome],
    base_url: &str,
    study_in_path: Option<&Uid>,
    api: ApiVersion,
) -> StoreResponse {
    if outcomes.is_empty() {
        return StoreResponse {
            status: 204,
            body: None,
        };
    }
    let mut referenced = Vec::new();
    let mut failed = Vec::new();
    let mut any_warning = false;
    for outcome in outcomes {
        match outcome {
            InstanceOutcome::Stored(s) => {
                let mut item = Map::new();
                item.insert("00081150".into(), ui(s.sop_class_uid.as_str()));
                item.insert("00081155".into(), ui(s.sop_instance_uid.as_str()));
                item.insert(
                    "00081190".into(),
                    ur(&instance_url(
                        base_url,
                        s.study_instance_uid.as_str(),
                        s.series_instance_uid.as_str(),
                        s.sop_instance_uid.as_str(),
                    )),
                );
                if let Some(w) = s.warning_reason {
                    any_warning = true;
                    item.insert("00081196".into(), us(w.code()));
                }
                if api == ApiVersion::V2 {
                    item.insert("00741048".into(), error_comments(&s.failed_attributes));
                }
                referenced.push(Value::Object(item));
            }
            InstanceOutcome::Failed(r) => {
                let mut item = Map::new();
                if let Some(c) = &r.sop_class_uid {
                    item.insert("00081150".into(), ui(c));
                }
                if let Some(i) = &r.sop_instance_uid {
                    item.insert("00081155".into(), ui(i));
                }
                item.insert("00081197".into(), us(r.reason.code()));
                if let Some(f) = &r.failed_attributes {
                    item.insert("00741048".into(), error_comments(f));
                }
                failed.push(Value::Object(item));
            }
        }
    }
    let status = match (referenced.is_empty(), failed.is_empty()) {
        (false, false) => 202,
        (false, true) if api == ApiVersion::V2 && any_warning => 202,
        (false, true) => 200,
        _ => 409,
    };
    let mut body = Map::new();
    if let (Some(study), false) = (study_in_path, referenced.is_empty()) {
        body.insert("00081190".into(), ur(&study_url(base_url, study.as_str())));
    }
    if !failed.is_empty() {
        body.insert("00081198".into(), json!({"vr": "SQ", "Value": failed}));
    }
    if !referenced.is_empty() {
        body.insert("00081199".into(), json!({"vr": "SQ", "Value": referenced}));
    }
    StoreResponse {
        status,
        body: Some(Value::Object(body)),
    }
}

fn ui(v: &str) -> Value {
    json!({"vr": "UI", "Value": [v]})
}

fn ur(v: &str) -> Value {
    json!({"vr": "UR", "Value": [v]})
}

fn us(v: u16) -> Value {
    json!({"vr": "US", "Value": [v]})
}

/// A FailedAttributesSequence of ErrorComment (0000,0902) items; an empty
/// sequence has no `Value`, as fo-dicom writes it.
fn error_comments(comments: &[String]) -> Value {
    if comments.is_empty() {
        return json!({"vr": "SQ"});
    }
    let items: Vec<Value> = comments
        .iter()
        .map(|c| json!({"00000902": {"vr": "LO", "Value": [c]}}))
        .collect();
    json!({"vr": "SQ", "Value": items})
}
