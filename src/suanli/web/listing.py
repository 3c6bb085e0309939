"""How a console's list pages, searches and sorts: 50 rows a page, and the whole state in the address
(``?q=…&sort=…&offset=…`` plus the page's own filters), so a link, a reload or the back button shows the same rows.
Every console list takes :data:`ListingQuery` and shows ``m.pager(offset, limit, total, url_with)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from suanli.http import chosen_sort
from suanli.web.render import PageOffset

CONSOLE_PAGE_SIZE = 50


@dataclass(frozen=True)
class Listing:
    """A list's search text, sort and offset, as the address gives them."""

    q: str
    sort: str | None
    offset: int
    limit: int = CONSOLE_PAGE_SIZE

    def sorted_by(self, sorts: dict[str, object] | list[str], default: str) -> str:
        """The sort asked for, if the list has it (422 ``invalid_sort`` with the valid ones if not), else
        ``default``."""
        return chosen_sort(self.sort, sorts, default)


def listing_query(q: Annotated[str | None, Query(max_length=200)] = None,
                  sort: Annotated[str | None, Query(max_length=40)] = None, offset: PageOffset = 0) -> Listing:
    return Listing(q=(q or "").strip(), sort=sort or None, offset=offset)


ListingQuery = Annotated[Listing, Depends(listing_query)]
