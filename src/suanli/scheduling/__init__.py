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
* :mod:`suanli.scheduling.rules`     the policy options (fit, backfill, improve, explain, gang) and the named
  policies: the platform's (``PRODUCTION``) and the baselines, all settings of ``schedule_round``;
* :mod:`suanli.scheduling.market`    the static index of a set of offers, reusable across rounds;
* :mod:`suanli.scheduling.fits`, :mod:`suanli.scheduling.gang`  first-fit / best-fit / FGD offer choice; gangs;
* :mod:`suanli.scheduling.replay`    a trace replay: ``schedule_round`` itself on a simulated clock, with the
  metrics; :mod:`suanli.scheduling.traces` (the CSV format), :mod:`suanli.scheduling.alibaba` and
  :mod:`suanli.scheduling.helios` (converters). These read and write CSV files; the policy modules never do.
"""
