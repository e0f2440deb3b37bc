"""The h5py side of the bench suite's read scenario: serial h5py reads one 1-D slice.

    /usr/bin/python3 bench/h5py_read.py <file> <dataset> <start> <count> <reps>

Imports happen before the clock; each repetition times open -> read the slice into a new
numpy array -> close, and prints one JSON line {seconds, cpuSeconds, first, last} (the CPU
time, user + system, of the same span; the first and last values let the caller check
what was read).
"""
import json
import resource
import sys
import time

import h5py

path, name, start, count, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

for _ in range(reps):
    c0 = cpu()
    t0 = time.perf_counter()
    with h5py.File(path, 'r') as f:
        data = f[name][start:start + count]
    seconds = time.perf_counter() - t0
    cpu_seconds = cpu() - c0
    print(json.dumps({'seconds': seconds, 'cpuSeconds': cpu_seconds, 'first': float(data[0]), 'last': float(data[-1])}), flush=True)
    del data
