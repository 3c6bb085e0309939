"""The operator's audit trail page (zh-CN by default): the chain's state, who did what from where, filters, and
a broken chain shown as broken."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from support import PASSWORD
from test_operator_pages import a_reserved_sale

from suanli.audit.models import AuditEntryRow
from suanli.web.i18n import ZH, gettext_for

zh = gettext_for(ZH)


def test_the_audit_page_shows_the_trail_and_whether_it_is_intact(web, make, client, db):
    seller, buyer, operator, order, product = a_reserved_sale(web, make, client, units=1)
    page = web.get("/operator/audit")
    assert page.status_code == 200
    text = page.text
    assert zh("Audit trail") in text and "审计日志" in text
    assert "哈希链完整" in text
    assert f"order:{order['id']}" in text and "order.placed" in text and "money.topup" in text
    assert buyer["email"] in text and "testclient" in text
    with db.unit_of_work() as session:  # times in Beijing time, to the second, like every page
        first = session.scalar(select(AuditEntryRow.at).where(AuditEntryRow.seq == 1))
    shown = (first.replace(tzinfo=first.tzinfo or dt.UTC) + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    assert "时间（北京时间）" in text and shown in text and "UTC" not in text

    only_topups = web.get("/operator/audit?action=money.topup").text
    assert "money.topup" in only_topups and f"order:{order['id']}" not in only_topups

    with db.unit_of_work() as session:
        session.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 1).values(address="192.0.2.66"))
    broken = web.get("/operator/audit").text
    assert "哈希链在第 1 条记录处断开" in broken

    web.client.cookies.clear()
    web.login(buyer["email"], PASSWORD)
    assert web.get("/operator/audit").status_code == 403
