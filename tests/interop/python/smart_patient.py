"""SMART on FHIR with Hale as the identity provider: a patient signs in to a
public client through MSAL Python (the authorization code flow with PKCE, the
browser's part played by `requests`) for an API's SMART scope, and the
fhirclient library reads the FHIR service with that token. Prints one JSON
object with what it saw."""

import json
import os

import msal
from fhirclient import client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

from sign_in_page import sign_in

host = os.environ["HALE_AUTHORITY_HOST"]
tenant = os.environ["HALE_TENANT"]
ca = os.environ["HALE_CA"]
client_id = os.environ["HALE_PUBLIC_CLIENT_ID"]
api_scope = os.environ["HALE_API_SCOPE"]  # api://…/patient.all.read
username = os.environ["HALE_USERNAME"]
password = os.environ["HALE_PASSWORD"]
fhir_url = os.environ["HALE_FHIR_URL"]
own_id = os.environ["HALE_OWN_PATIENT"]
other_id = os.environ["HALE_OTHER_PATIENT"]
out = {}

app = msal.PublicClientApplication(client_id, authority=f"{host}/{tenant}", instance_discovery=False)
flow = app.initiate_auth_code_flow(scopes=[api_scope], redirect_uri="http://localhost:8765/")

_, _, _, auth_response = sign_in(flow["auth_uri"], username, password, ca)
result = app.acquire_token_by_auth_code_flow(flow, auth_response)
out["error"] = result.get("error_description")
token = result.get("access_token")
out["token"] = token

smart = client.FHIRClient(settings={"app_id": "hale-smart-interop", "api_base": fhir_url})
srv = smart.server
srv.session.headers["Authorization"] = f"Bearer {token}"

own = Patient.read(own_id, srv)
out["own_patient"] = own.id
observations = list(Observation.where(struct={"_count": "50"}).perform_resources_iter(srv))
out["observation_subjects"] = sorted({o.subject.reference for o in observations})

# Someone else's record is not there for this token.
response = srv.session.get(f"{fhir_url}/Patient/{other_id}", headers={"Accept": "application/fhir+json"})
out["other_patient_status"] = response.status_code

print(json.dumps(out))
