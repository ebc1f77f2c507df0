// fhir-kit-client against Hale's FHIR service, with a token from
// @azure/identity for the service URL (scope `{fhirUrl}/.default`); the
// process trusts Hale's CA through NODE_EXTRA_CA_CERTS. Creates, reads, posts
// a transaction bundle, searches and follows `next` links; prints one JSON
// object with what it saw.
import { readFileSync } from "node:fs";
import { Client } from "fhir-kit-client";
import { ClientSecretCredential } from "@azure/identity";

const env = process.env;
const fhirUrl = env.HALE_FHIR_URL;
const family = env.HALE_FAMILY;
const transaction = JSON.parse(readFileSync(env.HALE_BUNDLE, "utf8"));
const out = {};

const cred = new ClientSecretCredential(env.HALE_TENANT, env.HALE_CLIENT_ID, env.HALE_CLIENT_SECRET, {
  authorityHost: env.HALE_AUTHORITY_HOST,
  disableInstanceDiscovery: true,
});
const { token } = await cred.getToken(`${fhirUrl}/.default`);
out.token = token;
const client = new Client({ baseUrl: fhirUrl, bearerToken: token });

const capability = await client.capabilityStatement();
out.capability = { resourceType: capability.resourceType, fhirVersion: capability.fhirVersion };

const created = await client.create({
  resourceType: "Patient",
  body: {
    resourceType: "Patient",
    identifier: [{ system: "urn:hale:interop", value: "node-1" }],
    name: [{ use: "official", family, given: ["Grace"] }],
    gender: "female",
    birthDate: "1906-12-09",
  },
});
out.created = { id: created.id, resourceType: created.resourceType };
const read = await client.read({ resourceType: "Patient", id: created.id });
out.read = { id: read.id, family: read.name?.[0]?.family, versionId: read.meta?.versionId };

const byFamily = await client.search({ resourceType: "Patient", searchParams: { family } });
out.search_family = (byFamily.entry ?? []).map((e) => e.resource.id);

const response = await client.transaction({ body: transaction });
const entries = response.entry ?? [];
const patientLocation = entries[0]?.response?.location ?? "";
const patientId = patientLocation.split("Patient/")[1]?.split("/")[0];
out.transaction = {
  type: response.type,
  entries: entries.length,
  statuses: [...new Set(entries.map((e) => e.response.status.split(" ")[0]))].sort(),
  patient_id: patientId,
};

let page = await client.search({
  resourceType: "Observation",
  searchParams: { subject: `Patient/${patientId}`, _count: 10 },
});
let pages = 0;
const ids = [];
while (page && pages <= 1000) {
  pages += 1;
  for (const e of page.entry ?? []) ids.push(e.resource.id);
  page = await client.nextPage({ bundle: page });
}
out.paged = { pages, ids: ids.length, distinct: new Set(ids).size };

const heart = await client.search({
  resourceType: "Observation",
  searchParams: { subject: `Patient/${patientId}`, code: "http://loinc.org|8867-4", _count: 100 },
});
const heartEntries = heart.entry ?? [];
out.heart_rate = {
  count: heartEntries.length,
  all_heart_rate: heartEntries.every((e) => e.resource.code.coding.some((c) => c.code === "8867-4")),
};

try {
  await client.read({ resourceType: "Patient", id: "does-not-exist-0000" });
  out.missing = "found";
} catch (e) {
  out.missing = { status: e.response?.status, resourceType: e.response?.data?.resourceType };
}
try {
  await new Client({ baseUrl: fhirUrl }).read({ resourceType: "Patient", id: created.id });
  out.no_token = "allowed";
} catch (e) {
  out.no_token = { status: e.response?.status, resourceType: e.response?.data?.resourceType };
}

console.log(JSON.stringify(out));
