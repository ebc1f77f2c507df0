//! Deterministic, Synthea-shaped FHIR R4 test data.
//!
//! Each patient is one `transaction` Bundle, as Synthea writes them: the
//! Patient, their Encounters, and per encounter vital signs (a blood-pressure
//! panel with systolic and diastolic components, heart rate, weight, and
//! sometimes height, BMI, respiratory rate and temperature), laboratory panels
//! (a DiagnosticReport whose `result`s are the panel's Observations, each a
//! `valueQuantity` in UCUM), Procedures, MedicationRequests (RxNorm) and
//! Immunizations (CVX), plus the patient's Conditions (SNOMED CT). Entries are
//! `POST`s with `urn:uuid:` full URLs, and references between them use those
//! URLs. Every resource carries its UUID as an identifier
//! (`urn:ietf:rfc:3986`), so a server's copy can be matched to the generated
//! one whatever id the server gave it.
//!
//! Patient `i` of seed `s` depends only on `(s, i)`: it is drawn from ChaCha8
//! stream `i` of seed `s`, so the first 40 patients are the same whether 40 or
//! 4,000 are generated, and the same seed always gives byte-identical JSON
//! through [`to_json_bytes`].
//! On average a patient has about 54 resources.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

/// The system of the identifier every generated resource carries.
pub const UUID_SYSTEM: &str = "urn:ietf:rfc:3986";
/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// RxNorm.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// CVX (vaccines administered).
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// UCUM.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// The most patients one call may generate (about 54 million resources).
pub const MAX_PATIENTS: usize = 1_000_000;

/// The generated data's "now": 2025-01-01T00:00:00Z. Fixed, so that output
/// does not depend on the clock.
const NOW: i64 = 1_735_689_600;
const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

/// Transaction bundles for patients `0..patients` of `seed`.
pub fn bundles(seed: u64, patients: usize) -> impl Iterator<Item = Value> {
    (0..patients.min(MAX_PATIENTS)).map(move |i| patient_bundle(seed, i))
}

/// The transaction bundle of patient `index` of `seed`.
pub fn patient_bundle(seed: u64, index: usize) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    Patient::new(&mut rng).bundle(&mut rng)
}

/// The resources of a bundle made by [`patient_bundle`] as a bulk-data
/// (NDJSON) exporter writes them: each with `id` = its UUID, and every
/// `urn:uuid:` reference rewritten to `Type/id`.
pub fn resources_with_ids(bundle: &Value) -> Vec<Value> {
    let entries = bundle["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let types: std::collections::HashMap<&str, &str> = entries
        .iter()
        .filter_map(|e| {
            Some((
                e["fullUrl"].as_str()?,
                e["resource"]["resourceType"].as_str()?,
            ))
        })
        .collect();
    entries
        .iter()
        .filter_map(|e| {
            let full_url = e["fullUrl"].as_str()?;
            let id = full_url.strip_prefix("urn:uuid:")?;
            let Value::Object(resource) = &e["resource"] else {
                return None;
            };
            let mut out = Map::new();
            out.insert("resourceType".into(), resource["resourceType"].clone());
            out.insert("id".into(), Value::String(id.to_owned()));
            for (k, v) in resource {
                if k != "resourceType" && k != "id" {
                    let mut v = v.clone();
                    rewrite_references(&mut v, &types);
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        })
        .collect()
}

fn rewrite_references(v: &mut Value, types: &std::collections::HashMap<&str, &str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = child
                        && let (Some(t), Some(id)) =
                            (types.get(s.as_str()), s.strip_prefix("urn:uuid:"))
                    {
                        *s = format!("{t}/{id}");
                    }
                } else {
                    rewrite_references(child, types);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_references(i, types)),
        _ => {}
    }
}

/// `value` as compact JSON in a canonical form: `resourceType` first, then
/// every other member in byte order of its name. The bytes depend only on the
/// value, not on whether the build's `serde_json` keeps insertion order (its
/// `preserve_order` feature, which any crate in a build may switch on).
pub fn to_json_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| (k.as_str() != "resourceType", k.as_str()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("a string serializes");
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a scalar serializes"),
    }
}

