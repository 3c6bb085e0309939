"""The one order in which trading takes row locks, so that concurrent units of work wait for each other and never
deadlock (docs/trading.md, "Locks"):

1. job and instance rows (the scheduler's claim, an instance's state change), then
2. **product rows**, in id order (the free stock: ``allocated_units``, ``stock_units``), then
3. **order rows**, in id order, then
4. **ledger accounts**, in (kind, owner) order — ``LedgerStore.apply`` sorts every batch itself.

A unit of work may skip a level but never goes back up one: a release locks the order's product before the order,
even though it decides what to do from the order. Product rows are locked ``FOR NO KEY UPDATE`` (what the
allocation ``UPDATE`` takes anyway), which does not block the foreign-key checks of orders inserted meanwhile.
SQLite has no row locks: its write units of work begin with ``BEGIN IMMEDIATE`` and run one at a time.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.catalog.models import Product
from suanli.trading.models import Order

_products = Product.__table__


def lock_product(session: Session, product_id: uuid.UUID) -> None:
    """Hold ``product_id``'s row (level 2) until the unit of work ends."""
    session.execute(select(_products.c.id).where(_products.c.id == product_id).with_for_update(key_share=True))


def lock_order(session: Session, order_id: uuid.UUID) -> Order | None:
    """The order re-read under its row lock, its product's row locked first (levels 2 then 3); None if there is
    no such order. Its attributes are the committed ones of whoever held the locks before."""
    product_id = session.scalar(select(Order.product_id).where(Order.id == order_id))
    if product_id is None:
        return None
    lock_product(session, product_id)
    return session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                          .execution_options(populate_existing=True))


__all__ = ["lock_order", "lock_product"]
