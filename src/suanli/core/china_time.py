"""China Standard Time (Asia/Shanghai): the platform's calendar. UTC+8 all year, no daylight saving since 1991.

Days and months of statements, reports, ledger rows and pages are Beijing days; times are stored in UTC. Every module
that turns one into the other uses these, so a day means the same thing everywhere."""

from __future__ import annotations

import datetime as dt

__all__ = ["CHINA_TZ", "china_day", "day_start"]

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def china_day(at: dt.datetime) -> dt.date:
    """The Beijing calendar day ``at`` falls on (a naive ``at`` is read as UTC, as the database stores it)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(CHINA_TZ).date()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight Beijing time starting ``day``, in UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).astimezone(dt.UTC)