/// The UUID a generated resource carries (its `urn:uuid:` full URL without
/// the prefix), from its identifier.
pub fn generated_uuid(resource: &Value) -> Option<&str> {
    resource["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == UUID_SYSTEM)?["value"]
        .as_str()?
        .strip_prefix("urn:uuid:")
}

// ---------------------------------------------------------------------------
// Vocabulary (codes as Synthea uses them; displays from the code systems).

const FAMILY: &[&str] = &[
    "Abbott",
    "Bergstrom",
    "Carroll",
    "Dietrich",
    "Ernser",
    "Feest",
    "Gutmann",
    "Hahn",
    "Ismail",
    "Jakubowski",
    "Kertzmann",
    "Lindgren",
    "Mraz",
    "Nakamura",
    "Okafor",
    "Pfannerstill",
    "Quigley",
    "Reichel",
    "Schuster",
    "Tromp",
    "Upton",
    "Vandervort",
    "Wehner",
    "Xiong",
    "Yundt",
    "Zulauf",
    "Bahringer",
    "Cronin",
    "Donnelly",
    "Emmerich",
    "Fadel",
    "Gislason",
    "Hermiston",
    "Ivanova",
    "Jenkins",
    "Kuhlman",
    "Lueilwitz",
    "Murazik",
    "Nolan",
    "Osinski",
];
const GIVEN_FEMALE: &[&str] = &[
    "Amelia", "Beatriz", "Chloe", "Dana", "Elena", "Fatima", "Grace", "Hana", "Ingrid", "Julia",
    "Keiko", "Lucia", "Mei", "Nora", "Olivia", "Priya", "Rosa", "Sofia", "Tamara", "Vera",
];
const GIVEN_MALE: &[&str] = &[
    "Aaron", "Bruno", "Carlos", "Dmitri", "Elias", "Felix", "Gustavo", "Hiroshi", "Ivan", "Jamal",
    "Kofi", "Liam", "Mateo", "Nikhil", "Omar", "Pavel", "Rafael", "Samuel", "Tomas", "Victor",
];
const STREETS: &[&str] = &[
    "Maple", "Oak", "Pine", "Cedar", "Elm", "Harbor", "Hillside", "Mill", "River", "Sunset",
];
const STREET_KINDS: &[&str] = &["Street", "Avenue", "Road", "Lane", "Way", "Court"];
const CITIES: &[(&str, &str)] = &[
    ("Boston", "02108"),
    ("Worcester", "01608"),
    ("Springfield", "01103"),
    ("Cambridge", "02139"),
    ("Lowell", "01852"),
    ("Brockton", "02301"),
    ("Quincy", "02169"),
    ("Lynn", "01901"),
    ("Newton", "02458"),
    ("Somerville", "02143"),
];

const ENCOUNTER_TYPES: &[(&str, &str)] = &[
    ("162673000", "General examination of patient (procedure)"),
    ("185349003", "Encounter for check up (procedure)"),
    ("185345009", "Encounter for symptom (procedure)"),
    ("390906007", "Follow-up encounter (procedure)"),
];

/// SNOMED CT conditions; `true` for chronic ones (no abatement).
const CONDITIONS: &[(&str, &str, bool)] = &[
    ("44054006", "Diabetes mellitus type 2 (disorder)", true),
    ("38341003", "Hypertension (disorder)", true),
    ("55822004", "Hyperlipidemia (disorder)", true),
    ("15777000", "Prediabetes (finding)", true),
    ("162864005", "Body mass index 30+ - obesity (finding)", true),
    ("233678006", "Childhood asthma (disorder)", true),
    ("195662009", "Acute viral pharyngitis (disorder)", false),
    ("10509002", "Acute bronchitis (disorder)", false),
    ("444814009", "Viral sinusitis (disorder)", false),
    ("40055000", "Chronic sinusitis (disorder)", true),
];

const PROCEDURES: &[(&str, &str)] = &[
    ("430193006", "Medication reconciliation (procedure)"),
    ("171207006", "Depression screening (procedure)"),
    (
        "710824005",
        "Assessment of health and social care needs (procedure)",
    ),
    (
        "428191000124101",
        "Documentation of current medications (procedure)",
    ),
    ("117015009", "Throat culture (procedure)"),
    ("76601001", "Intramuscular injection (procedure)"),
];

const MEDICATIONS: &[(&str, &str)] = &[
    (
        "860975",
        "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
    ),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("259255", "atorvastatin 80 MG Oral Tablet"),
    ("313782", "Acetaminophen 325 MG Oral Tablet"),
    ("308182", "Amoxicillin 250 MG Oral Capsule"),
    ("849574", "Naproxen sodium 220 MG Oral Tablet"),
    ("310965", "Ibuprofen 200 MG Oral Tablet"),
];

const VACCINES: &[(&str, &str)] = &[
    ("140", "Influenza, seasonal, injectable, preservative free"),
    ("08", "Hep B, adolescent or pediatric"),
    ("113", "Td (adult) preservative free"),
    ("133", "Pneumococcal conjugate PCV 13"),
    ("62", "HPV, quadrivalent"),
    ("115", "Tdap"),
    ("20", "DTaP"),
    ("10", "IPV"),
];

/// A measured quantity: LOINC code, display, UCUM unit, normal range, decimals.
struct Measure {
    code: &'static str,
    display: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: i32,
}

const fn m(
    code: &'static str,
    display: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: i32,
) -> Measure {
    Measure {
        code,
        display,
        unit,
        low,
        high,
        decimals,
    }
}

/// LOINC heart rate, the code the benchmark's token search looks for.
pub const HEART_RATE: &str = "8867-4";
/// LOINC body weight.
pub const BODY_WEIGHT: &str = "29463-7";
/// LOINC blood-pressure panel (systolic and diastolic in `component`).
pub const BLOOD_PRESSURE: &str = "85354-9";
/// LOINC glucose (mass/volume in serum or plasma), part of the metabolic panel.
pub const GLUCOSE: &str = "2339-0";

const HEART: Measure = m(HEART_RATE, "Heart rate", "/min", 55.0, 100.0, 0);
const WEIGHT: Measure = m(BODY_WEIGHT, "Body Weight", "kg", 50.0, 110.0, 1);
const SYSTOLIC: Measure = m(
    "8480-6",
    "Systolic Blood Pressure",
    "mm[Hg]",
    100.0,
    150.0,
    0,
);
const DIASTOLIC: Measure = m(
    "8462-4",
    "Diastolic Blood Pressure",
    "mm[Hg]",
    60.0,
    95.0,
    0,
);
const OPTIONAL_VITALS: &[Measure] = &[
    m("8302-2", "Body Height", "cm", 150.0, 195.0, 1),
    m(
        "39156-5",
        "Body mass index (BMI) [Ratio]",
        "kg/m2",
        18.5,
        34.0,
        1,
    ),
    m("9279-1", "Respiratory rate", "/min", 12.0, 20.0, 0),
    m("8310-5", "Body temperature", "Cel", 36.1, 37.8, 1),
];
const METABOLIC_PANEL: (&str, &str, &[Measure]) = (
    "51990-0",
    "Basic metabolic panel - Blood",
    &[
        m(
            GLUCOSE,
            "Glucose [Mass/volume] in Serum or Plasma",
            "mg/dL",
            70.0,
            140.0,
            1,
        ),
        m(
            "6299-2",
            "Urea nitrogen [Mass/volume] in Blood",
            "mg/dL",
            7.0,
            20.0,
            1,
        ),
        m(
            "38483-4",
            "Creatinine [Mass/volume] in Blood",
            "mg/dL",
            0.6,
            1.3,
            2,
        ),
        m(
            "49765-1",
            "Calcium [Mass/volume] in Blood",
            "mg/dL",
            8.5,
            10.2,
            1,
        ),
        m(
            "2947-0",
            "Sodium [Moles/volume] in Blood",
            "mmol/L",
            135.0,
            145.0,
            1,
        ),
        m(
            "6298-4",
            "Potassium [Moles/volume] in Blood",
            "mmol/L",
            3.5,
            5.1,
            1,
        ),
        m(
            "2069-3",
            "Chloride [Moles/volume] in Blood",
            "mmol/L",
            98.0,
            107.0,
            1,
        ),
        m(
            "20565-8",
            "Carbon dioxide, total [Moles/volume] in Blood",
            "mmol/L",
            22.0,
            29.0,
            1,
        ),
    ],
);
const LIPID_PANEL: (&str, &str, &[Measure]) = (
    "57698-3",
    "Lipid panel with direct LDL - Serum or Plasma",
    &[
        m(
            "2093-3",
            "Cholesterol [Mass/volume] in Serum or Plasma",
            "mg/dL",
            150.0,
            260.0,
            1,
        ),
        m("2571-8", "Triglycerides", "mg/dL", 70.0, 250.0, 1),
        m(
            "18262-6",
            "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            "mg/dL",
            70.0,
            180.0,
            1,
        ),
        m(
            "2085-9",
            "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
            "mg/dL",
            35.0,
            80.0,
            1,
        ),
    ],
);

// ---------------------------------------------------------------------------

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.r#gen();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn date_time(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).expect("a time in range");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

fn date(unix: i64) -> String {
    date_time(unix)[..10].to_owned()
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [coding(system, code, display)], "text": display})
}

