"""The SMART on FHIR Python client (fhirclient) against Hale's FHIR service,
with a token from azure-identity for the service URL (scope
`{fhir_url}/.default`), as a developer points them at an Azure Health Data
Services FHIR service. Creates, reads, posts a transaction bundle, searches
and follows `next` links; prints one JSON object with what it saw."""

import json
import math
import os

import requests
from azure.identity import ClientSecretCredential
from fhirclient import client, server as fhir_server
from fhirclient.models.bundle import Bundle
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

host = os.environ["HALE_AUTHORITY_HOST"]
tenant = os.environ["HALE_TENANT"]
client_id = os.environ["HALE_CLIENT_ID"]
secret = os.environ["HALE_CLIENT_SECRET"]
ca = os.environ["HALE_CA"]
fhir_url = os.environ["HALE_FHIR_URL"]
family = os.environ["HALE_FAMILY"]
with open(os.environ["HALE_BUNDLE"]) as f:
    transaction = json.load(f)

out = {}
cred = ClientSecretCredential(
    tenant, client_id, secret, authority=host, disable_instance_discovery=True, connection_verify=ca
)
token = cred.get_token(f"{fhir_url}/.default").token
out["token"] = token

smart = client.FHIRClient(settings={"app_id": "hale-interop", "api_base": fhir_url})
srv = smart.server
# A bearer token from elsewhere (no SMART launch): fhirclient sends the
# session's headers with every request.
srv.session.headers["Authorization"] = f"Bearer {token}"

capability = srv.capabilityStatement
out["capability"] = {"fhirVersion": capability.fhirVersion, "kind": capability.kind}

# Create and read back.
patient = Patient({
    "resourceType": "Patient",
    "identifier": [{"system": "urn:hale:interop", "value": "python-1"}],
    "name": [{"use": "official", "family": family, "given": ["Ada"]}],
    "gender": "female",
    "birthDate": "1970-01-01",
})
created = patient.create(srv)
out["created"] = {"id": created.get("id") if created else None, "resourceType": created.get("resourceType") if created else None}
pid = out["created"]["id"]
read = Patient.read(pid, srv)
out["read"] = {"id": read.id, "family": read.name[0].family, "birthDate": read.birthDate.isostring, "versionId": read.meta.versionId if read.meta else None}

# Search by name: the created patient, as a parsed searchset.
found = list(Patient.where(struct={"family": family}).perform_resources_iter(srv))
out["search_family"] = [p.id for p in found]

# A generated Synthea-shaped transaction bundle.
response = Bundle(transaction).create(srv)
entries = response.get("entry", []) if response else []
out["transaction"] = {
    "type": response.get("type") if response else None,
    "entries": len(entries),
    "statuses": sorted({e["response"]["status"].split(" ")[0] for e in entries}),
    "patient_location": entries[0]["response"]["location"] if entries else None,
}
bundle_pid = out["transaction"]["patient_location"].split("Patient/")[1].split("/")[0]
out["transaction"]["patient_id"] = bundle_pid

# Page through the patient's Observations, 10 a page, following `next`.
pages = 0
ids = []
for page in Observation.where(struct={"subject": f"Patient/{bundle_pid}", "_count": "10"}).perform_iter(srv):
    pages += 1
    ids.extend(e.resource.id for e in (page.entry or []) if e.resource is not None)
    if pages > 1000:
        break
out["paged"] = {"pages": pages, "ids": len(ids), "distinct": len(set(ids))}

# A token search on a LOINC code within the patient.
heart = list(
    Observation.where(struct={"subject": f"Patient/{bundle_pid}", "code": "http://loinc.org|8867-4"})
    .perform_resources_iter(srv)
)
out["heart_rate"] = {
    "count": len(heart),
    "all_heart_rate": all(any(c.code == "8867-4" for c in o.code.coding) for o in heart),
}

# Errors: a missing resource, and no token.
try:
    Patient.read("does-not-exist-0000", srv)
    out["missing"] = "found"
except fhir_server.FHIRNotFoundException as e:
    out["missing"] = {"status": e.response.status_code, "resourceType": e.response.json().get("resourceType")}
anonymous = requests.get(f"{fhir_url}/Patient/{pid}", headers={"Accept": "application/fhir+json"})
out["no_token"] = {"status": anonymous.status_code, "resourceType": anonymous.json().get("resourceType")}

print(json.dumps(out))
