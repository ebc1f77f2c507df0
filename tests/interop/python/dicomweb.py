"""dicomweb-client and pydicom against Hale's DICOM service.

A daemon gets a token for https://dicom.healthcareapis.azure.com with MSAL
(client credentials), then stores pydicom's bundled test files (several
transfer syntaxes, multi-frame) and the generated corpus, searches at study,
series and instance level, retrieves instances (bytes compared with what
dicomweb-client sent; pydicom parses them), metadata, frames and rendered
images, and deletes one instance. Every check is recorded; the Rust test
asserts on the JSON printed.

Environment: HALE_AUTHORITY_HOST, HALE_TENANT, HALE_CLIENT_ID,
HALE_CLIENT_SECRET, HALE_DICOM_URL (…/v2), HALE_DICOM_SCOPE,
HALE_GENERATED_DIR; REQUESTS_CA_BUNDLE trusts Hale's CA.
"""

import io
import json
import os
import sys
import traceback

import msal
import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

# Bundled with the pydicom wheel (nothing downloaded): explicit and implicit VR
# little endian, RLE, JPEG baseline, JPEG-LS, JPEG 2000, multi-frame RLE and a
# 15-frame RT dose.
PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle_2frame.dcm",
    "rtdose.dcm",
]

out = {"checks": []}


def check(name, fn):
    """Runs one check; records ok or the error, never stops the script."""
    try:
        detail = fn()
        out["checks"].append({"name": name, "ok": True, "detail": detail})
    except Exception as e:  # noqa: BLE001 - every failure is reported
        out["checks"].append(
            {
                "name": name,
                "ok": False,
                "detail": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc(limit=3),
            }
        )


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def encoded(ds):
    """The bytes dicomweb-client sends for `ds` (it calls dcmwrite likewise)."""
    with io.BytesIO() as b:
        pydicom.dcmwrite(b, ds)
        return b.getvalue()