fn reference(full_url: &str) -> Value {
    json!({"reference": full_url})
}

fn round(value: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (value * f).round() / f
}

fn quantity(measure: &Measure, value: f64) -> Value {
    let value = round(value, measure.decimals);
    let number = if measure.decimals == 0 {
        json!(value as i64)
    } else {
        json!(value)
    };
    json!({"value": number, "unit": measure.unit, "system": UCUM, "code": measure.unit})
}

fn sample(rng: &mut ChaCha8Rng, measure: &Measure) -> Value {
    let v = rng.gen_range(measure.low..=measure.high);
    quantity(measure, v)
}

struct Entry {
    full_url: String,
    resource: Value,
}

struct Patient {
    uuid: String,
    birth: i64,
    entries: Vec<Entry>,
}

struct Encounter {
    full_url: String,
    start: i64,
    end: i64,
}

impl Patient {
    fn new(rng: &mut ChaCha8Rng) -> Patient {
        let uuid = uuid(rng);
        // Born between 1940 and 2014.
        let birth = rng.gen_range(-30 * YEAR..45 * YEAR) / DAY * DAY;
        Patient {
            uuid,
            birth,
            entries: Vec::new(),
        }
    }

    fn push(&mut self, full_url: String, resource: Value) {
        self.entries.push(Entry { full_url, resource });
    }

