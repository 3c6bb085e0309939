"""The consoles' product lists: a seller's own products (listed or not), or every product on the platform for
operators, searched, filtered, sorted and paged on the server: for consoles that hold hundreds of products. The search text goes through the catalog's own reading (`catalog.search.understand`:
chips, places, ``8卡``, the query language) when it can be read so; otherwise it is part of a product's name."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.accounts.models import User
from suanli.catalog import search as catalog_search
from suanli.catalog.models import Datacenter, Product, ProductKind, ProductStatus
from suanli.db import contains_words
from suanli.errors import DomainError

OWN_SORTS: dict[str, tuple[Any, ...]] = {
    "datacenter": (Datacenter.name, Product.created_at, Product.id),
    "name": (Product.name, Product.id),
    "price": (Product.price_on_demand_fen, Product.id),
    "-price": (Product.price_on_demand_fen.desc(), Product.id),
    "-updated": (Product.updated_at.desc(), Product.id),
    "-stock": (Product.stock_units.desc(), Product.id),
}
DEFAULT_OWN_SORT = "datacenter"
# operators also look for the prices sellers confirmed past the price guard, most recent first
OPERATOR_SORTS: dict[str, tuple[Any, ...]] = {**OWN_SORTS,
                                              "-flagged": (Product.unusual_price_at.desc().nulls_last(), Product.id)}


def _text_conditions(session: Session, text: str) -> list[Any]:
    """The search text as SQL: read as the catalog reads it (``A800 8卡 芜湖``, ``price<=50``), or else the words
    a product's name contains (``批量作业``)."""
    try:
        understood = catalog_search.understand(session, text)
    except DomainError:
        understood = None
    if understood is not None and understood.query.conditions and understood.query.sort is None:
        resolver = catalog_search.Resolver(session)
        return [catalog_search.condition_sql(c, resolver) for c in understood.query.conditions]
    return contains_words(Product.name, text)


def own_products(session: Session, user: User, *, text: str | None = None, datacenter_id: uuid.UUID | None = None,
                 status: ProductStatus | None = None, kind: ProductKind | None = None,
                 sort: str = DEFAULT_OWN_SORT, limit: int = 50, offset: int = 0,
                 ) -> tuple[list[tuple[Product, Datacenter]], int]:
    """One page of the caller's organization's products with their data centers, and how many match."""
    return product_list(session, owner_org_id=user.organization_id, text=text, datacenter_id=datacenter_id,
                        status=status, kind=kind, sort=sort, limit=limit, offset=offset)


def product_list(session: Session, *, owner_org_id: uuid.UUID | None, text: str | None = None,
                 datacenter_id: uuid.UUID | None = None, status: ProductStatus | None = None,
                 kind: ProductKind | None = None, flagged: bool = False, sort: str = DEFAULT_OWN_SORT,
                 limit: int = 50, offset: int = 0) -> tuple[list[tuple[Product, Datacenter]], int]:
    """One page of products with their data centers, and how many match: those of the data centers of
    ``owner_org_id``, or every one (``None``: for operators). ``flagged``: only those whose seller confirmed a
    price the price guard found unusual. ``sort``: a key of :data:`OPERATOR_SORTS`."""
    where: list[Any] = [] if owner_org_id is None else [Datacenter.owner_org_id == owner_org_id]
    if text and text.strip():
        where += _text_conditions(session, text.strip())
    if datacenter_id is not None:
        where.append(Product.datacenter_id == datacenter_id)
    if status is not None:
        where.append(Product.status == status)
    if kind is not None:
        where.append(Product.kind == kind)
    if flagged:
        where.append(Product.unusual_price_checks.is_not(None))
    joined = select(Product, Datacenter).join(Datacenter, Datacenter.id == Product.datacenter_id).where(*where)
    total = session.scalar(select(func.count()).select_from(joined.with_only_columns(Product.id).subquery())) or 0
    rows = session.execute(joined.order_by(*OPERATOR_SORTS[sort]).limit(limit).offset(offset))
    return [(product, datacenter) for product, datacenter in rows], total
