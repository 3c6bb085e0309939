"""The pure rules of requests for quotes: compliance, the contract's value and the budget, the auction's winner
(ties: the earliest quote), and what a failed delivery pays."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, strategies as st

from suanli.core import billing, rfq

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def need(**overrides) -> rfq.Need:
    values = dict(chip_key="a800", min_fp16_tflops=None, min_memory_gib=None, accelerators=8, units=2,
                  billing_mode=rfq.BillingMode.RESERVED, term_months=3, term_hours=None, earliest_start=NOW + 10 * DAY,
                  latest_start=NOW + 20 * DAY, province="安徽", max_unit_price_fen=4_000_000)
    values.update(overrides)
    return rfq.Need(**values)


def offer(**overrides) -> rfq.Offer:
    values = dict(chip_key="a800", chip_fp16_tflops=312.0, chip_memory_gib=80, accelerators=8, province="安徽",
                  unit_price_fen=3_500_000, start_at=NOW + 15 * DAY, deliver_by=NOW + 14 * DAY, penalty_fen=100)
    values.update(overrides)
    return rfq.Offer(**values)


def test_a_matching_offer_complies_and_each_miss_is_named():
    assert rfq.shortfalls(need(), offer(), NOW) == []
    S = rfq.Shortfall
    assert rfq.shortfalls(need(), offer(chip_key="h800"), NOW) == [S.CHIP]
    assert rfq.shortfalls(need(), offer(accelerators=4), NOW) == [S.ACCELERATORS]
    assert rfq.shortfalls(need(), offer(province="贵州"), NOW) == [S.REGION]
    assert rfq.shortfalls(need(province=None), offer(province="贵州"), NOW) == []
    assert rfq.shortfalls(need(), offer(unit_price_fen=4_000_001), NOW) == [S.PRICE]
    assert rfq.shortfalls(need(), offer(unit_price_fen=4_000_000), NOW) == []  # the maximum itself is fine
    assert rfq.shortfalls(need(), offer(start_at=NOW + 21 * DAY, deliver_by=NOW + 20 * DAY), NOW) == [S.START]
    assert rfq.shortfalls(need(), offer(deliver_by=NOW + 16 * DAY), NOW) == [S.DELIVERY]
    assert rfq.shortfalls(need(), offer(deliver_by=NOW), NOW) == [S.DELIVERY_PAST]
    by_compute = need(chip_key=None, min_fp16_tflops=400.0, min_memory_gib=80)
    assert rfq.shortfalls(by_compute, offer(), NOW) == [S.COMPUTE]
    assert rfq.shortfalls(by_compute, offer(chip_key="h800", chip_fp16_tflops=989.0), NOW) == []
    assert rfq.shortfalls(need(chip_key=None, min_memory_gib=96), offer(), NOW) == [S.MEMORY]


def test_the_contract_value_is_the_term_at_the_price():
    assert rfq.contract_value_fen(rfq.BillingMode.RESERVED, 3_500_000, 2, 3, None) == 3_500_000 * 2 * 3
    assert rfq.contract_value_fen(rfq.BillingMode.ON_DEMAND, 7001, 3, None, 10) == \
        billing.charge_for_seconds(7001, 3, 36_000)
    with pytest.raises(ValueError):
        rfq.contract_value_fen(rfq.BillingMode.RESERVED, 1, 1, None, 5)


@given(max_price=st.integers(1, 10_000_000), price=st.integers(1, 10_000_000), units=st.integers(1, 500),
       months=st.sampled_from(billing.RESERVED_TERMS_MONTHS), hours=st.integers(1, rfq.MAX_TERM_HOURS),
       reserved=st.booleans())
def test_a_compliant_quote_never_costs_more_than_the_frozen_budget(max_price, price, units, months, hours, reserved):
    mode = rfq.BillingMode.RESERVED if reserved else rfq.BillingMode.ON_DEMAND
    n = need(billing_mode=mode, term_months=months if reserved else None, term_hours=None if reserved else hours,
             units=units, max_unit_price_fen=max_price)
    o = offer(unit_price_fen=price)
    value = rfq.contract_value_fen(mode, price, units, n.term_months, n.term_hours)
    if not rfq.shortfalls(n, o, NOW):
        assert 0 < value <= rfq.budget_fen(n)
    else:
        assert price > max_price


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 3)), min_size=1, max_size=12, unique_by=lambda t: t))
def test_the_auction_awards_the_lowest_price_and_on_a_tie_the_earliest(rows):
    bids = [rfq.Bid(f"q{i}", price, NOW + dt.timedelta(seconds=second)) for i, (price, second) in enumerate(rows)]
    winner = rfq.auction_winner(bids)
    assert winner is not None
    lowest = min(b.unit_price_fen for b in bids)
    assert winner.unit_price_fen == lowest
    assert winner.created_at == min(b.created_at for b in bids if b.unit_price_fen == lowest)
    assert rfq.auction_winner([]) is None


def test_a_tie_at_the_same_instant_goes_to_the_smaller_id():
    bids = [rfq.Bid("b", 100, NOW), rfq.Bid("a", 100, NOW), rfq.Bid("c", 101, NOW - DAY)]
    assert rfq.auction_winner(bids).quote_id == "a"


@given(deposit=st.integers(0, 10**12), penalty=st.integers(0, 10**10), receivable=st.integers(0, 10**10))
def test_a_failed_delivery_refunds_the_deposit_and_pays_what_the_seller_has(deposit, penalty, receivable):
    plan = rfq.failed_delivery(deposit, penalty, receivable)
    assert plan.refund_fen == deposit
    assert plan.penalty_paid_fen + plan.penalty_unpaid_fen == penalty
    assert 0 <= plan.penalty_paid_fen <= receivable


def test_terms_must_fit_the_billing_mode():
    assert rfq.term_check(rfq.BillingMode.RESERVED, 3, None) is None
    assert rfq.term_check(rfq.BillingMode.RESERVED, 2, None) == "term_months"
    assert rfq.term_check(rfq.BillingMode.RESERVED, 3, 5) == "term_hours"
    assert rfq.term_check(rfq.BillingMode.ON_DEMAND, None, 5) is None
    assert rfq.term_check(rfq.BillingMode.ON_DEMAND, 1, 5) == "term_months"
    assert rfq.term_check(rfq.BillingMode.ON_DEMAND, None, None) == "term_hours"
