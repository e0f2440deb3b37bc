"""One rank of the h5py-mpio baseline of the bench suite's bulk write (run under mpirun).

    mpirun -n R /usr/bin/python3 bench/h5py_bulk.py <file> <shape as JSON> <result dir>

Like bench/h5py_write.py, for any shape: the array is split into balanced blocks along
its first axis (as ph5's decompose.ts does), each rank fills its block from memory before
the clock (element at flat index i holds float(i)), and after a barrier times file create
-> contiguous float64 dataset create -> collective write of its block -> close. Writes
{rank, start, end} (epoch seconds) to <result dir>/rank-<r>.json.
"""
import json
import os
import sys
import time

import h5py
import numpy as np
from mpi4py import MPI

path, shape, result_dir = sys.argv[1], tuple(json.loads(sys.argv[2])), sys.argv[3]
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
rows = shape[0]
row_len = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
base, extra = divmod(rows, size)
count = base + (1 if rank < extra else 0)
start = rank * base + min(rank, extra)
block = np.arange(start * row_len, (start + count) * row_len, dtype='<f8').reshape((count,) + shape[1:])

comm.Barrier()
t0 = time.time()
f = h5py.File(path, 'w', driver='mpio', comm=comm)
dset = f.create_dataset('x', shape=shape, dtype='<f8')
with dset.collective:
    dset[start:start + count] = block
f.close()
t1 = time.time()

with open(os.path.join(result_dir, f'rank-{rank}.json'), 'w') as out:
    json.dump({'rank': rank, 'start': t0, 'end': t1}, out)
