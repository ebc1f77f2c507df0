"""The authorization code flow with PKCE through MSAL Python (the browser's
part played by `requests`), then a resource server's check of Hale's tokens
with PyJWT from discovery and JWKS alone. Prints one JSON object."""

import json
import os
import ssl

import jwt
import msal

from sign_in_page import sign_in

host = os.environ["HALE_AUTHORITY_HOST"]
tenant = os.environ["HALE_TENANT"]
ca = os.environ["HALE_CA"]
client_id = os.environ["HALE_PUBLIC_CLIENT_ID"]
api_scope = os.environ["HALE_API_SCOPE"]  # api://…/Notes.Read
api_audience = os.environ["HALE_API_AUDIENCE"]
username = os.environ["HALE_USERNAME"]
password = os.environ["HALE_PASSWORD"]
out = {}

app = msal.PublicClientApplication(client_id, authority=f"{host}/{tenant}", instance_discovery=False)
flow = app.initiate_auth_code_flow(scopes=[api_scope], redirect_uri="http://localhost:8765/")
out["pkce_in_auth_uri"] = "code_challenge=" in flow["auth_uri"]

browser, out["consent_page"], out["redirected_to"], auth_response = sign_in(flow["auth_uri"], username, password, ca)
result = app.acquire_token_by_auth_code_flow(flow, auth_response)
out["auth_code"] = {k: result.get(k) for k in ("access_token", "id_token", "refresh_token", "scope", "error", "error_description")}
out["id_token_claims"] = result.get("id_token_claims")

# A second sign-in for the same user is silent (single sign-on): no page.
flow2 = app.initiate_auth_code_flow(scopes=[api_scope], redirect_uri="http://localhost:8765/", prompt="none")
again = browser.get(flow2["auth_uri"], allow_redirects=False)
out["sso_status"] = again.status_code
out["sso_has_code"] = "code=" in again.headers.get("location", "")

# The resource server: discovery, JWKS, PyJWT.
config = browser.get(f"{host}/{tenant}/v2.0/.well-known/openid-configuration").json()
jwks_client = jwt.PyJWKClient(config["jwks_uri"], ssl_context=ssl.create_default_context(cafile=ca))
token = result.get("access_token")
if token:
    key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=api_audience, issuer=config["issuer"])
    out["resource_server"] = {"ok": True, "scp": claims.get("scp"), "aud": claims.get("aud")}
    try:
        jwt.decode(token, key.key, algorithms=["RS256"], audience="api://someone-else", issuer=config["issuer"])
        out["resource_server_wrong_audience"] = "accepted"
    except jwt.InvalidAudienceError:
        out["resource_server_wrong_audience"] = "rejected"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    try:
        jwt.decode(tampered, key.key, algorithms=["RS256"], audience=api_audience, issuer=config["issuer"])
        out["resource_server_tampered"] = "accepted"
    except jwt.InvalidSignatureError:
        out["resource_server_tampered"] = "rejected"

# The API, as a middle tier, calls a downstream API on behalf of the user.
middle = msal.ConfidentialClientApplication(
    api_audience, client_credential=os.environ["HALE_API_SECRET"], authority=f"{host}/{tenant}", instance_discovery=False
)
if token:
    obo = middle.acquire_token_on_behalf_of(token, [os.environ["HALE_DOWNSTREAM_SCOPE"]])
    out["obo"] = {k: obo.get(k) for k in ("access_token", "scope", "error", "error_description")}

print(json.dumps(out))
