"""The monthly statement (账单) as CSV: UTF-8 with a byte-order mark (so Excel reads the Chinese), amounts in CNY,
times in Beijing time, its heading and column names in the reader's language (``zh-CN`` or ``en``).

A statement, not an invoice (发票): a 发票 is a tax document issued under China's invoicing rules; this is the
account's record of the month. Every cell goes through ``core/spreadsheet.py`` (no formulas: CSV injection).
"""

from __future__ import annotations

import datetime as dt
import io

from suanli.accounts.models import Role
from suanli.core.money import fen_to_cny
from suanli.core.spreadsheet import SafeCsvWriter
from suanli.core.china_time import CHINA_TZ
from suanli.trading.invoices import Invoice


_WORDS: dict[str, tuple[str, str]] = {  # key → (zh-CN, en)
    "statement": ("账单", "Statement"), "organization": ("组织", "Organization"), "role": ("角色", "Role"),
    "period": ("账期", "Period"), "zone": ("北京时间 (UTC+8)", "Beijing time (UTC+8)"),
    "buyer": ("买方", "buyer"), "seller": ("卖方", "seller"), "operator": ("运营方", "operator"),
    "order_id": ("订单号", "Order ID"), "product": ("产品", "Product"), "datacenter": ("数据中心", "Data center"),
    "mode": ("计费方式", "Billing mode"), "units": ("数量", "Units"), "term_months": ("期限（月）", "Term (months)"),
    "seconds": ("计费秒数", "Seconds billed"), "unit_price_cny": ("单价（元）", "Unit price (CNY)"),
    "unit_price_per": ("计价单位", "Price per"), "gross_cny": ("总额（元）", "Gross (CNY)"),
    "commission_cny": ("平台佣金（元）", "Commission (CNY)"), "net_cny": ("净额（元）", "Net (CNY)"),
    "amount_cny": ("金额（元）", "Amount (CNY)"), "reference": ("参考号", "Reference"),
    "at": ("时间（北京时间）", "Time (Beijing)"),
    "on_demand": ("按需", "on demand"), "reserved": ("包月预留", "reserved"), "spot": ("竞价", "spot"),
    "hour": ("小时", "hour"), "month": ("月", "month"),
    "topups": ("充值", "Top-ups"), "refunds": ("退款", "Refunds"), "payouts": ("结算", "Payouts"),
    "topup": ("充值", "top-up"), "refund": ("退款", "refund"), "payout": ("结算", "payout"),
    "total": ("合计", "Total"),
    "charges": ("消费（元）", "Charges (CNY)"), "net_spent": ("净支出（元）", "Net spent (CNY)"),
    "gross": ("销售总额（元）", "Gross sales (CNY)"), "commission": ("平台佣金（元）", "Commission (CNY)"),
    "net": ("净收入（元）", "Net (CNY)"), "net_after_refunds": ("退款后净收入（元）", "Net after refunds (CNY)"),
}


def words(language: str):
    """``w("key")`` in ``language`` (zh-CN unless it is ``en``)."""
    index = 1 if language == "en" else 0

    def w(key: str) -> str:
        return _WORDS[key][index]

    return w


def beijing(at: dt.datetime) -> str:
    """``2026-11-28 16:00:00``, Beijing time."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _cny(fen: int) -> str:
    return f"{fen_to_cny(fen):.2f}"


def statement_filename(invoice: Invoice, language: str) -> str:
    """``账单-2026-11.csv`` or ``statement-2026-11.csv``."""
    return f"{words(language)('statement').lower()}-{invoice.period}.csv"


def statement_csv(invoice: Invoice, language: str = "zh-CN") -> str:
    out = io.StringIO()
    w = words(language)
    writer = SafeCsvWriter(out, lineterminator="\r\n")  # names and references are users' text: no formulas
    seller = invoice.role is Role.SELLER
    writer.writerow([w("statement"), invoice.id])
    writer.writerow([w("organization"), invoice.organization_name, str(invoice.organization_id)])
    writer.writerow([w("role"), w(invoice.role.value)])
    writer.writerow([w("period"), invoice.period, w("zone"), beijing(invoice.period_start),
                     beijing(invoice.period_end)])
    writer.writerow([])
    columns = ["order_id", "product", "datacenter", "mode", "units", "term_months", "seconds", "unit_price_cny",
               "unit_price_per"] + (["gross_cny", "commission_cny", "net_cny"] if seller else ["amount_cny"])
    writer.writerow([w(c) for c in columns])
    for line in invoice.lines:
        row = [str(line.order_id), line.product_name, line.datacenter_name, w(line.mode.value), line.units,
               line.term_months or "", "" if line.seconds is None else line.seconds, _cny(line.unit_price_fen),
               w(line.unit_price_per)]
        row += ([_cny(line.amount_fen), _cny(line.commission_fen), _cny(line.net_fen)] if seller
                else [_cny(line.amount_fen)])
        writer.writerow(row)
    for section, entries in (("topups", invoice.topups), ("refunds", invoice.refunds),
                             ("payouts", invoice.payouts)):
        if entries:
            writer.writerow([])
            writer.writerow([w(section), w("reference"), w("at"), w("amount_cny")])
            for e in entries:
                writer.writerow([w(section[:-1]), e.reference, beijing(e.at), _cny(e.amount_fen)])
    writer.writerow([])
    for name, value in invoice.totals().items():
        writer.writerow([w("total"), w(name.removesuffix("_fen")), _cny(value)])
    return "\ufeff" + out.getvalue()


def statement_disposition(invoice: Invoice, language: str) -> str:
    """The download's header (RFC 6266): ``statement-2026-11.csv`` for any client, ``账单-2026-11.csv`` (UTF-8) for
    those that read it, in Chinese."""
    from urllib.parse import quote

    fallback = statement_filename(invoice, "en")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(statement_filename(invoice, language))}"
