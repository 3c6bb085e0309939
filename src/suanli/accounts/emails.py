"""One spelling per email address, so lookalikes collide instead of opening a second account.

``normalize_email``: Unicode NFKC (fullwidth ``ａ`` and mathematical ``𝐚`` become ``a``), case folding, and
invisible characters removed (zero-width spaces and joiners, soft hyphens, direction marks: Unicode's "format"
characters). Addresses whose parts mix alphabets that look alike (Latin ``paypal`` with a Cyrillic ``а``), or that
are written entirely in look-alike letters of another alphabet, are refused: they exist to impersonate.
"""

from __future__ import annotations

import re
import unicodedata

# Alphabets with letters that look like Latin ones. Chinese, Japanese and Korean characters mix with Latin safely.
_CONFUSABLE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "GEORGIAN"})
# Cyrillic and Greek letters that are drawn like Latin ones (lower case, after case folding).
_LATIN_LOOKALIKES = frozenset("аеорсухіјѕԁɡһԛԝꙇӏвкмнтαβεικνορτυχ")
_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UnsafeEmail(ValueError):
    """An address that would impersonate another: its message says what to do."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def _check_label(label: str) -> None:
    scripts = {s for s in map(_script, label) if s in _CONFUSABLE_SCRIPTS}
    if len(scripts) > 1:
        raise UnsafeEmail(f"This email mixes letters of different alphabets ({' and '.join(sorted(scripts)).lower()}"
                          "), as lookalike addresses do. Type it again in one alphabet.", "email_mixed_scripts")
    letters = [ch for ch in label if ch.isalpha()]
    if scripts and scripts != {"LATIN"} and letters and all(ch in _LATIN_LOOKALIKES for ch in letters):
        raise UnsafeEmail("This email is written in letters that look like Latin ones but are not, as lookalike "
                          "addresses are. Type it again in Latin letters.", "email_confusable")


def normalize_email(raw: str) -> str:
    """The canonical form of ``raw``; ``UnsafeEmail`` for a lookalike, ``ValueError`` when it is no address."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text.strip().casefold())
    if not _SHAPE.match(text) or len(text) > 254:
        raise ValueError("This is not an email address; write it like name@example.cn.")
    local, domain = text.rsplit("@", 1)
    for label in [local, *domain.split(".")]:
        _check_label(label)
    return text


def lookup_form(raw: str) -> str:
    """The form to look an account up by at login: the canonical one, or (for text that is no address or a
    lookalike, which no account has) the text as typed, case-folded, which matches nothing."""
    try:
        return normalize_email(raw)
    except ValueError:
        return raw.strip().casefold()[:254]
