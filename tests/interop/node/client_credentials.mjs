// Client credentials with a client secret through MSAL Node and @azure/identity,
// configured as CLIENTS.md says a developer points them at Hale (the process is
// started with NODE_EXTRA_CA_CERTS=<Hale's CA>). Prints one JSON object.
import { ConfidentialClientApplication } from "@azure/msal-node";
import { ClientSecretCredential } from "@azure/identity";

const env = process.env;
const host = env.HALE_AUTHORITY_HOST; // https://127.0.0.1:<port>
const tenant = env.HALE_TENANT;
const clientId = env.HALE_CLIENT_ID;
const secret = env.HALE_CLIENT_SECRET;
const scope = env.HALE_SCOPE;
const knownAuthorities = [new URL(host).host];
const out = {};

const app = new ConfidentialClientApplication({
  auth: { clientId, clientSecret: secret, authority: `${host}/${tenant}`, knownAuthorities },
});
const first = await app.acquireTokenByClientCredential({ scopes: [scope] });
out.msal = { accessToken: first.accessToken, tokenType: first.tokenType, fromCache: first.fromCache };
const second = await app.acquireTokenByClientCredential({ scopes: [scope] });
out.msal_second_from_cache = second.fromCache;

try {
  const bad = new ConfidentialClientApplication({
    auth: { clientId, clientSecret: "not-the-secret", authority: `${host}/${tenant}`, knownAuthorities },
  });
  await bad.acquireTokenByClientCredential({ scopes: [scope] });
  out.msal_wrong_secret = "accepted";
} catch (e) {
  out.msal_wrong_secret = { errorCode: e.errorCode, message: String(e.errorMessage ?? e.message) };
}

const cred = new ClientSecretCredential(tenant, clientId, secret, { authorityHost: host, disableInstanceDiscovery: true });
const token = await cred.getToken(scope);
out.azure_identity = { accessToken: token.token, expiresOnTimestamp: token.expiresOnTimestamp };

try {
  await new ClientSecretCredential(tenant, clientId, "not-the-secret", { authorityHost: host, disableInstanceDiscovery: true }).getToken(scope);
  out.azure_identity_wrong_secret = "accepted";
} catch (e) {
  out.azure_identity_wrong_secret = String(e.message);
}

console.log(JSON.stringify(out));
