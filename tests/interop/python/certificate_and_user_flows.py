"""Certificate credentials and the interactive user flows through MSAL Python
and azure-identity, pointed at Hale as CLIENTS.md says. The device-login page
is driven with `requests` in a thread, as a person would in a browser. Prints
one JSON object with what each library returned."""

import hashlib
import json
import os
import re
import threading

import msal
import requests
from azure.identity import CertificateCredential

host = os.environ["HALE_AUTHORITY_HOST"]
tenant = os.environ["HALE_TENANT"]
ca = os.environ["HALE_CA"]
cert_client = os.environ["HALE_CERT_CLIENT_ID"]
cert_pem = open(os.environ["HALE_CERT_PEM"]).read()
key_pem = open(os.environ["HALE_KEY_PEM"]).read()
scope = os.environ["HALE_SCOPE"]
cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
arm = "https://management.azure.com//user_impersonation"
username = os.environ["HALE_USERNAME"]
password = os.environ["HALE_PASSWORD"]

der = __import__("ssl").PEM_cert_to_DER_cert(cert_pem)
thumbprint = hashlib.sha1(der).hexdigest()
authority = f"{host}/{tenant}"
out = {}


def pick(result, *keys):
    return {k: result.get(k) for k in keys}


# MSAL Python, certificate by SHA-1 thumbprint: RS256 with x5t.
by_thumbprint = msal.ConfidentialClientApplication(
    cert_client,
    client_credential={"private_key": key_pem, "thumbprint": thumbprint},
    authority=authority,
    instance_discovery=False,
).acquire_token_for_client(scopes=[scope])
out["msal_thumbprint"] = pick(by_thumbprint, "access_token", "error", "error_description")

# MSAL Python with the public certificate: PS256 with x5t#S256 and x5c.
with_cert = msal.ConfidentialClientApplication(
    cert_client,
    client_credential={"private_key": key_pem, "public_certificate": cert_pem},
    authority=authority,
    instance_discovery=False,
).acquire_token_for_client(scopes=[scope])
out["msal_public_certificate"] = pick(with_cert, "access_token", "error", "error_description")

# azure-identity CertificateCredential from one PEM file with key and cert.
pem_path = os.environ["HALE_KEY_AND_CERT_PEM"]
with open(pem_path, "w") as f:
    f.write(key_pem + cert_pem)
cred = CertificateCredential(
    tenant,
    cert_client,
    certificate_path=pem_path,
    authority=host,
    disable_instance_discovery=True,
    connection_verify=ca,
    send_certificate_chain=True,
)
out["azure_identity_certificate"] = {"access_token": cred.get_token(scope).token}


def sign_in_on_the_page(user_code):
    """What the user does in a browser: open the page, type the code, sign in."""
    s = requests.Session()
    s.verify = ca
    page = s.get(f"{host}/devicelogin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    s.post(f"{host}/devicelogin", data={"csrf": csrf, "otc": user_code})
    done = s.post(
        f"{host}/devicelogin",
        data={"csrf": csrf, "otc": user_code, "username": username, "password": password, "decision": "accept"},
    ).text
    out["device_page"] = "You have signed in" in done


public = msal.PublicClientApplication(cli, authority=authority, instance_discovery=False)
flow = public.initiate_device_flow(scopes=[arm])
out["device_flow"] = pick(flow, "user_code", "verification_uri", "interval", "expires_in", "error")
# Poll quickly in the test; MSAL honours `interval` otherwise.
flow["interval"] = 1
browser = threading.Thread(target=sign_in_on_the_page, args=(flow["user_code"],))
browser.start()
result = public.acquire_token_by_device_flow(flow)
browser.join()
out["device_token"] = pick(result, "access_token", "refresh_token", "id_token_claims", "scope", "error", "error_description")

# The account is cached (id_token + client_info); a forced silent refresh
# redeems the refresh token.
accounts = public.get_accounts()
out["accounts"] = [pick(a, "username", "home_account_id") for a in accounts]
if accounts:
    silent = public.acquire_token_silent([arm], account=accounts[0], force_refresh=True)
    out["silent_refresh"] = pick(silent or {}, "access_token", "error", "error_description")

print(json.dumps(out))