    fn bundle(mut self, rng: &mut ChaCha8Rng) -> Value {
        let patient_url = format!("urn:uuid:{}", self.uuid);
        let patient = self.patient_resource(rng);
        self.push(patient_url.clone(), patient);

        // Encounters in the last ten years (or since birth), in time order.
        let first = (NOW - 10 * YEAR).max(self.birth + 30 * DAY);
        let count = rng.gen_range(3..=9);
        let mut starts: Vec<i64> = (0..count)
            .map(|_| rng.gen_range(first..NOW - DAY) / 60 * 60)
            .collect();
        starts.sort_unstable();
        let mut encounters = Vec::new();
        for start in starts {
            let end = start + rng.gen_range(15..=60) * 60;
            let id = uuid(rng);
            let full_url = format!("urn:uuid:{id}");
            let (class, class_display) = match rng.gen_range(0..20) {
                0 => ("EMER", "emergency"),
                1 => ("IMP", "inpatient encounter"),
                _ => ("AMB", "ambulatory"),
            };
            let (code, display) = *ENCOUNTER_TYPES.choose(rng).expect("types");
            let resource = json!({
                "resourceType": "Encounter",
                "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class, "display": class_display},
                "type": [concept(SNOMED, code, display)],
                "subject": reference(&patient_url),
                "period": {"start": date_time(start), "end": date_time(end)},
            });
            self.push(full_url.clone(), resource);
            encounters.push(Encounter {
                full_url,
                start,
                end,
            });
        }

        for encounter in &encounters {
            self.vital_signs(rng, &patient_url, encounter);
            if rng.gen_bool(0.18) {
                self.lab_panel(rng, &patient_url, encounter, &METABOLIC_PANEL);
            }
            if rng.gen_bool(0.15) {
                self.lab_panel(rng, &patient_url, encounter, &LIPID_PANEL);
            }
            if rng.gen_bool(0.5) {
                self.procedure(rng, &patient_url, encounter);
            }
            if rng.gen_bool(0.4) {
                self.medication_request(rng, &patient_url, encounter);
            }
            if rng.gen_bool(0.3) {
                self.immunization(rng, &patient_url, encounter);
            }
        }
        for _ in 0..rng.gen_range(0..=4) {
            let encounter = encounters.choose(rng).expect("at least three encounters");
            self.condition(rng, &patient_url, encounter);
        }

        let entries: Vec<Value> = self
            .entries
            .into_iter()
            .map(|e| {
                let rt = e.resource["resourceType"]
                    .as_str()
                    .expect("a resource type")
                    .to_owned();
                json!({
                    "fullUrl": e.full_url,
                    "resource": e.resource,
                    "request": {"method": "POST", "url": rt},
                })
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    }

    fn patient_resource(&self, rng: &mut ChaCha8Rng) -> Value {
        let female = rng.gen_bool(0.5);
        let given_names = if female { GIVEN_FEMALE } else { GIVEN_MALE };
        let mut given = vec![*given_names.choose(rng).expect("names")];
        if rng.gen_bool(0.4) {
            given.push(given_names.choose(rng).expect("names"));
        }
        let family = *FAMILY.choose(rng).expect("names");
        let adult = NOW - self.birth >= 18 * YEAR;
        let mut name = json!({"use": "official", "family": family, "given": given});
        if adult {
            name["prefix"] = json!([if female { "Ms." } else { "Mr." }]);
        }
        let (city, postal) = *CITIES.choose(rng).expect("cities");
        let line = format!(
            "{} {} {}",
            rng.gen_range(1..=999),
            STREETS.choose(rng).expect("streets"),
            STREET_KINDS.choose(rng).expect("kinds")
        );
        let mrn = uuid(rng);
        let phone = format!(
            "555-{:03}-{:04}",
            rng.gen_range(200..1000),
            rng.gen_range(0..10_000)
        );
        let ssn = format!(
            "999-{:02}-{:04}",
            rng.gen_range(10..100),
            rng.gen_range(1000..10_000)
        );
        let married = adult && rng.gen_bool(0.5);
        let (marital, marital_display) = if married {
            ("M", "Married")
        } else {
            ("S", "Never Married")
        };
        json!({
            "resourceType": "Patient",
            "identifier": [
                {"system": UUID_SYSTEM, "value": format!("urn:uuid:{}", self.uuid)},
                {
                    "type": concept("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical Record Number"),
                    "system": "http://hospital.smarthealthit.org",
                    "value": mrn,
                },
                {
                    "type": concept("http://terminology.hl7.org/CodeSystem/v2-0203", "SS", "Social Security Number"),
                    "system": "http://hl7.org/fhir/sid/us-ssn",
                    "value": ssn,
                },
            ],
            "name": [name],
            "telecom": [{"system": "phone", "value": phone, "use": "home"}],
            "gender": if female { "female" } else { "male" },
            "birthDate": date(self.birth),
            "address": [{
                "line": [line],
                "city": city,
                "state": "MA",
                "postalCode": postal,
                "country": "US",
            }],
            "maritalStatus": concept("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", marital, marital_display),
            "communication": [{"language": concept("urn:ietf:bcp:47", "en-US", "English (United States)")}],
        })
    }

    /// An Observation with the fields every generated one has; the caller
    /// adds the value.
    fn observation(
        &mut self,
        rng: &mut ChaCha8Rng,
        patient: &str,
        encounter: &Encounter,
        category: (&str, &str),
        code: (&str, &str),
        value: Value,
    ) -> String {
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let mut resource = json!({
            "resourceType": "Observation",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "status": "final",
            "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/observation-category", category.0, category.1)]}],
            "code": concept(LOINC, code.0, code.1),
            "subject": reference(patient),
            "encounter": reference(&encounter.full_url),
            "effectiveDateTime": date_time(encounter.start),
            "issued": date_time(encounter.end),
        });
        let obj = resource.as_object_mut().expect("an object");
        match value {
            Value::Object(fields) => obj.extend(fields),
            _ => unreachable!("values are objects"),
        }
        self.push(full_url.clone(), resource);
        full_url
    }

    fn vital_signs(&mut self, rng: &mut ChaCha8Rng, patient: &str, encounter: &Encounter) {
        let vital = ("vital-signs", "Vital signs");
        let components: Vec<Value> = [&SYSTOLIC, &DIASTOLIC]
            .into_iter()
            .map(|m| {
                json!({
                    "code": concept(LOINC, m.code, m.display),
                    "valueQuantity": sample(rng, m),
                })
            })
            .collect();
        self.observation(
            rng,
            patient,
            encounter,
            vital,
            (
                BLOOD_PRESSURE,
                "Blood pressure panel with all children optional",
            ),
            json!({"component": components}),
        );
        for measure in [&HEART, &WEIGHT] {
            let value = sample(rng, measure);
            self.observation(
                rng,
                patient,
                encounter,
                vital,
                (measure.code, measure.display),
                json!({"valueQuantity": value}),
            );
        }
        for measure in OPTIONAL_VITALS {
            if rng.gen_bool(0.25) {
                let value = sample(rng, measure);
                self.observation(
                    rng,
                    patient,
                    encounter,
                    vital,
                    (measure.code, measure.display),
                    json!({"valueQuantity": value}),
                );
            }
        }
    }

    fn lab_panel(
        &mut self,
        rng: &mut ChaCha8Rng,
        patient: &str,
        encounter: &Encounter,
        panel: &(&str, &str, &[Measure]),
    ) {
        let (code, display, measures) = *panel;
        let mut results = Vec::new();
        for measure in measures {
            let value = sample(rng, measure);
            let url = self.observation(
                rng,
                patient,
                encounter,
                ("laboratory", "Laboratory"),
                (measure.code, measure.display),
                json!({"valueQuantity": value}),
            );
            results.push(reference(&url));
        }
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let report = json!({
            "resourceType": "DiagnosticReport",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "status": "final",
            "category": [concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": concept(LOINC, code, display),
            "subject": reference(patient),
            "encounter": reference(&encounter.full_url),
            "effectiveDateTime": date_time(encounter.start),
            "issued": date_time(encounter.end),
            "result": results,
        });
        self.push(full_url, report);
    }

    fn procedure(&mut self, rng: &mut ChaCha8Rng, patient: &str, encounter: &Encounter) {
        let (code, display) = *PROCEDURES.choose(rng).expect("procedures");
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let start = encounter.start + rng.gen_range(0..=10) * 60;
        let resource = json!({
            "resourceType": "Procedure",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "status": "completed",
            "code": concept(SNOMED, code, display),
            "subject": reference(patient),
            "encounter": reference(&encounter.full_url),
            "performedPeriod": {"start": date_time(start), "end": date_time(start + 15 * 60)},
        });
        self.push(full_url, resource);
    }

    fn medication_request(&mut self, rng: &mut ChaCha8Rng, patient: &str, encounter: &Encounter) {
        let (code, display) = *MEDICATIONS.choose(rng).expect("medications");
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let per_day = rng.gen_range(1..=3);
        let resource = json!({
            "resourceType": "MedicationRequest",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "status": if rng.gen_bool(0.3) { "active" } else { "stopped" },
            "intent": "order",
            "medicationCodeableConcept": concept(RXNORM, code, display),
            "subject": reference(patient),
            "encounter": reference(&encounter.full_url),
            "authoredOn": date_time(encounter.start),
            "dosageInstruction": [{
                "sequence": 1,
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "asNeededBoolean": false,
                "doseAndRate": [{
                    "type": concept("http://terminology.hl7.org/CodeSystem/dose-rate-type", "ordered", "Ordered"),
                    "doseQuantity": {"value": 1},
                }],
            }],
        });
        self.push(full_url, resource);
    }

    fn immunization(&mut self, rng: &mut ChaCha8Rng, patient: &str, encounter: &Encounter) {
        let (code, display) = *VACCINES.choose(rng).expect("vaccines");
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let resource = json!({
            "resourceType": "Immunization",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "status": "completed",
            "vaccineCode": concept(CVX, code, display),
            "patient": reference(patient),
            "encounter": reference(&encounter.full_url),
            "occurrenceDateTime": date_time(encounter.start),
            "primarySource": true,
        });
        self.push(full_url, resource);
    }

    fn condition(&mut self, rng: &mut ChaCha8Rng, patient: &str, encounter: &Encounter) {
        let (code, display, chronic) = *CONDITIONS.choose(rng).expect("conditions");
        let full_url = format!("urn:uuid:{}", uuid(rng));
        let abated = !chronic && encounter.start + 30 * DAY < NOW;
        let mut resource = json!({
            "resourceType": "Condition",
            "identifier": [{"system": UUID_SYSTEM, "value": full_url}],
            "clinicalStatus": concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                if abated { "resolved" } else { "active" },
                if abated { "Resolved" } else { "Active" },
            ),
            "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
            "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
            "code": concept(SNOMED, code, display),
            "subject": reference(patient),
            "encounter": reference(&encounter.full_url),
            "onsetDateTime": date_time(encounter.start),
            "recordedDate": date_time(encounter.start),
        });
        if abated {
            resource["abatementDateTime"] =
                json!(date_time(encounter.start + rng.gen_range(7..=21) * DAY));
        }
        self.push(full_url, resource);
    }
}
