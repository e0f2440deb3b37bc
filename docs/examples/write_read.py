#!/usr/bin/env python3
"""Write a numpy array into an HDF5 file through ph5, wait for the jobs, read it back.

Needs only `requests` and `numpy` (Debian: python3-requests python3-numpy).

    PH5_URL=http://127.0.0.1:8080 PH5_TOKEN=... python3 write_read.py [FILE] [DATASET]

FILE defaults to example.h5, DATASET to /demo/temperature. PH5_TOKEN may be left unset
when the server runs without a token table (authentication off).

Every change in ph5 is a job: the API answers 202 at once with the job, and the worker
pool applies it collectively, in the order the jobs on that file were accepted. So the
writes below are sent right after the creation, without waiting for it.
"""
import io
import os
import sys
from urllib.parse import quote

import numpy as np
import requests

URL = os.environ.get("PH5_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ.get("PH5_TOKEN")
FILE = sys.argv[1] if len(sys.argv) > 1 else "example.h5"
DATASET = sys.argv[2] if len(sys.argv) > 2 else "/demo/temperature"

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

    # 2a. The first half as raw bytes: C order, the dataset's byte order (little-endian).
    half = ROWS // 2
    raw = session.put(
        dataset_url("/value"),
        params={"select": f"[0:{half},:]"},
        data=ARRAY[:half].tobytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    jobs.append(check(raw, 202).json()["job"]["id"])

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

    # 3. Wait for the jobs, in the order they were accepted.
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
