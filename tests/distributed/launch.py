"""Start one Python process per rank with the variables ``torchrun`` sets
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``), as ``torchrun --nproc_per_node N script.py ...`` would,
without torchrun's own start-up cost."""
import os
import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_ranks(script, args, world_size=2, timeout=300, cpu=True):
    """Run ``python script *args`` as ``world_size`` ranks and wait.

    ``cpu=True`` hides GPUs (``CUDA_VISIBLE_DEVICES=''``). If a rank fails,
    the others are killed and an AssertionError shows the failed rank's
    output. Returns the wall time in seconds.
    """
    env = dict(os.environ, WORLD_SIZE=str(world_size),
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
               OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    if cpu:
        env['CUDA_VISIBLE_DEVICES'] = ''
    start = time.time()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), *map(str, args)],
            env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in range(world_size)
    ]
    try:
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed or time.time() - start > timeout:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [p.communicate()[0] for p in procs]
    for rank, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, (
            f'rank {rank} exited with {p.returncode} after '
            f'{time.time() - start:.0f}s:\n{log[-4000:]}')
    return time.time() - start
