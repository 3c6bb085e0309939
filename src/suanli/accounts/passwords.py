"""The password policy (NIST SP 800-63B, 5.1.1.2): at least 8 characters, at most 128, no composition rules;
refused when it is one of the 20,000 most common passwords (``data/common-passwords.txt.gz``, see
``data/COMMON_PASSWORDS_SOURCE.md``), a run of few distinct characters, or built from the account's own email
or name. Every refusal says why and what to do instead."""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from pathlib import Path

from suanli.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 128
_COMMON_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_FILE, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def check_new_password(password: str, *, email: str = "", display_name: str = "") -> None:
    """Raise ``InvalidInput`` (code ``weak_password``, ``common_password`` or ``password_like_account``) when
    ``password`` may not be used; the message says what to choose instead."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_LENGTH} characters.", code="weak_password",
                           details={"field": "password", "min_length": MIN_LENGTH})
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"The password may have at most {MAX_LENGTH} characters.", code="weak_password",
                           details={"field": "password", "max_length": MAX_LENGTH})
    folded = unicodedata.normalize("NFKC", password).casefold()
    if folded in common_passwords() or len(set(folded)) < 4:
        raise InvalidInput("This password is one of the most common ones, which attackers try first. Choose "
                           "another: a few unrelated words make a strong password that is easy to remember.",
                           code="common_password", details={"field": "password"})
    local = email.split("@", 1)[0].casefold()
    name = display_name.casefold().replace(" ", "")
    if (email and folded in (email.casefold(), local)) or any(
            len(part) >= 4 and part in folded for part in (local, name)):
        raise InvalidInput("The password must not contain your email or name; choose one that has nothing to do "
                           "with your account.", code="password_like_account", details={"field": "password"})
