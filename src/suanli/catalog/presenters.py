"""Catalog objects as wire models (shared by the HTTP endpoints and the CLI's --json output)."""

from __future__ import annotations

from typing import Any

from suanli.catalog.models import ChipModel, Datacenter, Product, Region
from suanli.catalog.schemas import (ChipOut, ComputeOut, DatacenterBrief, DatacenterOut, Money, PricesOut,
                                    ProductOut, ProductPage, RegionOut, ReservedTermOut)
from suanli.core.billing import RESERVED_TERMS_MONTHS, reserved_price
from suanli.core.money import fen_to_cny
from suanli.core.price_guard import Guidance


def term_discounts(product: Any) -> dict[int, int]:
    """The seller's reserved term discounts, basis points per term (1 month: none)."""
    return {1: 0, 3: product.reserved_discount_3m_bp or 0, 6: product.reserved_discount_6m_bp or 0,
            12: product.reserved_discount_12m_bp or 0}


def reserved_terms(product: Product) -> list[ReservedTermOut]:
    if product.price_reserved_month_fen is None:
        return []
    discounts = term_discounts(product)
    return [ReservedTermOut(months=m, discount_bp=discounts[m],
                            per_unit=Money.of(reserved_price(product.price_reserved_month_fen, 1, m, discounts)))
            for m in RESERVED_TERMS_MONTHS]


def chip_out(chip: ChipModel) -> ChipOut:
    return ChipOut(key=chip.key, name=chip.name, vendor=chip.vendor, vendor_zh=chip.vendor_zh,
                   ecosystem=chip.ecosystem, domestic=chip.domestic, fp16_tflops=chip.fp16_tflops,
                   fp32_tflops=chip.fp32_tflops, memory_gib=chip.memory_gib,
                   memory_bandwidth_gbs=chip.memory_bandwidth_gbs, tdp_w=chip.tdp_w)


def region_out(region: Region) -> RegionOut:
    return RegionOut(id=region.id, province=region.province, city=region.city, hub=region.hub, cluster=region.cluster)


def datacenter_out(dc: Datacenter) -> DatacenterOut:
    return DatacenterOut(id=dc.id, platform_id=dc.platform_id, name=dc.name, owner_org_id=dc.owner_org_id,
                         owner_name=dc.owner.name, region=region_out(dc.region), tier=dc.tier, pue=dc.pue,
                         green_power_pct=dc.green_power_pct, status=dc.status, created_at=dc.created_at,
                         approved_at=dc.approved_at)


def billing_modes(product: Any) -> list[str]:
    modes = ["on_demand"]
    if product.price_reserved_month_fen is not None:
        modes.append("reserved")
    if product.price_spot_floor_fen is not None:
        modes.append("spot")
    return modes


def guidance_item(product: Any, guidance: dict[str, Guidance] | None) -> dict[str, object] | None:
    """The listing's on-demand price against its chip's guidance price (None without one, or without
    accelerators)."""
    g = (guidance or {}).get(product.chip_key or "")
    if g is None or product.accelerators < 1:
        return None
    return {"guidance_per_accelerator_hour": _money(g.price_fen), "band_pct": g.band_pct,
            "deviation_pct": g.deviation_pct(product.price_on_demand_fen, product.accelerators),
            "outside": g.side(product.price_on_demand_fen, product.accelerators)}


def product_out(product: Product, datacenter: Datacenter, chip: ChipModel | None,
                guidance: dict[str, Guidance] | None = None) -> ProductOut:
    return ProductOut(
        id=product.id, platform_id=product.platform_id, name=product.name, kind=product.kind, status=product.status,
        listed=product.is_visible, chip=chip_out(chip) if chip else None, accelerators=product.accelerators,
        vcpus=product.vcpus, memory_gib=product.memory_gib, disk_gib=product.disk_gib,
        network_gbps=product.network_gbps, delivery=product.delivery, stock_units=product.stock_units,
        available_units=product.stock_units - product.allocated_units, billing_modes=billing_modes(product),
        compute=ComputeOut(fp16_pflops=round(product.fp16_tflops / 1000, 4), fp32_tflops=product.fp32_tflops,
                           accel_memory_gib=product.accel_memory_gib),
        prices=PricesOut(on_demand_hour=Money.of(product.price_on_demand_fen),
                         reserved_month=Money.of(product.price_reserved_month_fen),
                         spot_floor_hour=Money.of(product.price_spot_floor_fen),
                         reserved_terms=reserved_terms(product),
                         per_accelerator_hour=Money.of(product.price_per_accel_hour_fen),
                         per_fp16_pflops_hour=Money.of(product.price_per_pflops_hour_fen),
                         guidance=guidance_item(product, guidance)),
        datacenter=DatacenterBrief(id=datacenter.id, name=datacenter.name, tier=datacenter.tier, pue=datacenter.pue,
                                   green_power_pct=datacenter.green_power_pct, owner_name=datacenter.owner.name),
        region=region_out(datacenter.region), updated_at=product.updated_at,
    )


