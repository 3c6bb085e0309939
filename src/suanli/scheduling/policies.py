"""Node-level placement policies for the trace replay, with GPU sharing.

A job asks for ``gpu_milli`` thousandths of a GPU: below 1000 it shares ONE GPU (takes that fraction
of it, like the Alibaba trace's ``gpu_milli``), otherwise it takes ``gpu_milli / 1000`` whole GPUs of
one node. CPU in milli-vCPUs, memory in MiB. Every policy sees only the nodes that can host the job
and picks one node and the GPUs on it.

Policies (``POLICIES``), after the baselines of Weng et al., "Beware of Fragmentation: Scheduling
GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023, and their simulator:

* ``first-fit``       the first node in node order;
* ``random-fit``      a node drawn uniformly (seeded), a fitting GPU drawn uniformly;
* ``cheapest-first``  the lowest hourly price for the job's share of the node;
* ``best-fit``        the least free CPU and GPU left after placing, each normalised by the largest
                      node, weights 1/2 and 1/2;
* ``dot-product``     the smallest dot product of the node's free (CPU, GPU) vector and the job's
                      request vector, both normalised by the largest node (the simulator's setting);
* ``packing``         GPU packing: a partly used GPU first (the fullest that fits), then a used node
                      needing the fewest idle GPUs, then an idle node with the fewest GPUs;
* ``clustering``      GPU clustering: nodes running only jobs of the same GPU request first, then
                      nodes that include that request, then idle nodes, then the rest; within a tier
                      the node with the least free GPU;
* ``fgd``             Fragmentation Gradient Descent: the node (and GPU) whose fragmentation, measured
                      against the target workload, grows the least;
* ``suanli``          our policy adapted to nodes: the cheapest price for the job's share (our
                      ``cost`` objective), ties broken by the least growth of fragmentation (FGD).

The fragmentation measure (the paper's F_n(M)): the target workload M is the popularity of task
shapes (CPU, GPUs per task, GPU share, allowed GPU models) among the GPU tasks of the trace, keeping
the most popular shapes that cover ``threshold`` (95 %, as in the authors' experiments) and
renormalising. For a node n and a task m: if m cannot run on n (GPU model not allowed, too little CPU,
or not enough GPUs with room for its share), all of n's free GPU is fragmented for m; otherwise the
free GPU on GPUs that cannot hold m's per-GPU share is. F_n(M) = sum_m p_m F_n(m), in milli-GPUs;
the cluster's fragmentation is the sum over nodes. Memory is not part of the measure (the paper uses
CPU and GPU only), but it is part of feasibility.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["POLICIES", "Cluster", "SimJob", "TargetWorkload", "choose_node", "policy_names"]

MILLI = 1000


@dataclass(frozen=True)
class SimJob:
    """What the simulator places: a job's resources in integer units."""

    index: int
    gpu_milli: int  # < 1000: share of one GPU; otherwise a multiple of 1000 (whole GPUs)
    cpu_milli: int
    memory_mib: int
    chips: frozenset[str]  # allowed GPU models; empty = any

    @property
    def gpu_count(self) -> int:
        if self.gpu_milli == 0:
            return 0
        return 1 if self.gpu_milli < MILLI else self.gpu_milli // MILLI

    @property
    def per_gpu(self) -> int:
        """Milli-GPUs needed on each GPU it uses."""
        return self.gpu_milli if self.gpu_milli < MILLI else MILLI

    @property
    def shape(self) -> tuple[int, int, int, frozenset[str]]:
        return (self.cpu_milli, self.per_gpu if self.gpu_milli else 0, self.gpu_count, self.chips)


