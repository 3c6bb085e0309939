"""Races on requests for quotes, on SQLite and PostgreSQL: two accepts at once (exactly one wins, one contract,
the budget released once), an accept racing the auction's close, and money that stays consistent whatever the
prices (hypothesis draws them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from rfq_helpers import (DAY, MAX_PRICE, accept, assert_escrow_consistent, at, posted, quoted,
                         seller_with_datacenter, sweep)
from sqlalchemy import func, select
from trading_helpers import START, Market, new_market, race

from suanli.core.billing import reserved_price
from suanli.quotes.models import QuoteContract

TOPUP = 20_000_000


@pytest.fixture
def market(db, make) -> Iterator[Market]:
    m = new_market(db, make, first_name_number=8000)
    yield m
    assert_escrow_consistent(m)


def _contracts(market: Market, request_id: str) -> int:
    import uuid

    with market.db.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).select_from(QuoteContract)
                              .where(QuoteContract.request_id == uuid.UUID(request_id))) or 0


@settings(max_examples=4, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(prices=st.tuples(st.integers(1, MAX_PRICE), st.integers(1, MAX_PRICE)))
def test_two_accepts_at_once_exactly_one_wins_and_money_moves_once(market, prices):
    buyer = market.buyer(topup_fen=TOPUP)
    now = market.clock.now()  # each example starts where the one before left the clock
    request = posted(market, buyer, earliest_start=(now + 10 * DAY).isoformat(),
                     latest_start=(now + 20 * DAY).isoformat())
    offers = [quoted(market, *seller_with_datacenter(market), request["id"], unit_price_fen=price,
                     start_at=(now + 15 * DAY).isoformat(), deliver_by=(now + 14 * DAY).isoformat())
              for price in prices]
    answers = race(market, [lambda client, q=q: accept(market, buyer, request["id"], q["id"], client)
                            for q in offers])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201, 409], [r.text for r in answers]
    loser = next(r for r in answers if r.status_code == 409)
    assert loser.json()["error"]["code"] == "request_closed"
    winner = next(r for r in answers if r.status_code == 201).json()
    assert _contracts(market, request["id"]) == 1
    deposit = reserved_price(winner["unit_price"]["fen"], 2, 1, {})
    wallet = market.wallet(buyer)
    assert wallet["held"]["fen"] == deposit and wallet["available"]["fen"] == TOPUP - deposit
    assert_escrow_consistent(market)
    at(market, market.clock.now() + 15 * DAY)  # undelivered: refunded, so the next example starts clean
    sweep(market)
    assert market.wallet(buyer)["held"]["fen"] == 0


def test_an_accept_racing_the_auctions_close_makes_one_contract(market):
    buyer = market.buyer(topup_fen=TOPUP)
    request = posted(market, buyer, auction_closes_at=(START + 2 * DAY).isoformat())
    cheap = quoted(market, *seller_with_datacenter(market), request["id"], unit_price_fen=3_000_000)
    dear = quoted(market, *seller_with_datacenter(market), request["id"], unit_price_fen=3_800_000)
    at(market, START + 2 * DAY)

    def close(_client):
        return sweep(market)

    answers = race(market, [lambda client: accept(market, buyer, request["id"], dear["id"], client), close])
    accepted, swept = answers
    assert _contracts(market, request["id"]) == 1
    if accepted.status_code == 201:
        assert swept["auctions_awarded"] == 0
        expected = 3_800_000
    else:
        assert accepted.status_code == 409 and swept["auctions_awarded"] == 1
        expected = cheap["unit_price"]["fen"]
    assert market.wallet(buyer)["held"]["fen"] == reserved_price(expected, 2, 1, {})
    assert_escrow_consistent(market)
    at(market, START + 15 * DAY)
    sweep(market)
