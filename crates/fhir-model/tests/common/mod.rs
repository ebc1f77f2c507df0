#![allow(dead_code)]
use serde_json::Value;

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn fixtures() -> Vec<Value> {
    [
        "patient",
        "observation",
        "encounter",
        "questionnaire",
        "medicationrequest",
        "riskassessment",
    ]
    .into_iter()
    .map(fixture)
    .collect()
}