# ---------------------------------------------------------------- search result pages, from plain rows

def _money(fen: int | None) -> dict[str, object] | None:
    return None if fen is None else {"fen": fen, "cny": fen_to_cny(fen)}


def chip_item(chip: Any) -> dict[str, object]:
    return {"key": chip.key, "name": chip.name, "vendor": chip.vendor, "vendor_zh": chip.vendor_zh,
            "ecosystem": chip.ecosystem, "domestic": chip.domestic, "fp16_tflops": chip.fp16_tflops,
            "fp32_tflops": chip.fp32_tflops, "memory_gib": chip.memory_gib,
            "memory_bandwidth_gbs": chip.memory_bandwidth_gbs, "tdp_w": chip.tdp_w}


def product_item(product: Any, datacenter: Any, chip: dict[str, object] | None,
                 guidance: dict[str, Guidance] | None = None) -> dict[str, object]:
    """What `product_out` gives, as the plain data `ProductOut` validates: for a search page, whose products
    (`suanli.catalog.search.PAGE_COLUMNS`) and data centers (`DATACENTER_COLUMNS`) are rows, not ORM objects."""
    reserved_fen = product.price_reserved_month_fen
    if reserved_fen is None:
        terms: list[dict[str, object]] = []
    else:
        discounts = term_discounts(product)
        terms = [{"months": m, "discount_bp": discounts[m],
                  "per_unit": _money(reserved_price(reserved_fen, 1, m, discounts))} for m in RESERVED_TERMS_MONTHS]
    return {
        "id": product.id, "platform_id": product.platform_id, "name": product.name, "kind": product.kind,
        "status": product.status, "listed": product.is_visible, "chip": chip, "accelerators": product.accelerators,
        "vcpus": product.vcpus, "memory_gib": product.memory_gib, "disk_gib": product.disk_gib,
        "network_gbps": product.network_gbps, "delivery": product.delivery, "stock_units": product.stock_units,
        "available_units": product.stock_units - product.allocated_units, "billing_modes": billing_modes(product),
        "compute": {"fp16_pflops": round(product.fp16_tflops / 1000, 4), "fp32_tflops": product.fp32_tflops,
                    "accel_memory_gib": product.accel_memory_gib},
        "prices": {"on_demand_hour": _money(product.price_on_demand_fen), "reserved_month": _money(reserved_fen),
                   "spot_floor_hour": _money(product.price_spot_floor_fen), "reserved_terms": terms,
                   "per_accelerator_hour": _money(product.price_per_accel_hour_fen),
                   "per_fp16_pflops_hour": _money(product.price_per_pflops_hour_fen),
                   "guidance": guidance_item(product, guidance)},
        "datacenter": {"id": datacenter.id, "name": datacenter.name, "tier": datacenter.tier, "pue": datacenter.pue,
                       "green_power_pct": datacenter.green_power_pct, "owner_name": datacenter.owner_name},
        "region": {"id": datacenter.region_id, "province": datacenter.province, "city": datacenter.city,
                   "hub": datacenter.hub, "cluster": datacenter.cluster},
        "updated_at": product.updated_at,
    }


def product_page(products: list[Any], datacenters: dict[Any, Any], chips: dict[str, Any], next_cursor: str | None,
                 total: int, total_exact: bool = True, guidance: dict[str, Guidance] | None = None) -> ProductPage:
    """A search page, validated once as a whole (much cheaper than building each nested model)."""
    chip_items: dict[str, dict[str, object]] = {}
    items = []
    for p in products:
        chip = None
        if p.chip_key:
            chip = chip_items.get(p.chip_key)
            if chip is None:
                row = chips.get(p.chip_key)
                chip = chip_items[p.chip_key] = chip_item(row) if row is not None else None
        items.append(product_item(p, datacenters[p.datacenter_id], chip, guidance))
    return ProductPage.model_validate({"items": items, "next_cursor": next_cursor, "total": total,
                                       "total_exact": total_exact})
