"""Client side of bench/graph/run: creates the applications, then measures.

Standard library only. Each worker thread keeps one HTTPS connection alive.
"""

import argparse
import http.client
import json
import random
import ssl
import statistics
import threading
import time
import urllib.parse


def connection(host, port, context):
    return http.client.HTTPSConnection(host, port, context=context, timeout=60)


def call(conn, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    res = conn.getresponse()
    payload = res.read()
    return res.status, payload


def run_workers(n, work):
    """Runs work(worker_index) in n threads; returns the list of their results."""
    results = [None] * n
    def target(i):
        results[i] = work(i)
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def percentile(sorted_values, p):
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def report(name, latencies, elapsed):
    values = sorted(latencies)
    print(f"{name}: n={len(values)}  p50={percentile(values, 50) * 1000:.2f} ms  "
          f"p99={percentile(values, 99) * 1000:.2f} ms  max={values[-1] * 1000:.2f} ms  "
          f"mean={statistics.fmean(values) * 1000:.2f} ms  ({len(values) / elapsed:.0f} req/s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--apps", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    url = urllib.parse.urlparse(args.url)
    context = ssl.create_default_context(cafile=args.ca)

    conn = connection(url.hostname, url.port, context)
    form = urllib.parse.urlencode({
        "grant_type": "password",
        "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "username": "admin@hale.local",
        "password": args.password,
        "scope": "https://graph.microsoft.com/.default",
    })
    conn.request("POST", "/hale.local/oauth2/v2.0/token", body=form,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(conn.getresponse().read())["access_token"]

    # Names "bench-app-00000" …: the prefix "bench-app-0123" matches 10 apps.
    ids = [None] * args.apps
    started = time.perf_counter()
    def create(worker):
        c = connection(url.hostname, url.port, context)
        for i in range(worker, args.apps, args.concurrency):
            status, payload = call(c, "POST", "/v1.0/applications", token,
                                   {"displayName": f"bench-app-{i:05d}"})
            assert status == 201, payload
            ids[i] = json.loads(payload)["id"]
    run_workers(args.concurrency, create)
    elapsed = time.perf_counter() - started
    print(f"created {args.apps} applications in {elapsed:.1f} s "
          f"({args.apps / elapsed:.0f}/s, {args.concurrency} clients)")

    def measure(name, request):
        per_worker = max(1, args.samples // args.concurrency)
        def work(worker):
            c = connection(url.hostname, url.port, context)
            rng = random.Random(worker)
            for _ in range(20):  # warm-up
                request(c, rng)
            out = []
            for _ in range(per_worker):
                t = time.perf_counter()
                request(c, rng)
                out.append(time.perf_counter() - t)
            return out
        t0 = time.perf_counter()
        latencies = [x for chunk in run_workers(args.concurrency, work) for x in chunk]
        report(name, latencies, time.perf_counter() - t0)

    def add_password(c, rng):
        app = ids[rng.randrange(len(ids))]
        status, payload = call(c, "POST", f"/v1.0/applications/{app}/addPassword", token,
                               {"passwordCredential": {"displayName": "bench"}})
        assert status == 200, payload

    groups = max(1, args.apps // 10)
    def startswith(c, rng):
        prefix = f"bench-app-{rng.randrange(groups):04d}"
        query = urllib.parse.quote(f"startswith(displayName,'{prefix}')")
        status, payload = call(c, "GET", f"/v1.0/applications?$filter={query}&$top=100", token)
        assert status == 200, payload
        assert len(json.loads(payload)["value"]) >= 1, payload

    measure("POST /v1.0/applications/{id}/addPassword", add_password)
    measure("GET  /v1.0/applications?$filter=startswith(displayName,'…')", startswith)


if __name__ == "__main__":
    main()