class TargetWorkload:
    """The paper's target workload M and the fragmentation measure F_n(M) against it."""

    def __init__(self, shapes: Iterable[tuple[int, int, int, frozenset[str]]], threshold: float = 0.95) -> None:
        counts = Counter(s for s in shapes if s[2] > 0)  # GPU tasks only
        total = sum(counts.values())
        kept: list[tuple[tuple, int]] = []
        cum = 0
        for shape, n in sorted(counts.items(), key=lambda kv: (-kv[1], repr(kv[0]))):
            if total and cum >= threshold * total:
                break
            kept.append((shape, n))
            cum += n
        norm = sum(n for _s, n in kept) or 1
        self.shapes = [(shape, n / norm) for shape, n in kept]
        # Group by (per-GPU share, GPU count, models): within a group only the CPU differs.
        groups: dict[tuple, list[tuple[int, float]]] = {}
        for (cpu, per_gpu, count, chips), p in self.shapes:
            groups.setdefault((per_gpu, count, chips), []).append((cpu, p))
        self.groups = []
        for (per_gpu, count, chips), members in groups.items():
            members.sort()
            cpus = [c for c, _p in members]
            cum_p = []
            acc = 0.0
            for _c, p in members:
                acc += p
                cum_p.append(acc)
            self.groups.append((per_gpu, count, chips, cpus, cum_p, acc))
        self._by_chip: dict[str, tuple[float, list[tuple]]] = {}
        self._memo: dict[tuple, float] = {}

    def _for_chip(self, chip: str) -> tuple[float, list[tuple]]:
        got = self._by_chip.get(chip)
        if got is None:
            no_access = sum(g[5] for g in self.groups if g[2] and chip not in g[2])
            got = self._by_chip[chip] = (no_access, [g for g in self.groups if not g[2] or chip in g[2]])
        return got

    def node_frag(self, chip: str, cpu_free: int, gpu_free_sorted: tuple[int, ...]) -> float:
        """F_n(M) in milli-GPUs for a node of model ``chip`` with this free CPU and per-GPU free
        milli-GPUs (sorted ascending). Memoised: nodes in identical states cost one evaluation."""
        key = (chip, cpu_free, gpu_free_sorted)
        value = self._memo.get(key)
        if value is not None:
            return value
        total = sum(gpu_free_sorted)
        if total == 0:
            value = 0.0
        else:
            no_access, groups = self._for_chip(chip)
            value = no_access * total
            prefix = [0]
            for f in gpu_free_sorted:
                prefix.append(prefix[-1] + f)
            n = len(gpu_free_sorted)
            for per_gpu, count, _chips, cpus, cum_p, p_group in groups:
                idx = bisect_left(gpu_free_sorted, per_gpu)
                if n - idx < count:
                    value += p_group * total  # not enough GPUs with room: all free GPU is stranded
                    continue
                k = bisect_right(cpus, cpu_free)
                p_fits = cum_p[k - 1] if k else 0.0
                value += p_fits * prefix[idx] + (p_group - p_fits) * total
        if len(self._memo) > 500_000:
            self._memo.clear()
        self._memo[key] = value
        return value


