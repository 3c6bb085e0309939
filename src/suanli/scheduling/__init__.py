"""Whole-network scheduling (全网调度): where a queued job should run, across every data center.

Pure domain code: no I/O, no database, no framework.

* :mod:`suanli.scheduling.model`     the value types (offers, job requests, placements, reasons);
* :mod:`suanli.scheduling.policy`    one scheduling round: feasibility, objective, backfill with a
  reservation for the head job, spot preemption (``schedule_round``);
* :mod:`suanli.scheduling.repair`    relocations, local search, and the glue to the whole-round search;
* :mod:`suanli.scheduling.assignment` the whole-round assignment search (Lagrangian prices, regret
  construction, ejection chains): as many jobs as possible, then the least total price;
* :mod:`suanli.scheduling.reasons`   the one-sentence reason of each placement;
* :mod:`suanli.scheduling.explain`   why a job cannot be placed: offers eliminated per constraint;
* :mod:`suanli.scheduling.failover`  the next-best place after a placement or a cluster fails;
* :mod:`suanli.scheduling.replay`, :mod:`suanli.scheduling.policies`, :mod:`suanli.scheduling.alibaba`
  a discrete-event trace simulator with node-level policies (FGD and the baselines of Weng et al.,
  ATC 2023) and a converter for the Alibaba GPU-sharing trace. These read and write CSV files; the
  policy modules above never do.
"""
