"""The pure account rules: one spelling per email, the password policy."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from suanli.accounts.emails import UnsafeEmail, normalize_email
from suanli.accounts.passwords import check_new_password, common_passwords
from suanli.errors import InvalidInput

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202a"]
local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-+", min_size=1, max_size=20)


@given(local_parts, st.lists(st.tuples(st.integers(0, 30), st.sampled_from(INVISIBLE)), max_size=4))
def test_invisible_characters_never_make_a_new_address(local, inserts):
    email = f"{local}@example.cn"
    noisy = email
    for position, ch in inserts:
        position = min(position, len(noisy))
        noisy = noisy[:position] + ch + noisy[position:]
    assert normalize_email(noisy) == normalize_email(email) == email


@given(local_parts)
def test_normalizing_twice_changes_nothing_and_case_never_matters(local):
    email = f"{local}@Example.CN"
    once = normalize_email(email)
    assert normalize_email(once) == once == normalize_email(email.upper()) == normalize_email(email.swapcase())


@pytest.mark.parametrize("email", ["раураl@example.cn", "pаypal@example.cn", "paypal@ехample.cn",
                                   "ραυ@example.cn"])
def test_lookalikes_are_refused(email):
    with pytest.raises(UnsafeEmail):
        normalize_email(email)


@pytest.mark.parametrize("email", ["иван@пример.рф", "张伟@例子.中国", "li.lei@example.cn", "müller@example.de"])
def test_real_addresses_in_one_alphabet_are_kept(email):
    assert normalize_email(email) == email


def test_the_common_list_is_loaded():
    assert len(common_passwords()) > 19_000 and {"123456", "password", "qwerty"} <= common_passwords()


@given(st.sampled_from(sorted(common_passwords())))
def test_every_common_password_is_refused(password):
    assume(len(password) >= 8)
    with pytest.raises(InvalidInput) as refused:
        check_new_password(password.upper(), email="someone@example.cn")
    assert refused.value.code == "common_password"