class Cluster:
    """Mutable node state for the simulator: free CPU, memory and per-GPU milli-GPUs."""

    def __init__(self, chips: Sequence[str], gpus: Sequence[int], cpu_milli: Sequence[int],
                 memory_mib: Sequence[int], price_per_gpu_or_cpu: Sequence[float],
                 target: TargetWorkload) -> None:
        self.n = len(chips)
        self.chip = list(chips)
        self.gpus = list(gpus)
        self.cpu_total = list(cpu_milli)
        self.mem_total = list(memory_mib)
        self.cpu_free = list(cpu_milli)
        self.mem_free = list(memory_mib)
        self.gpu_free = [[MILLI] * g for g in gpus]
        self.full_free = list(gpus)  # GPUs with all 1000 milli free
        self.max_free = [MILLI if g else 0 for g in gpus]
        self.share_price = list(price_per_gpu_or_cpu)  # price per GPU (GPU nodes) or per vCPU, for ranking
        self.affinity: list[Counter] = [Counter() for _ in gpus]
        self.target = target
        self.frag = [target.node_frag(c, cpu, tuple(sorted(g)))
                     for c, cpu, g in zip(self.chip, self.cpu_free, self.gpu_free, strict=True)]
        self.max_cpu = max(cpu_milli, default=1) or 1
        self.max_gpu = max(gpus, default=1) * MILLI or MILLI
        by_chip: dict[str, list[int]] = {}
        for i, c in enumerate(chips):
            by_chip.setdefault(c, []).append(i)
        self.by_chip = by_chip
        self.allocated_gpu_milli = 0

    def candidates(self, job: SimJob) -> list[int]:
        """Nodes that can host ``job`` now, in node order."""
        cpu, mem, per_gpu, count = job.cpu_milli, job.memory_mib, job.per_gpu, job.gpu_count
        if job.chips:
            nodes: Iterable[int] = sorted(i for c in job.chips for i in self.by_chip.get(c, ()))
        else:
            nodes = range(self.n)
        cpu_free, mem_free = self.cpu_free, self.mem_free
        if job.gpu_milli == 0:
            return [i for i in nodes if cpu_free[i] >= cpu and mem_free[i] >= mem]
        if per_gpu < MILLI:
            max_free = self.max_free
            return [i for i in nodes if max_free[i] >= per_gpu and cpu_free[i] >= cpu and mem_free[i] >= mem]
        full = self.full_free
        return [i for i in nodes if full[i] >= count and cpu_free[i] >= cpu and mem_free[i] >= mem]

    def fits_empty(self, job: SimJob) -> bool:
        """Could ``job`` run on some node if the cluster were idle?"""
        nodes = (i for c in job.chips for i in self.by_chip.get(c, ())) if job.chips else range(self.n)
        return any(self.cpu_total[i] >= job.cpu_milli and self.mem_total[i] >= job.memory_mib
                   and self.gpus[i] >= job.gpu_count for i in nodes)

    def gpu_options(self, i: int, job: SimJob) -> list[tuple[int, ...]]:
        """Distinct ways to place the job's GPUs on node ``i``: one tuple of GPU indices each."""
        if job.gpu_milli == 0:
            return [()]
        free = self.gpu_free[i]
        if job.per_gpu == MILLI:
            return [tuple(g for g, f in enumerate(free) if f == MILLI)[: job.gpu_count]]
        seen: dict[int, int] = {}
        for g, f in enumerate(free):
            if f >= job.per_gpu and f not in seen:
                seen[f] = g
        return [(g,) for g in seen.values()]

    def frag_after(self, i: int, job: SimJob, gpus: tuple[int, ...]) -> float:
        free = list(self.gpu_free[i])
        for g in gpus:
            free[g] -= job.per_gpu
        return self.target.node_frag(self.chip[i], self.cpu_free[i] - job.cpu_milli, tuple(sorted(free)))

    def allocate(self, i: int, job: SimJob, gpus: tuple[int, ...]) -> None:
        self._apply(i, job, gpus, -1)
        self.affinity[i][(job.gpu_count, job.per_gpu)] += 1

    def release(self, i: int, job: SimJob, gpus: tuple[int, ...]) -> None:
        self._apply(i, job, gpus, +1)
        aff = self.affinity[i]
        key = (job.gpu_count, job.per_gpu)
        aff[key] -= 1
        if aff[key] <= 0:
            del aff[key]

    def _apply(self, i: int, job: SimJob, gpus: tuple[int, ...], sign: int) -> None:
        self.cpu_free[i] += sign * job.cpu_milli
        self.mem_free[i] += sign * job.memory_mib
        free = self.gpu_free[i]
        for g in gpus:
            free[g] += sign * job.per_gpu
        self.allocated_gpu_milli -= sign * job.per_gpu * len(gpus)
        self.full_free[i] = sum(1 for f in free if f == MILLI)
        self.max_free[i] = max(free, default=0)
        self.frag[i] = self.target.node_frag(self.chip[i], self.cpu_free[i], tuple(sorted(free)))


Choice = tuple[int, tuple[int, ...]]


def _best_fit_gpu(cluster: Cluster, i: int, job: SimJob) -> tuple[int, ...]:
    """Whole GPUs: the first idle ones; a share: the fullest GPU that still fits."""
    options = cluster.gpu_options(i, job)
    if job.gpu_milli == 0 or job.per_gpu == MILLI:
        return options[0]
    free = cluster.gpu_free[i]
    return min(options, key=lambda gs: (free[gs[0]], gs[0]))


