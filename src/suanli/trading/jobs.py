"""Trading jobs: work over many orders, each order in its own unit of work (so this module commits, like a CLI
command or a request does; the services it calls never do)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import IntegrityError

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


class MeterThread(threading.Thread):
    """Runs ``run_meter`` every ``interval`` seconds until ``stop()`` (a daemon thread of ``suanli serve``).

    Several API processes may each run one: metering an order happens under its row lock and charges the
    cumulative seconds minus what is already charged (``charged_fen`` committed by whoever metered it before), a
    reading at or before the order's ``metered_at`` is skipped, and each reading's ledger ids are deterministic
    (``order:<id>:tick:<n>`` with n read under the lock). So a second meter never charges twice; it only does
    the work again."""

    def __init__(self, database: Database, clock: Clock, interval: float) -> None:
        super().__init__(name="suanli-meter", daemon=True)
        self.database, self.clock, self.interval = database, clock, interval
        self._stopped = threading.Event()
        self.runs = 0

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                result = run_meter(self.database, self.clock)
                self.runs += 1
                if result.stopped or result.failed or result.preempted:
                    log.info("meter: %s", result)
                # Requests for quotes and pre-sale contracts come due on the same clock: auctions close,
                # deliveries fail (refund and penalty), delivered contracts start.
                from suanli.quotes.contracts import run_sweep

                swept = run_sweep(self.database, self.clock)
                if swept.auctions_awarded or swept.expired or swept.started or swept.failed or swept.errors:
                    log.info("requests for quotes: %s", swept)
            except Exception:  # keep metering: the next run retries
                log.exception("meter run failed")
            try:  # the price index's history: one snapshot a day (China Standard Time), the first run of the day
                from suanli.catalog.price_history import snapshot_if_missing

                with self.database.unit_of_work() as session:
                    if snapshot_if_missing(session, self.clock.now()):
                        log.info("price index: today's snapshot taken")
            except IntegrityError:  # another server process took it at the same moment: nothing is missing
                log.info("price index: today's snapshot was taken by another process")
            except Exception:  # the database is busy or down: the next run tries again
                log.exception("price index snapshot failed")

    def stop(self) -> None:
        self._stopped.set()
