"""The federation sync loop of `suanli serve`: every SUANLI_FEDERATION_SYNC_INTERVAL_SECONDS, pull the catalog
changes of every active peer (``catalog.sync_peer``). A peer that cannot be reached or refuses is logged and tried
again next time; one `suanli serve` at a time syncs (a lock shared by every process on PostgreSQL)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from suanli.config import load_settings
from suanli.core.billing import Clock
from suanli.core.federation import PeerStatus
from suanli.db import Database
from suanli.errors import DomainError
from suanli.federation.catalog import sync_peer
from suanli.federation.models import FederationPeer

log = logging.getLogger("suanli.federation")
SYNC_LOCK = 0x5EDE_0001


def sync_all(database: Database) -> dict[str, str]:
    """Sync every active peer once; what happened to each (``ok: N changes`` or the error code)."""
    settings = load_settings()
    with database.unit_of_work(write=False) as session:
        peer_ids = list(session.scalars(select(FederationPeer.platform_id)
                                        .where(FederationPeer.status == PeerStatus.ACTIVE.value)))
    outcome = {}
    for peer_id in peer_ids:
        try:
            report = sync_peer(database, settings, peer_id)
            outcome[str(peer_id)] = f"ok: {report['changes_applied']} changes"
        except DomainError as exc:
            outcome[str(peer_id)] = exc.code
            log.warning("federation sync of peer %s failed: %s (%s)", peer_id, exc.code, exc.message)
    return outcome


class FederationSyncThread(threading.Thread):
    def __init__(self, database: Database, clock: Clock, interval: float) -> None:
        super().__init__(name="suanli-federation-sync", daemon=True)
        self.database, self.clock, self.interval = database, clock, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                with self.database.exclusive(SYNC_LOCK) as mine:
                    if mine:
                        sync_all(self.database)
            except Exception:  # keep syncing: the next round retries
                log.exception("federation sync round failed")

    def stop(self) -> None:
        self._stopped.set()
