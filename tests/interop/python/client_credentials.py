"""Client credentials with a client secret through MSAL Python and azure-identity,
configured as CLIENTS.md says a developer points them at Hale. Prints one JSON
object with what each library returned."""

import json
import os

import msal
from azure.identity import ClientSecretCredential
from azure.core.exceptions import ClientAuthenticationError

host = os.environ["HALE_AUTHORITY_HOST"]  # https://127.0.0.1:<port>
tenant = os.environ["HALE_TENANT"]
domain = os.environ["HALE_TENANT_DOMAIN"]
client_id = os.environ["HALE_CLIENT_ID"]
secret = os.environ["HALE_CLIENT_SECRET"]
scope = os.environ["HALE_SCOPE"]
ca = os.environ["HALE_CA"]

out = {}

app = msal.ConfidentialClientApplication(
    client_id, client_credential=secret, authority=f"{host}/{tenant}", instance_discovery=False
)
first = app.acquire_token_for_client(scopes=[scope])
out["msal"] = {k: first.get(k) for k in ("access_token", "token_type", "expires_in", "error", "error_codes")}
second = app.acquire_token_for_client(scopes=[scope])
out["msal_second_same_token"] = second.get("access_token") == first.get("access_token")

by_domain = msal.ConfidentialClientApplication(
    client_id, client_credential=secret, authority=f"{host}/{domain}", instance_discovery=False
).acquire_token_for_client(scopes=[scope])
out["msal_by_domain"] = {k: by_domain.get(k) for k in ("access_token", "error", "error_codes")}

bad = msal.ConfidentialClientApplication(
    client_id, client_credential="not-the-secret", authority=f"{host}/{tenant}", instance_discovery=False
).acquire_token_for_client(scopes=[scope])
out["msal_wrong_secret"] = {k: bad.get(k) for k in ("error", "error_codes")}

cred = ClientSecretCredential(
    tenant, client_id, secret, authority=host, disable_instance_discovery=True, connection_verify=ca
)
token = cred.get_token(scope)
out["azure_identity"] = {"access_token": token.token, "expires_on": token.expires_on}

try:
    ClientSecretCredential(
        tenant, client_id, "not-the-secret", authority=host, disable_instance_discovery=True, connection_verify=ca
    ).get_token(scope)
    out["azure_identity_wrong_secret"] = "accepted"
except ClientAuthenticationError as e:
    out["azure_identity_wrong_secret"] = str(e)

print(json.dumps(out))
