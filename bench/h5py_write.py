"""One rank of the h5py side of bench/native-write.ts (run under mpirun).

    mpirun -n R /usr/bin/python3 bench/h5py_write.py <file> <total elements> <result dir>

Same layout and the same timed span as bench/native-write-rank.ts: the block is filled
before the clock starts; after a barrier each rank times file create -> dataset create
(contiguous 1-D float64) -> collective write of its contiguous block -> file close, and
writes {rank, start, end, phases} (epoch seconds) to <result dir>/rank-<r>.json.
"""
import json
import os
import sys
import time

import h5py
import numpy as np
from mpi4py import MPI

path, total, result_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
if not h5py.get_config().mpi:
    sys.exit("this h5py has no MPI support (Debian: python3-h5py-mpi)")

# Balanced contiguous blocks, the first `total % size` ranks one element longer.
base, extra = divmod(total, size)
count = base + (1 if rank < extra else 0)
start = rank * base + min(rank, extra)
# Element i holds float(i): the driver checks block boundaries after the run.
block = np.arange(start, start + count, dtype='<f8')

comm.Barrier()
t0 = time.time()
f = h5py.File(path, 'w', driver='mpio', comm=comm)
t1 = time.time()
dset = f.create_dataset('x', shape=(total,), dtype='<f8')
t2 = time.time()
with dset.collective:
    dset[start:start + count] = block
t3 = time.time()
f.close()
t4 = time.time()

with open(os.path.join(result_dir, f'rank-{rank}.json'), 'w') as out:
    json.dump({'rank': rank, 'start': t0, 'end': t4,
               'phases': {'open': t1 - t0, 'create': t2 - t1, 'write': t3 - t2, 'close': t4 - t3}}, out)