def _first_fit(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    i = nodes[0]
    if job.gpu_milli and job.per_gpu < MILLI:
        return i, (next(g for g, f in enumerate(cluster.gpu_free[i]) if f >= job.per_gpu),)
    return i, cluster.gpu_options(i, job)[0]


def _random_fit(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    i = rng.choice(nodes)
    if job.gpu_milli and job.per_gpu < MILLI:
        return i, (rng.choice([g for g, f in enumerate(cluster.gpu_free[i]) if f >= job.per_gpu]),)
    return i, cluster.gpu_options(i, job)[0]


def _job_share_price(cluster: Cluster, i: int, job: SimJob) -> float:
    if job.gpu_milli and cluster.gpus[i]:
        return cluster.share_price[i] * job.gpu_milli / MILLI
    return cluster.share_price[i] * job.cpu_milli / MILLI


def _cheapest_first(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    i = min(nodes, key=lambda n: (_job_share_price(cluster, n, job), n))
    return i, _best_fit_gpu(cluster, i, job)


def _best_fit(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    cpu_free, mc, mg = cluster.cpu_free, cluster.max_cpu, cluster.max_gpu

    def left(n: int) -> float:
        gpu_left = sum(cluster.gpu_free[n]) - job.gpu_milli
        return 0.5 * (cpu_free[n] - job.cpu_milli) / mc + 0.5 * gpu_left / mg

    i = min(nodes, key=lambda n: (left(n), n))
    return i, _best_fit_gpu(cluster, i, job)


def _dot_product(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    cpu_free, mc, mg = cluster.cpu_free, cluster.max_cpu, cluster.max_gpu
    rc, rg = job.cpu_milli / mc, job.gpu_milli / mg

    def dot(n: int) -> float:
        return cpu_free[n] / mc * rc + sum(cluster.gpu_free[n]) / mg * rg

    i = min(nodes, key=lambda n: (dot(n), n))
    return i, _best_fit_gpu(cluster, i, job)


def _packing(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    def key(n: int) -> tuple:
        if job.gpu_milli == 0:
            return (3, 0, n)
        free = cluster.gpu_free[n]
        if cluster.full_free[n] == cluster.gpus[n]:
            return (2, cluster.gpus[n], n)  # idle node: the one with the fewest GPUs
        gpus = _best_fit_gpu(cluster, n, job)
        idle_used = sum(1 for g in gpus if free[g] == MILLI)
        if idle_used == 0:
            return (0, sum(free[g] for g in gpus), n)  # shares a used GPU: the fullest
        return (1, idle_used, n)  # used node, needs idle GPUs: the fewest

    i = min(nodes, key=key)
    return i, _best_fit_gpu(cluster, i, job)


def _clustering(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    mine = (job.gpu_count, job.per_gpu)

    def key(n: int) -> tuple:
        if job.gpu_milli == 0:
            return (4, 0, n)
        aff = cluster.affinity[n]
        if mine in aff:
            tier = 0 if len(aff) == 1 else 1
        else:
            tier = 2 if not aff else 3
        return (tier, sum(cluster.gpu_free[n]), n)

    i = min(nodes, key=key)
    return i, _best_fit_gpu(cluster, i, job)


def _fgd_choices(cluster: Cluster, job: SimJob, nodes: Iterable[int]) -> Iterable[tuple[float, int, tuple]]:
    frag = cluster.frag
    for n in nodes:
        for gpus in cluster.gpu_options(n, job):
            yield cluster.frag_after(n, job, gpus) - frag[n], n, gpus


def _fgd(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    _delta, i, gpus = min(_fgd_choices(cluster, job, nodes), key=lambda t: (t[0], t[1]))
    return i, gpus


def _suanli(cluster: Cluster, job: SimJob, nodes: list[int], rng: random.Random) -> Choice:
    prices = {n: _job_share_price(cluster, n, job) for n in nodes}
    cheapest = min(prices.values())
    tied = [n for n in nodes if prices[n] <= cheapest * (1 + 1e-12)]
    if len(tied) == 1:
        return tied[0], _best_fit_gpu(cluster, tied[0], job)
    return _fgd(cluster, job, tied, rng)


POLICIES: dict[str, Callable[[Cluster, SimJob, list[int], random.Random], Choice]] = {
    "suanli": _suanli,
    "first-fit": _first_fit,
    "cheapest-first": _cheapest_first,
    "best-fit": _best_fit,
    "dot-product": _dot_product,
    "packing": _packing,
    "clustering": _clustering,
    "random-fit": _random_fit,
    "fgd": _fgd,
}


def policy_names() -> tuple[str, ...]:
    return tuple(POLICIES)


def choose_node(name: str, cluster: Cluster, job: SimJob, rng: random.Random) -> Choice | None:
    """Node index and GPU indices for ``job`` under policy ``name``, or None when nothing fits."""
    nodes = cluster.candidates(job)
    if not nodes:
        return None
    return POLICIES[name](cluster, job, nodes, rng)
