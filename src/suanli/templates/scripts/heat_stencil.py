"""CPU HPC job: 2-D heat diffusion by Jacobi iteration (a five-point stencil), MPI + threads (suanli template).

With mpi4py the grid's rows are split across MPI ranks, which swap halo rows each iteration (start it with
``mpirun -np N``); numpy's vectorized updates use the threads given by OMP_NUM_THREADS. Without mpi4py it runs
as one process, without numpy in plain Python (slow: for smoke runs only).

``--smoke`` uses a 48 x 48 grid and 40 iterations; it writes ``result.json`` either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import suanli_runtime as rt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", type=int, default=4096, help="grid points per side")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--tolerance", type=float, default=1e-6, help="stop when the largest update is below this")
    p.add_argument("--output-dir", default="output")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.grid, args.iterations = min(args.grid, 48), min(args.iterations, 40)
    if args.grid < 4 or args.iterations < 1 or args.tolerance < 0:
        p.error("--grid >= 4, --iterations >= 1, --tolerance >= 0")
    return args


def comm_world():
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD


def solve_numpy(n: int, iterations: int, tolerance: float, comm) -> tuple[int, float, float]:
    np = rt.np
    rank, ranks = (comm.Get_rank(), comm.Get_size()) if comm else (0, 1)
    rows = n // ranks + (1 if rank < n % ranks else 0)
    first = rank * (n // ranks) + min(rank, n % ranks)
    u = np.zeros((rows + 2, n))  # one halo row above and below
    if first == 0:
        u[1, :] = 100.0  # the hot top edge
    fixed = np.zeros_like(u, dtype=bool)
    fixed[:, 0] = fixed[:, -1] = True
    if first == 0:
        fixed[1, :] = True
    if first + rows == n:
        fixed[rows, :] = True
    done, delta = 0, 0.0
    for done in range(1, iterations + 1):
        if comm and ranks > 1:
            up, down = rank - 1 if rank > 0 else None, rank + 1 if rank < ranks - 1 else None
            if up is not None:
                u[0] = comm.sendrecv(u[1].copy(), dest=up, source=up)
            if down is not None:
                u[rows + 1] = comm.sendrecv(u[rows].copy(), dest=down, source=down)
        new = u.copy()
        new[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        new[fixed] = u[fixed]
        local = float(np.max(np.abs(new - u)))
        delta = comm.allreduce(local, op=__import__("mpi4py").MPI.MAX) if comm and ranks > 1 else local
        u = new
        if delta < tolerance:
            break
    total = float(np.sum(u[1:-1]))
    if comm and ranks > 1:
        total = comm.allreduce(total)
    return done, delta, total / (n * n)


def solve_python(n: int, iterations: int, tolerance: float) -> tuple[int, float, float]:
    u = [[100.0] * n] + [[0.0] * n for _ in range(n - 1)]
    done, delta = 0, 0.0
    for done in range(1, iterations + 1):
        new = [row[:] for row in u]
        delta = 0.0
        for i in range(1, n - 1):
            up, row, down, out = u[i - 1], u[i], u[i + 1], new[i]
            for j in range(1, n - 1):
                out[j] = 0.25 * (up[j] + down[j] + row[j - 1] + row[j + 1])
                delta = max(delta, abs(out[j] - row[j]))
        u = new
        if delta < tolerance:
            break
    return done, delta, sum(map(sum, u)) / (n * n)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    comm = comm_world()
    rank, ranks = (comm.Get_rank(), comm.Get_size()) if comm else (0, 1)
    started = time.time()
    if rank == 0:
        rt.log(f"grid {args.grid}x{args.grid}, {args.iterations} iterations, {ranks} MPI rank(s), "
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, numpy={rt.np is not None}")
    if rt.np is not None:
        iterations, delta, mean = solve_numpy(args.grid, args.iterations, args.tolerance, comm)
    elif ranks > 1:
        raise SystemExit("MPI runs need numpy: pip install numpy")
    else:
        iterations, delta, mean = solve_python(args.grid, args.iterations, args.tolerance)
    seconds = time.time() - started
    if rank == 0:
        updates = (args.grid - 2) ** 2 * iterations
        rt.log(f"{iterations} iterations, last update {delta:.3g}, mean temperature {mean:.4f}")
        rt.write_json(os.path.join(args.output_dir, "result.json"), {
            "template": "heat_stencil", "mode": "smoke" if args.smoke else "full", "grid": args.grid,
            "iterations": iterations, "last_update": delta, "mean_temperature": mean, "mpi_ranks": ranks,
            "compute": "numpy" if rt.np is not None else "python", "cell_updates_per_s": updates / max(seconds, 1e-9),
            "seconds": round(seconds, 3), "device": rt.detect_device(import_torch=False)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
