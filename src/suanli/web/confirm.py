"""A confirmation step before money moves (release, cancel, top-up): the first post of the action's form shows a
page that says what will happen, with the figures, and a button that posts the same fields again with
``confirmed=1``; only that second post acts. It needs no JavaScript, and the server checks it, so no script, double
click or stale form skips it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from suanli.web.render import render

CONFIRMED = "confirmed"


def confirmed(posted: Mapping[str, Any]) -> bool:
    """Whether this post comes from a confirmation page's button."""
    return posted.get(CONFIRMED) == "1"


@dataclass(frozen=True)
class Confirmation:
    title: str
    lines: Sequence[tuple[str, str]]  # (label, value) figures
    explanation: str
    action: str  # the URL the confirmed form posts to
    fields: Sequence[tuple[str, str]]  # the action's own fields, posted again
    button: str
    back_url: str
    danger: bool = False


def confirm_page(request: Request, confirmation: Confirmation):
    return render(request, "confirm.html", {"c": confirmation})
