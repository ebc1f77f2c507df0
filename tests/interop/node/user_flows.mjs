// Certificates and the device code flow through MSAL Node and @azure/identity
// (started with NODE_EXTRA_CA_CERTS=<Hale's CA>). The device-login page is
// filled in with fetch, as a person would in a browser. Prints one JSON object.
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";
import { ClientCertificateCredential } from "@azure/identity";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const env = process.env;
const host = env.HALE_AUTHORITY_HOST;
const tenant = env.HALE_TENANT;
const scope = env.HALE_SCOPE;
const certClient = env.HALE_CERT_CLIENT_ID;
const certPem = readFileSync(env.HALE_CERT_PEM, "utf8");
const keyPem = readFileSync(env.HALE_KEY_PEM, "utf8");
const knownAuthorities = [new URL(host).host];
const authority = `${host}/${tenant}`;
const out = {};

// MSAL Node with a SHA-256 thumbprint: PS256 and x5t#S256.
const der = new X509Certificate(certPem).raw;
const thumbprintSha256 = createHash("sha256").update(der).digest("hex");
const byCert = new ConfidentialClientApplication({
  auth: { clientId: certClient, authority, knownAuthorities, clientCertificate: { thumbprintSha256, privateKey: keyPem, x5c: certPem } },
});
try {
  const r = await byCert.acquireTokenByClientCredential({ scopes: [scope] });
  out.msal_certificate = { accessToken: r.accessToken };
} catch (e) {
  out.msal_certificate = { error: String(e.errorMessage ?? e.message) };
}

// @azure/identity ClientCertificateCredential from one PEM with key and cert.
writeFileSync(env.HALE_KEY_AND_CERT_PEM, keyPem + certPem);
try {
  const cred = new ClientCertificateCredential(tenant, certClient, { certificatePath: env.HALE_KEY_AND_CERT_PEM }, { authorityHost: host, disableInstanceDiscovery: true });
  out.azure_identity_certificate = { accessToken: (await cred.getToken(scope)).token };
} catch (e) {
  out.azure_identity_certificate = { error: String(e.message) };
}

// The device code flow: the user's part done with fetch and a cookie jar of one.
async function signInOnThePage(userCode) {
  const page = await fetch(`${host}/devicelogin`);
  const cookie = page.headers.get("set-cookie").split(";")[0];
  const csrf = (await page.text()).match(/name="csrf" value="([^"]+)"/)[1];
  const post = (fields) =>
    fetch(`${host}/devicelogin`, { method: "POST", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields) });
  await post({ csrf, otc: userCode });
  const done = await post({ csrf, otc: userCode, username: env.HALE_USERNAME, password: env.HALE_PASSWORD, decision: "accept" });
  out.device_page = (await done.text()).includes("You have signed in");
}

const pca = new PublicClientApplication({ auth: { clientId: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", authority, knownAuthorities } });
let signing = null;
try {
  const r = await pca.acquireTokenByDeviceCode({
    scopes: ["https://management.azure.com//user_impersonation"],
    deviceCodeCallback: (info) => {
      out.device_code = { userCode: info.userCode, verificationUri: info.verificationUri, interval: info.interval };
      signing = signInOnThePage(info.userCode);
    },
  });
  await signing;
  out.device_token = { accessToken: r.accessToken, username: r.account?.username, homeAccountId: r.account?.homeAccountId };
  const silent = await pca.acquireTokenSilent({ account: r.account, scopes: ["https://management.azure.com//user_impersonation"], forceRefresh: true });
  out.silent_refresh = { accessToken: silent.accessToken, fromCache: silent.fromCache };
} catch (e) {
  out.device_token = { error: String(e.errorMessage ?? e.message) };
}

// Username and password (ROPC) through MSAL Node's public client.
try {
  const r = await pca.acquireTokenByUsernamePassword({
    scopes: ["https://management.azure.com//user_impersonation"],
    username: env.HALE_USERNAME,
    password: env.HALE_PASSWORD,
  });
  out.ropc = { accessToken: r.accessToken, username: r.account?.username };
} catch (e) {
  out.ropc = { error: String(e.errorMessage ?? e.message) };
}

console.log(JSON.stringify(out));