def frames_of(ds):
    """Each frame's bytes as stored: native slices or encapsulated frames."""
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(ds.PixelData, number_of_frames=n))
    size = ds.Rows * ds.Columns * ds.SamplesPerPixel * (ds.BitsAllocated // 8)
    return [ds.PixelData[i * size : (i + 1) * size] for i in range(n)]


def load():
    """(dataset, sent bytes) for every instance, with fresh UIDs for pydicom's
    files (several of them share their UIDs) and zero preambles (the service
    stores a null preamble, as Azure does)."""
    items = []
    study = generate_uid()
    for name in PYDICOM_FILES:
        path = get_testdata_file(name)
        expect(path is not None, f"{name} is not bundled with pydicom")
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = "PYDICOM-INTEROP"
        ds.PatientName = "Interop^Pydicom"
        ds.AccessionNumber = "PYD-1"
        ds.StudyDate = "20240102"
        ds.preamble = b"\0" * 128
        items.append((name, ds))
    gen = os.environ["HALE_GENERATED_DIR"]
    for name in sorted(os.listdir(gen)):
        ds = pydicom.dcmread(os.path.join(gen, name))
        items.append((name, ds))
    return [(name, ds, encoded(ds)) for name, ds in items]


def main():
    url = os.environ["HALE_DICOM_URL"]
    if os.environ.get("DICOMWEB_DEV_BASIC"):
        # Development only: the same checks against another DICOMweb server.
        import base64

        basic = base64.b64encode(os.environ["DICOMWEB_DEV_BASIC"].encode()).decode()
        bearer = {"Authorization": f"Basic {basic}"}
    else:
        app = msal.ConfidentialClientApplication(
            os.environ["HALE_CLIENT_ID"],
            client_credential=os.environ["HALE_CLIENT_SECRET"],
            authority=f"{os.environ['HALE_AUTHORITY_HOST']}/{os.environ['HALE_TENANT']}",
            instance_discovery=False,
        )
        token = app.acquire_token_for_client(scopes=[os.environ["HALE_DICOM_SCOPE"]])
        if "access_token" not in token:
            out["token_error"] = token
            print(json.dumps(out))
            return
        out["token_type"] = token.get("token_type")
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
    client = DICOMwebClient(url=url, headers=bearer)
    instances = load()
    out["instances"] = len(instances)
    by_study = {}
    for name, ds, _ in instances:
        by_study.setdefault(ds.StudyInstanceUID, {}).setdefault(
            ds.SeriesInstanceUID, []
        ).append(ds.SOPInstanceUID)
    out["studies"] = len(by_study)

    # STOW-RS: pydicom's files in one request, the generated ones study by study
    # (POST /studies/{study}), each request chunked past 1 MB by dicomweb-client.
    def store(batch, study=None):
        response = client.store_instances([ds for _, ds, _ in batch], study_instance_uid=study)
        referenced = {item.ReferencedSOPInstanceUID for item in response.get("ReferencedSOPSequence", [])}
        failed = response.get("FailedSOPSequence", [])
        expect(not failed, f"failed: {failed}")
        sent = {ds.SOPInstanceUID for _, ds, _ in batch}
        expect(referenced == sent, f"referenced {len(referenced)} of {len(sent)}")
        if study:
            expect(response.get("RetrieveURL", "").endswith(f"/studies/{study}"), "the study's RetrieveURL")
        return len(referenced)

    pyd = [i for i in instances if i[0] in PYDICOM_FILES]
    check("stow pydicom test files", lambda: store(pyd))
    generated = [i for i in instances if i[0] not in PYDICOM_FILES]
    for study in sorted({ds.StudyInstanceUID for _, ds, _ in generated}):
        batch = [i for i in generated if i[1].StudyInstanceUID == study]
        check(f"stow generated study {study}", lambda b=batch, s=study: store(b, s))

    # A duplicate is refused (45070), reported in FailedSOPSequence with 409.
    def duplicate():
        try:
            client.store_instances([pyd[0][1]])
        except requests.HTTPError as e:
            expect(e.response.status_code == 409, f"status {e.response.status_code}")
            body = e.response.json()
            reasons = [i["00081197"]["Value"][0] for i in body["00081198"]["Value"]]
            expect(reasons == [45070], f"reasons {reasons}")
            return 409
        raise AssertionError("a duplicate was stored")

    check("stow duplicate is 409/45070", duplicate)

    # QIDO-RS at every level.
    pyd_study = pyd[0][1].StudyInstanceUID

    def qido_study():
        found = client.search_for_studies(search_filters={"PatientID": "PYDICOM-INTEROP"})
        expect([s["0020000D"]["Value"][0] for s in found] == [pyd_study], f"{found}")
        found = client.search_for_studies(
            search_filters={"PatientName": "interop"}, fuzzymatching=True
        )
        expect(pyd_study in [s["0020000D"]["Value"][0] for s in found], "fuzzy PatientName")
        found = client.search_for_studies(search_filters={"StudyDate": "20240101-20240103"})
        expect(pyd_study in [s["0020000D"]["Value"][0] for s in found], "StudyDate range")
        everything = client.search_for_studies(get_remaining=True)
        expect(len(everything) == len(by_study), f"{len(everything)} studies of {len(by_study)}")
        return len(everything)

    check("qido studies", qido_study)

    def qido_series_and_instances():
        for study, series in by_study.items():
            found = client.search_for_series(study_instance_uid=study)
            expect(
                sorted(s["0020000E"]["Value"][0] for s in found) == sorted(series),
                f"series of {study}",
            )
            instances_in_study = client.search_for_instances(study_instance_uid=study, get_remaining=True)
            expect(
                len(instances_in_study) == sum(len(v) for v in series.values()),
                f"instances of {study}",
            )
            for se, sops in series.items():
                found = client.search_for_instances(
                    study_instance_uid=study, series_instance_uid=se, get_remaining=True
                )
                expect(sorted(i["00080018"]["Value"][0] for i in found) == sorted(sops), f"instances of {se}")
        return sum(len(s) for s in by_study.values())

    check("qido series and instances", qido_series_and_instances)

    # WADO-RS: the original bytes (transfer-syntax=*), read by pydicom.
    raw = requests.Session()
    raw.headers.update(bearer)

    def retrieve_bytes():
        for name, ds, sent in instances:
            got = client.retrieve_instance(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                media_types=(("application/dicom", "*"),),
            )
            expect(got.SOPInstanceUID == ds.SOPInstanceUID, name)
            expect(got.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID, f"{name}: transfer syntax")
            expect(got.PixelData == ds.PixelData, f"{name}: pixel data")
            r = raw.get(
                f"{url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
                headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
            )
            expect(r.status_code == 200, f"{name}: {r.status_code}")
            parts = split_multipart(r)
            expect(len(parts) == 1, f"{name}: {len(parts)} parts")
            expect(parts[0] == sent, f"{name}: {len(parts[0])} bytes differ from the {len(sent)} sent")
            pydicom.dcmread(io.BytesIO(parts[0]))
        return len(instances)

    check("wado instances byte for byte", retrieve_bytes)

    # WADO-RS transcoding: compressed instances asked for in Explicit VR
    # Little Endian come back decoded; pydicom's own decoders (numpy for RLE,
    # Pillow for JPEG and JPEG 2000) are the reference. Lossless syntaxes must
    # match exactly; JPEG baseline within the rounding two decoders differ by.
    def transcoded():
        import numpy as np

        compressed = {
            "MR_small_RLE.dcm": 0,
            "SC_rgb_rle_2frame.dcm": 0,
            "JPEG2000.dcm": 0,
            "SC_rgb_jpeg_dcmtk.dcm": 3,
        }
        checked = []
        for name, ds, _ in instances:
            if name not in compressed:
                continue
            got = client.retrieve_instance(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                media_types=(("application/dicom", "1.2.840.10008.1.2.1"),),
            )
            expect(got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", f"{name}: {got.file_meta.TransferSyntaxUID}")
            expect(got.SOPInstanceUID == ds.SOPInstanceUID, f"{name}: SOP Instance UID")
            want, have = ds.pixel_array, got.pixel_array
            expect(want.shape == have.shape, f"{name}: shape {have.shape}, expected {want.shape}")
            diff = int(np.abs(want.astype(np.int32) - have.astype(np.int32)).max())
            expect(diff <= compressed[name], f"{name}: pixels differ by up to {diff}")
            checked.append(name)
        # Frames without a syntax named: native frames, decoded.
        for name, ds, _ in instances:
            if name != "SC_rgb_rle_2frame.dcm":
                continue
            got = client.retrieve_instance_frames(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                frame_numbers=[2],
                media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),),
            )
            frame = np.frombuffer(got[0], dtype=np.uint8)
            want = ds.pixel_array[1]
            expect(frame.size == want.size, f"{name}: decoded frame of {frame.size} bytes")
            checked.append(f"{name} frame 2")
        # JPEG-LS has no decoder in Hale: 406.
        for name, ds, _ in instances:
            if name != "MR_small_jpeg_ls_lossless.dcm":
                continue
            try:
                client.retrieve_instance(
                    ds.StudyInstanceUID,
                    ds.SeriesInstanceUID,
                    ds.SOPInstanceUID,
                    media_types=(("application/dicom", "1.2.840.10008.1.2.1"),),
                )
            except requests.HTTPError as e:
                expect(e.response.status_code == 406, f"{name}: {e.response.status_code}")
                checked.append(f"{name} 406")
                continue
            raise AssertionError(f"{name}: JPEG-LS transcoded without a decoder")
        expect(len(checked) == 6, f"checked {checked}")
        return checked

    check("wado transcodes compressed instances", transcoded)

    # WADO-RS to JPEG 2000 lossless, Azure's other transcoding target:
    # pydicom (through Pillow's OpenJPEG) decodes what Hale encoded to exactly
    # the original pixels, native and RLE sources alike; a frame asked for as
    # image/jp2 (the media type dicomweb-client pairs with that syntax) is a
    # J2K codestream Pillow reads; 32-bit dose data cannot be encoded
    # in JPEG 2000 by Hale: 406.
    def jpeg2000():
        import io

        import numpy as np
        from PIL import Image

        j2k = "1.2.840.10008.1.2.4.90"
        checked = []
        for name, ds, _ in instances:
            if name not in ("CT_small.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"):
                continue
            got = client.retrieve_instance(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                media_types=(("application/dicom", j2k),),
            )
            expect(got.file_meta.TransferSyntaxUID == j2k, f"{name}: {got.file_meta.TransferSyntaxUID}")
            want, have = ds.pixel_array, got.pixel_array
            expect(want.shape == have.shape, f"{name}: shape {have.shape}, expected {want.shape}")
            expect(np.array_equal(want, have), f"{name}: the pixels differ")
            checked.append(name)
        for name, ds, _ in instances:
            if name != "SC_rgb_rle_2frame.dcm":
                continue
            got = client.retrieve_instance_frames(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                frame_numbers=[2],
                media_types=(("image/jp2", j2k),),
            )
            expect(got[0][:4] == b"\xff\x4f\xff\x51", f"{name}: frame 2 is not a J2K codestream")
            frame = np.asarray(Image.open(io.BytesIO(got[0])))
            expect(np.array_equal(frame, ds.pixel_array[1]), f"{name}: frame 2 differs")
            checked.append(f"{name} frame 2")
        for name, ds, _ in instances:
            if name != "rtdose.dcm":
                continue
            try:
                client.retrieve_instance(
                    ds.StudyInstanceUID,
                    ds.SeriesInstanceUID,
                    ds.SOPInstanceUID,
                    media_types=(("application/dicom", j2k),),
                )
            except requests.HTTPError as e:
                expect(e.response.status_code == 406, f"{name}: {e.response.status_code}")
                checked.append(f"{name} 406")
                continue
            raise AssertionError(f"{name}: 32-bit pixel data sent in JPEG 2000")
        expect(len(checked) == 5, f"checked {checked}")
        return checked

    check("wado transcodes to JPEG 2000 lossless", jpeg2000)

    def retrieve_study_and_series():
        for study, series in by_study.items():
            got = client.retrieve_study(study, media_types=(("application/dicom", "*"),))
            expect(len(got) == sum(len(v) for v in series.values()), f"study {study}")
            se, sops = next(iter(series.items()))
            got = client.retrieve_series(study, se, media_types=(("application/dicom", "*"),))
            expect(sorted(d.SOPInstanceUID for d in got) == sorted(sops), f"series {se}")
        return len(by_study)

    check("wado study and series", retrieve_study_and_series)

    def metadata():
        for name, ds, _ in instances:
            md = client.retrieve_instance_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
            expect(md["00080018"]["Value"][0] == ds.SOPInstanceUID, name)
            expect("7FE00010" not in md, f"{name}: pixel data in metadata")
            parsed = pydicom.Dataset.from_json(md)
            expect(parsed.SOPClassUID == ds.SOPClassUID, f"{name}: SOP class")
        for study, series in by_study.items():
            md = client.retrieve_study_metadata(study)
            expect(len(md) == sum(len(v) for v in series.values()), f"study metadata {study}")
            for se, sops in series.items():
                md = client.retrieve_series_metadata(study, se)
                expect(sorted(m["00080018"]["Value"][0] for m in md) == sorted(sops), f"series metadata {se}")
        return len(instances)

    check("metadata", metadata)

    def frames():
        checked = 0
        for name, ds, _ in instances:
            expected = frames_of(ds)
            numbers = [1] if len(expected) == 1 else [1, len(expected)]
            got = client.retrieve_instance_frames(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                frame_numbers=numbers,
                media_types=(("application/octet-stream", "*"),),
            )
            expect(len(got) == len(numbers), f"{name}: {len(got)} frames")
            for n, frame in zip(numbers, got):
                want = expected[n - 1]
                # An odd-length last fragment may carry one byte of padding.
                expect(
                    frame == want or frame.rstrip(b"\0") == want.rstrip(b"\0"),
                    f"{name}: frame {n}: {len(frame)} bytes, expected {len(want)}",
                )
                checked += 1
        return checked

    check("frames", frames)

    def rendered():
        from PIL import Image

        renderable = [
            i
            for i in instances
            if i[0] in ("CT_small.dcm", "MR_small_implicit.dcm")
            or (i[1].Modality == "CT" and i[0] not in PYDICOM_FILES)
        ][:4]
        for name, ds, _ in renderable:
            for media, magic in (("image/jpeg", b"\xff\xd8"), ("image/png", b"\x89PNG")):
                img = client.retrieve_instance_rendered(
                    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, media_types=(media,)
                )
                expect(img.startswith(magic), f"{name}: {media}")
                size = Image.open(io.BytesIO(img)).size
                expect(size == (ds.Columns, ds.Rows), f"{name}: {media} is {size}")
        return len(renderable)

    check("rendered", rendered)

    def delete():
        _, ds, _ = instances[-1]
        client.delete_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        try:
            client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        except requests.HTTPError as e:
            expect(e.response.status_code == 404, f"after delete: {e.response.status_code}")
            return 404
        raise AssertionError("the deleted instance is still retrievable")

    check("delete", delete)
    print(json.dumps(out))


def split_multipart(response):
    """The part bodies of a multipart/related response (strict framing)."""
    ctype = response.headers["Content-Type"]
    params = dict(
        p.strip().split("=", 1) for p in ctype.split(";")[1:] if "=" in p
    )
    boundary = params["boundary"].strip('"').encode()
    body = response.content
    delimiter = b"\r\n--" + boundary
    if body.startswith(b"--" + boundary):
        body = b"\r\n" + body
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        parts.append(content)
    return parts


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001
        out["fatal"] = traceback.format_exc()
        print(json.dumps(out))
        sys.exit(0)
