"""The policy options of the one scheduling engine, and the named policies the replay compares.

Every policy is :func:`~suanli.scheduling.policy.schedule_round` with a :class:`Rules`: the platform runs
:data:`PRODUCTION`; the trace replay (:mod:`suanli.scheduling.replay`) runs any entry of :data:`POLICIES`, so a
comparison between the production policy and a baseline is between two settings of the same code.

``fit``: which feasible offer a job takes
    * ``objective``  the job's own objective: the cheapest whole-job price (``cost``) or the fastest accelerators
      (``time``); the platform's rule;
    * ``first-fit``  the first offer in the order the offers were given (a trace: node order);
    * ``best-fit``   the offer left with the fewest free units (tightest packing), then the first;
    * ``fgd``        fragmentation gradient descent (Weng et al., ATC 2023) on whole units: the offer whose
      *fragmentation* grows least. An offer's fragmentation, against the round's queue as the target
      workload, is the free accelerators that each queued job shape could not use there (a shape that needs
      more units than are free, or another chip, cannot use any), weighted by how common the shape is.
``backfill``: what happens behind a job that does not fit
    * ``easy``  EASY backfilling: the first on-demand job that fails for capacity reserves the offer where it
      starts soonest; later jobs may use that offer only if they end before the reservation or leave enough;
    * ``any``   every job that fits starts (greedy; no reservation: a large job can starve);
    * ``none``  strict FIFO: nothing starts behind a waiting on-demand job.
``reserve_after_s``: with EASY backfill, besides the head job, every on-demand job that has waited at least this
long (``JobRequest.submitted_s`` against the round's ``now_s``) and fails for capacity also reserves the offer where
it starts soonest (up to ``max_reservations`` in all, in queue order; one reservation per offer). A job may use a
reserved offer only if it does not delay that reservation (conservative backfilling for those jobs), so a job
that waited past the bound starts no later than its reserved start. ``None``: the head job only (plain EASY).
``spare_constrained``: a flexible job (no chip asked) pays a penalty of this fraction of its price on offers of
a chip that some waiting job asks for by name (the round's queue, or the ``constrained`` the caller gives), so it
takes an offer no waiting constrained job can use when that costs at most this much more; price-greedy fill
then does not leave chip-constrained jobs waiting while flexible jobs could run elsewhere. ``None``: off.
``improve``: relocations, the whole-round assignment search and the local search (production) or none.
``explain``: count eliminated offers per constraint for every unplaced job (the API shows them); the replay
turns it off, it only needs to know what was placed.
``gang``: a job that no single offer can hold even when idle (larger than one server) may take units of
several offers of one class in one data center, all or nothing (see :mod:`suanli.scheduling.gang`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BACKFILLS", "FITS", "POLICIES", "PRODUCTION", "Rules", "policy_names"]

FITS = ("objective", "first-fit", "best-fit", "fgd")
BACKFILLS = ("easy", "any", "none")


@dataclass(frozen=True)
class Rules:
    """How a round places jobs (see the module docstring)."""

    fit: str = "objective"
    backfill: str = "easy"
    improve: bool = True
    explain: bool = True
    gang: bool = False
    reserve_after_s: float | None = None
    max_reservations: int = 16
    spare_constrained: float | None = None

    def __post_init__(self) -> None:
        if self.reserve_after_s is not None and self.reserve_after_s < 0:
            raise ValueError(f"reserve_after_s: must be >= 0, got {self.reserve_after_s!r}")
        if self.max_reservations < 1:
            raise ValueError(f"max_reservations: must be >= 1, got {self.max_reservations!r}")
        if self.spare_constrained is not None and self.spare_constrained < 0:
            raise ValueError(f"spare_constrained: must be >= 0, got {self.spare_constrained!r}")
        if self.fit not in FITS:
            raise ValueError(f"fit: must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.backfill not in BACKFILLS:
            raise ValueError(f"backfill: must be one of {', '.join(BACKFILLS)}, got {self.backfill!r}")


PRODUCTION = Rules()
"""The platform's policy: each job's objective, EASY backfill, relocations and the whole-round search; holds for
long waiters and the spare penalty off. docs/benchmarks-scheduling.md section 3 shows why (it measures best on the
replay suite; the holds changed the Alibaba trace's figures little at 7x the time, the penalty not at all)."""

POLICIES: dict[str, Rules] = {
    "suanli": PRODUCTION,
    "fifo": Rules(fit="first-fit", backfill="none", improve=False),
    "first-fit": Rules(fit="first-fit", backfill="any", improve=False),
    "best-fit": Rules(fit="best-fit", backfill="any", improve=False),
    "cheapest-first": Rules(fit="objective", backfill="any", improve=False),
    "easy-backfill": Rules(fit="first-fit", backfill="easy", improve=False),
    "fgd": Rules(fit="fgd", backfill="any", improve=False),
}
"""The policies the replay compares, by name; ``suanli`` is :data:`PRODUCTION`."""


def policy_names() -> tuple[str, ...]:
    return tuple(POLICIES)
