"""The audit chain (core/audit.py): an intact chain verifies; any edit, removal, reordering or insertion is
found, at the first sequence number it breaks."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from suanli.core.audit import (GENESIS_HASH, AuditEntry, ChainHead, SecretInDetails, check_details, entry_hash,
                               sealed, verify_chain)

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)

details_values = st.one_of(st.integers(-10**12, 10**12), st.text(max_size=12), st.booleans(), st.none())
entry_fields = st.fixed_dictionaries({
    "actor_user_id": st.one_of(st.none(), st.uuids().map(str)),
    "address": st.one_of(st.none(), st.ip_addresses().map(str)),
    "action": st.sampled_from(["order.placed", "money.topup", "money.refund", "user.created"]),
    "target": st.text(min_size=1, max_size=30),
    "details": st.dictionaries(st.sampled_from(["amount_fen", "units", "reference", "mode"]), details_values,
                               max_size=4),
})


def chain(fields: list[dict]) -> tuple[list[AuditEntry], ChainHead]:
    entries, prev = [], GENESIS_HASH
    for i, f in enumerate(fields, start=1):
        e = sealed(AuditEntry(seq=i, at=T0 + dt.timedelta(microseconds=i), actor_org_id=None, prev_hash=prev, **f))
        entries.append(e)
        prev = e.hash
    return entries, ChainHead(len(entries), prev)


chains = st.lists(entry_fields, min_size=1, max_size=12).map(chain)


@given(chains)
def test_an_untouched_chain_is_intact(made) -> None:
    entries, head = made
    result = verify_chain(entries, head)
    assert result.intact and result.checked == len(entries) and result.reason is None


def test_an_empty_chain_is_intact_with_or_without_its_head() -> None:
    assert verify_chain([], None).intact
    assert verify_chain([], ChainHead(0, GENESIS_HASH)).intact


_EDITS = {
    "at": lambda e: replace(e, at=e.at + dt.timedelta(microseconds=1)),
    "actor_user_id": lambda e: replace(e, actor_user_id="someone-else"),
    "actor_org_id": lambda e: replace(e, actor_org_id="another-org"),
    "address": lambda e: replace(e, address="203.0.113.9" if e.address != "203.0.113.9" else "203.0.113.8"),
    "action": lambda e: replace(e, action=e.action + "x"),
    "target": lambda e: replace(e, target=e.target + "x"),
    "details": lambda e: replace(e, details={**e.details, "tampered_with": True}),  # a key the generator never makes
    "hash": lambda e: replace(e, hash="f" * 64 if e.hash != "f" * 64 else "e" * 64),
}


@given(chains, st.data(), st.sampled_from(sorted(_EDITS)))
def test_an_edited_field_is_found_at_its_entry(made, data, field) -> None:
    entries, head = made
    i = data.draw(st.integers(0, len(entries) - 1))
    tampered = list(entries)
    tampered[i] = _EDITS[field](entries[i])
    result = verify_chain(tampered, head)
    assert not result.intact
    assert result.first_broken_seq == entries[i].seq


@given(chains, st.data())
def test_an_edit_that_recomputes_the_hash_breaks_the_next_link_or_the_head(made, data) -> None:
    entries, head = made
    i = data.draw(st.integers(0, len(entries) - 1))
    tampered = list(entries)
    tampered[i] = sealed(replace(entries[i], details={**entries[i].details, "tampered_with": True}))
    result = verify_chain(tampered, head)
    assert not result.intact
    assert result.first_broken_seq == (entries[i + 1].seq if i + 1 < len(entries) else entries[i].seq)


@given(chains, st.data())
def test_a_removed_entry_is_found(made, data) -> None:
    entries, head = made
    i = data.draw(st.integers(0, len(entries) - 1))
    result = verify_chain(entries[:i] + entries[i + 1:], head)
    assert not result.intact
    assert result.first_broken_seq == entries[i].seq


@given(chains.filter(lambda m: len(m[0]) >= 2), st.data())
def test_reordered_entries_are_found(made, data) -> None:
    entries, head = made
    i = data.draw(st.integers(0, len(entries) - 2))
    swapped = list(entries)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    result = verify_chain(swapped, head)
    assert not result.intact
    assert result.first_broken_seq == entries[i].seq


@given(chains, st.data(), entry_fields)
def test_an_inserted_entry_is_found_even_with_a_valid_hash_and_renumbering(made, data, fields) -> None:
    entries, head = made
    i = data.draw(st.integers(0, len(entries)))
    prev = entries[i - 1].hash if i else GENESIS_HASH
    forged = sealed(AuditEntry(seq=i + 1, at=T0, actor_org_id=None, prev_hash=prev, **fields))
    # the forger renumbers what follows (keeping their hashes: they cannot recompute them without the next links)
    after = [replace(e, seq=e.seq + 1) for e in entries[i:]]
    result = verify_chain(entries[:i] + [forged] + after, head)
    assert not result.intact
    # in the middle: the entry after the forged one does not link to it; at the end: the head does not know it
    assert result.first_broken_seq == (i + 2 if i < len(entries) else i + 1)


@given(chains)
def test_removing_the_newest_entries_is_found_against_the_head(made) -> None:
    entries, head = made
    result = verify_chain(entries[:-1], head)
    assert not result.intact and result.first_broken_seq == head.seq


def test_the_hash_covers_the_previous_hash() -> None:
    e = AuditEntry(seq=1, at=T0, actor_user_id=None, actor_org_id=None, address=None, action="a", target="t",
                   details={}, prev_hash=GENESIS_HASH)
    assert entry_hash(e) != entry_hash(replace(e, prev_hash="1" * 64))
    assert len(entry_hash(e)) == 64


def test_secrets_in_details_are_refused_at_any_depth() -> None:
    check_details({"amount_fen": 5, "reference": "r", "revoked_tokens": 2})
    for bad in ({"password": "x"}, {"new_password_hash": "x"}, {"outer": {"api_key": "k"}}, {"Token": 1},
                {"access_token": "t"}, {"credentials": {}}, {"items": [{"ok": 1}, {"password": "x"}]}):
        with pytest.raises(SecretInDetails):
            check_details(bad)
