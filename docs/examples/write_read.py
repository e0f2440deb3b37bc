#!/usr/bin/env python3
"""Write a numpy array into an HDF5 file through ph5, wait for the jobs, read it back.

Needs only `requests` and `numpy` (Debian: python3-requests python3-numpy).

    PH5_URL=http://127.0.0.1:8080 PH5_TOKEN=... python3 write_read.py [FILE] [DATASET]

FILE defaults to example.h5, DATASET to /demo/temperature. PH5_TOKEN may be left unset
when the server runs without a token table (authentication off).

Every change in ph5 is a job: the API answers 202 at once with the job, and the worker
pool applies it collectively, in the order the jobs on that file were accepted. So the
writes below are sent right after the creation, without waiting for it.

Large arrays go in row-block parts (write_rows below): above PH5_PARTS_ABOVE bytes
(default 64 MiB) the rows are sent as parts of about PH5_PART_BYTES (default 32 MiB),
PH5_CONNECTIONS (default 3) at a time, each its own job applied as soon as it arrives.
Each part is atomic, the whole is not: if one fails, the parts already applied stay.
"""
import io
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import numpy as np
import requests

URL = os.environ.get("PH5_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ.get("PH5_TOKEN")
FILE = sys.argv[1] if len(sys.argv) > 1 else "example.h5"
DATASET = sys.argv[2] if len(sys.argv) > 2 else "/demo/temperature"

PARTS_ABOVE = int(os.environ.get("PH5_PARTS_ABOVE", 64 * 2**20))
PART_BYTES = int(os.environ.get("PH5_PART_BYTES", 32 * 2**20))
CONNECTIONS = int(os.environ.get("PH5_CONNECTIONS", 3))

ROWS, COLS = 64, 10
# The array to store: deterministic, so anyone (the test suite included) can recompute it.
ARRAY = (np.arange(ROWS * COLS, dtype="<f4").reshape(ROWS, COLS) * 0.25 - 20).astype("<f4")


class Ph5Error(Exception):
    pass


session = requests.Session()
if TOKEN:
    session.headers["Authorization"] = f"Bearer {TOKEN}"


def check(response, *ok):
    """Returns the response if its status is one of `ok`; otherwise raises with ph5's problem detail."""
    if response.status_code in ok:
        return response
    try:
        problem = response.json()
        why = f"{problem.get('code')}: {problem.get('detail')}"
    except ValueError:
        why = response.text[:500]
    raise Ph5Error(f"{response.request.method} {response.url} -> HTTP {response.status_code} {why}")


def dataset_url(suffix=""):
    # A dataset path is ONE URL segment: '/demo/temperature' -> 'demo%2Ftemperature'.
    return f"{URL}/v1/files/{quote(FILE, safe='')}/datasets/{quote(DATASET.lstrip('/'), safe='')}{suffix}"


_local = threading.local()


def thread_session():
    """One requests.Session per thread (a Session is not meant to be shared across threads)."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.headers.update(session.headers)
    return _local.session


def put_part(url, params, body, key, attempts=4):
    """One part: retried on a lost connection, 5xx, 429 or a key still in progress, with the
    SAME Idempotency-Key, so a part whose 202 was lost answers its original job."""
    for attempt in range(1, attempts + 1):
        try:
            r = thread_session().put(url, params=params, data=body,
                                     headers={"Content-Type": "application/octet-stream", "Idempotency-Key": key})
        except requests.ConnectionError:
            if attempt == attempts:
                raise
            time.sleep(0.25 * 2**attempt)
            continue
        in_progress = r.status_code == 409 and "IDEMPOTENCY_IN_PROGRESS" in r.text
        if r.status_code == 202 or attempt == attempts or not (r.status_code >= 500 or r.status_code == 429 or in_progress):
            return check(r, 202).json()["job"]["id"]
        time.sleep(min(30, float(r.headers.get("Retry-After", 0.25 * 2**attempt))))


def write_rows(array, first_row=0):
    """Writes `array` into rows first_row.. of the dataset (raw bytes, its own dtype: the byte
    order travels in ?dtype=). Above PARTS_ABOVE bytes, in row-block parts over several
    connections. Returns the job ids; raises naming the rows written and not written."""
    array = np.ascontiguousarray(array)
    rest = ",".join(":" for _ in array.shape[1:])
    select = lambda a, b: f"[{first_row + a}:{first_row + b}{',' + rest if rest else ''}]"
    params = lambda a, b: {"select": select(a, b), "dtype": array.dtype.str}
    if array.nbytes <= PARTS_ABOVE or len(array) < 2:
        r = session.put(dataset_url("/value"), params=params(0, len(array)), data=array.tobytes(),
                        headers={"Content-Type": "application/octet-stream"})
        return [check(r, 202).json()["job"]["id"]]
    row_bytes = array.nbytes // len(array)
    per_part = max(1, PART_BYTES // row_bytes)
    blocks = [(a, min(a + per_part, len(array))) for a in range(0, len(array), per_part)]
    upload = uuid.uuid4().hex
    url = dataset_url("/value")
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        futures = [pool.submit(put_part, url, params(a, b), array[a:b].tobytes(), f"{upload}-{k}")
                   for k, (a, b) in enumerate(blocks)]
        outcomes = []
        for (a, b), f in zip(blocks, futures):
            try:
                outcomes.append((a, b, f.result(), None))
            except (Ph5Error, requests.RequestException) as err:
                outcomes.append((a, b, None, err))
    failed = [(a, b, err) for a, b, _, err in outcomes if err]
    if failed:
        # Each part is atomic, the whole is not: the accepted parts are (or will be) in the file.
        done = ", ".join(f"{first_row + a}:{first_row + b}" for a, b, job, _ in outcomes if job) or "none"
        lost = ", ".join(f"{first_row + a}:{first_row + b}" for a, b, _ in failed)
        raise Ph5Error(f"rows {lost} were not accepted ({failed[0][2]}); rows accepted: {done}")
    return [job for _, _, job, _ in outcomes]


def wait_for(job_id, timeout_s=300):
    """Long-polls the job (?wait=) until it is completed; raises if it failed."""
    for _ in range(max(1, timeout_s // 30)):
        job = check(session.get(f"{URL}/v1/jobs/{job_id}", params={"wait": 30}), 200).json()
        if job["state"] == "completed":
            return job
        if job["state"] == "failed":
            raise Ph5Error(f"job {job_id} failed: {job.get('error')}")
    raise Ph5Error(f"job {job_id} still {job['state']} after {timeout_s} s")


def main():
    # 1. Create the dataset (the file and the parent groups too). 409 = it exists: reuse it
    #    if it has the right dtype and shape, so the example can be run again.
    created = session.post(
        f"{URL}/v1/files/{quote(FILE, safe='')}/datasets",
        json={"path": DATASET, "dtype": "float32", "shape": [ROWS, COLS]},
    )
    jobs = []
    if created.status_code == 409:
        info = check(session.get(dataset_url()), 200).json()
        if info["dtype"] != "float32" or info["shape"] != [ROWS, COLS]:
            raise Ph5Error(f"{FILE}:{DATASET} exists as {info['dtype']} {info['shape']}; pick another name")
    else:
        jobs.append(check(created, 202).json()["job"]["id"])

    # 2a. The first half as raw bytes, C order (in row-block parts when it is large).
    half = ROWS // 2
    jobs.extend(write_rows(ARRAY[:half]))

    # 2b. The second half as a .npy file, exactly what numpy.save writes.
    npy = io.BytesIO()
    np.save(npy, ARRAY[half:])
    put_npy = session.put(
        dataset_url("/value"),
        params={"select": f"[{half}:{ROWS},:]"},
        data=npy.getvalue(),
        headers={"Content-Type": "application/x-npy"},
    )
    jobs.append(check(put_npy, 202).json()["job"]["id"])

    # 3. Wait for the jobs, in the order they were accepted (parts may share a job).
    jobs = list(dict.fromkeys(jobs))
    finished = [wait_for(job_id) for job_id in jobs]
    ranks = finished[-1].get("ranks")

    # 4a. Read the whole dataset back as .npy...
    got = session.get(dataset_url("/value"), headers={"Accept": "application/x-npy"})
    back = np.load(io.BytesIO(check(got, 200).content))
    # 4b. ...and a slice as raw bytes, described by the X-Ph5-Dtype and X-Ph5-Shape headers.
    got = check(session.get(dataset_url("/value"), params={"select": "[10:20,3]"},
                            headers={"Accept": "application/octet-stream"}), 200)
    shape = tuple(int(n) for n in got.headers["X-Ph5-Shape"].split(","))
    piece = np.frombuffer(got.content, dtype=np.dtype(got.headers["X-Ph5-Dtype"])).reshape(shape)

    # 5. Compare.
    if back.dtype != ARRAY.dtype or not np.array_equal(back, ARRAY):
        raise Ph5Error(f"read back {back.dtype} {back.shape} differs from what was written")
    if not np.array_equal(piece, ARRAY[10:20, 3:4]):  # an index keeps its dimension
        raise Ph5Error(f"the slice [10:20,3] read back differs: {piece.ravel()}")
    print(f"ok: {FILE}:{DATASET} float32 {ROWS}x{COLS} written ({len(jobs)} jobs, {ranks} ranks) and read back identical")


if __name__ == "__main__":
    try:
        main()
    except (Ph5Error, requests.RequestException) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
