"""Trading jobs: work over many orders, each order in its own unit of work (so this module commits, like a CLI
command or a request does; the services it calls never do)."""

from __future__ import annotations

import logging

from suanli.core.billing import Clock
from suanli.db import Database
from suanli.trading import metering

log = logging.getLogger("suanli.trading")


def run_meter(database: Database, clock: Clock) -> metering.MeterRun:
    """Meter every active per-second order and end every reserved order whose term is over.

    Meant to run every minute (an operator endpoint now; a scheduler later). One transaction per order: a
    release racing with it waits for that order's row lock only, and a failure stops no other order.
    """
    now = clock.now()
    run = metering.MeterRun()
    with database.unit_of_work(write=False) as session:
        due = metering.due_for_metering(session, now)
    for order_id in due:
        try:
            with database.unit_of_work() as session:
                metering.meter(session, order_id, now, run)
        except Exception:  # one order's failure must not stop the others; it is retried on the next run
            log.exception("metering order %s failed", order_id)
            run.failed += 1
    return run
