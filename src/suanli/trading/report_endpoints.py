"""HTTP endpoints of the consoles' figures: sellers' volume and utilization, the operator's dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query as Q

from suanli.catalog.models import DatacenterStatus
from suanli.catalog.schemas import Money
from suanli.catalog.utilization import DatacenterUtilization, datacenter_utilization
from suanli.http import DbSession, OperatorUser, SellerUser
from suanli.trading import reports
from suanli.trading.endpoints import AppClock
from suanli.trading.report_schemas import (DashboardOut, DatacenterUtilizationOut, DayVolumeOut,
                                           UtilizationOut, UtilizationSeriesOut, VolumeOut)

router = APIRouter(prefix="/api/v1", tags=["reports"])

Days = Annotated[int, Q(ge=1, le=reports.MAX_DAYS, description="How many days up to today (China Standard "
                                                                "Time).")]


def day_volume_out(v: reports.DayVolume) -> DayVolumeOut:
    return DayVolumeOut(day=v.day, orders=v.orders, gross=Money.of(v.gross_fen), commission=Money.of(v.commission_fen),
                        net=Money.of(v.net_fen), refunds=Money.of(v.refunds_fen), gmv=Money.of(v.gmv_fen))


def utilization_out(u: DatacenterUtilization) -> DatacenterUtilizationOut:
    return DatacenterUtilizationOut(datacenter_id=u.datacenter_id, name=u.name, province=u.province, city=u.city,
                                    status=u.status, products=u.products, stock_units=u.stock_units,
                                    allocated_units=u.allocated_units, ratio=u.ratio, accelerators=u.accelerators,
                                    accelerators_allocated=u.accelerators_allocated,
                                    accelerator_ratio=u.accelerator_ratio)


@router.get("/seller/volume", response_model=VolumeOut)
def seller_volume(user: SellerUser, session: DbSession, clock: AppClock, days: Days = 30) -> VolumeOut:
    """Seller: per day, orders placed for your products, gross charged, the platform's commission and your net."""
    volume = reports.daily_volume(session, reports.last_days(clock.now(), days), seller_org_id=user.organization_id)
    return VolumeOut(days=[day_volume_out(v) for v in volume])


@router.get("/seller/utilization", response_model=UtilizationOut)
def seller_utilization(user: SellerUser, session: DbSession, clock: AppClock, days: Days = 14) -> UtilizationOut:
    """Seller: the share of each of your data centers' units rented out now, and per day."""
    now = clock.now()
    day_list = reports.last_days(now, days)
    history = reports.utilization_history(session, day_list, now, owner_org_id=user.organization_id)
    return UtilizationOut(
        datacenters=[utilization_out(u) for u in datacenter_utilization(session, owner_org_id=user.organization_id)],
        days=day_list,
        history=[UtilizationSeriesOut(datacenter_id=h.datacenter_id, name=h.name, stock_units=h.stock_units,
                                      ratios=h.ratios) for h in history])


@router.get("/operator/dashboard", response_model=DashboardOut)
def operator_dashboard(_operator: OperatorUser, session: DbSession, clock: AppClock, days: Days = 30
                       ) -> DashboardOut:
    """Operator: transaction volume per day and the utilization of every approved data center now."""
    volume = reports.daily_volume(session, reports.last_days(clock.now(), days))
    return DashboardOut(volume=[day_volume_out(v) for v in volume],
                        utilization=[utilization_out(u) for u in datacenter_utilization(
                            session, status=DatacenterStatus.APPROVED)])
