"""Inventory: taking units from a product's free stock and giving them back. No HTTP here; callers commit.

The statements are built once (Core, on the tables, with bind parameters): the order placement runs them on its
hot path, where building and coercing a statement per call cost more Python time than the database spends on it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from suanli.catalog.models import Product
from suanli.errors import Conflict
from suanli.trading.models import Order, OrderStatus

_products = Product.__table__
_orders = Order.__table__

_PENDING_UNITS = (select(func.coalesce(func.sum(_orders.c.units), 0))
                  .where(_orders.c.product_id == bindparam("p_id"), _orders.c.status == OrderStatus.PENDING)
                  .scalar_subquery())
"""Units that pending orders of the product wait for (not free to new orders)."""


def _allocate(for_pending: bool):
    free = _products.c.stock_units - _products.c.allocated_units
    if not for_pending:
        free = free - _PENDING_UNITS
    return (update(_products)
            .where(_products.c.id == bindparam("p_id"), _products.c.is_visible.is_(True), free >= bindparam("n"))
            .values(allocated_units=_products.c.allocated_units + bindparam("n")))


_ALLOCATE = {False: _allocate(False), True: _allocate(True)}
_RELEASE = (update(_products).where(_products.c.id == bindparam("p_id"))
            .values(allocated_units=_products.c.allocated_units - bindparam("n")))
_STOCK = select(_products.c.stock_units, _products.c.allocated_units, _products.c.is_visible).where(
    _products.c.id == bindparam("p_id"))


def allocate_units(session: Session, product_id: uuid.UUID, units: int, *, for_pending: bool = False) -> None:
    """Take ``units`` from the product's free stock with one conditional UPDATE; 409 if there are not enough.

    The condition is evaluated on the current row under its write lock (PostgreSQL re-checks it after waiting
    for a concurrent writer; SQLite runs one writer at a time), so stock is never oversold. Units that pending
    orders wait for are not free to new orders; ``for_pending`` (starting a pending order) may take them.
    """
    params = {"p_id": product_id, "n": units}
    if session.execute(_ALLOCATE[for_pending], params).rowcount == 1:
        return
    stock, allocated, visible = session.execute(_STOCK, params).one()
    if not visible:
        raise Conflict("This product was taken out of the catalog just now; it cannot be ordered.",
                       code="product_unavailable", details={"product_id": str(product_id)})
    waiting = 0 if for_pending else int(session.scalar(select(_PENDING_UNITS), params) or 0)
    available = max(0, int(stock) - int(allocated) - waiting)
    raise Conflict(f"Only {available} unit(s) of this product are free now; you asked for {units}.",
                   code="insufficient_stock",
                   details={"product_id": str(product_id), "requested_units": units, "available_units": available})


def release_units(session: Session, product_id: uuid.UUID, units: int) -> None:
    """Give ``units`` back to the product's free stock (the lease ended or was released)."""
    session.execute(_RELEASE, {"p_id": product_id, "n": units})


__all__ = ["allocate_units", "release_units"]
