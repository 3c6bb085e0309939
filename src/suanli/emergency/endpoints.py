"""Emergency compute over HTTP (``/api/v1``). The rules are in ``service``; here only the wire and who may call
what: operators declare, follow and end emergencies; buyers holding reserved leases answer offers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query as Q
from sqlalchemy.orm import Session

from suanli.accounts.models import Role, User
from suanli.catalog.schemas import Money
from suanli.emergency import service
from suanli.emergency.models import EmergencyPart, EmergencyRequest
from suanli.emergency.schemas import (AnswerIn, EmergencyIn, EmergencyOut, EmergencyPage, OfferOut, PartOut,
                                      ProgressPoint)
from suanli.http import DbSession, OperatorUser, require_role
from suanli.trading.endpoints import AppClock

router = APIRouter(prefix="/api/v1", tags=["emergency compute"])

BuyerUser = Annotated[User, Depends(require_role(Role.BUYER))]
Limit = Annotated[int, Q(ge=1, le=200)]
Offset = Annotated[int, Q(ge=0, le=1_000_000)]

_DECLARE = {402: {"description": "The payer's wallet does not cover the orders' holds",
                  "x-error-codes": ["insufficient_funds"]},
            409: {"description": "Nothing matching can be assembled now", "x-error-codes": ["no_capacity"]}}
_ANSWER = {402: {"description": "The payer's wallet does not cover the compensation",
                 "x-error-codes": ["insufficient_funds"]},
           409: {"description": "The offer cannot be answered now",
                 "x-error-codes": ["offer_answered", "emergency_ended", "lease_not_active", "units_busy"]}}


def emergency_out(session: Session, emergency: EmergencyRequest) -> EmergencyOut:
    p = service.progress(session, emergency)
    return EmergencyOut(
        id=emergency.id, title=emergency.title, status=emergency.status, payer_org_id=emergency.payer_org_id,
        accelerators=emergency.accelerators, chips=emergency.chips, ecosystems=emergency.ecosystems,
        provinces=emergency.provinces, duration_hours=emergency.duration_hours,
        compensation_per_accel_hour=Money.of(emergency.compensation_fen_per_accel_hour),
        planned=emergency.planned_accelerators, assembled=p.assembled, by_stage=p.by_stage,
        compensation_paid=Money.of(p.compensation_paid_fen), created_at=emergency.created_at,
        ends_at=emergency.ends_at, ended_at=emergency.ended_at,
        parts=[PartOut(id=s.part.id, stage=s.part.stage, state=s.state, product_id=s.part.product_id,
                       seller_org_id=s.part.seller_org_id, units=s.part.units, accelerators=s.part.accelerators,
                       order_id=s.part.order_id, holder_org_id=s.part.holder_org_id,
                       compensation=Money.of(s.part.compensation_fen), assembled_at=s.assembled_at,
                       created_at=s.part.created_at) for s in p.parts],
        progress=[ProgressPoint(at=at, stage=stage, accelerators=added, assembled=total)
                  for at, stage, added, total in p.timeline])


def offer_out(part: EmergencyPart, emergency: EmergencyRequest) -> OfferOut:
    assert part.offer_status is not None
    return OfferOut(id=part.id, emergency_id=emergency.id, title=emergency.title, order_id=part.order_id,
                    units=part.units, accelerators=part.accelerators, duration_hours=emergency.duration_hours,
                    compensation=Money.of(part.compensation_fen), status=part.offer_status,
                    ends_at=emergency.ends_at, created_at=part.created_at, answered_at=part.answered_at)


@router.post("/operator/emergencies", status_code=201, response_model=EmergencyOut, responses=_DECLARE)
def declare(body: EmergencyIn, operator: OperatorUser, session: DbSession, clock: AppClock) -> EmergencyOut:
    """Operator: declare an emergency and assemble it across data centers: free units first, then spot leases
    (preempted after their notice), then offers to holders of reserved leases with idle units, compensated at
    the stated rate. Never on-demand leases. The payer organization's wallet pays the orders."""
    return emergency_out(session, service.declare(session, clock, operator, body))


@router.get("/operator/emergencies", response_model=EmergencyPage)
def list_emergencies(_operator: OperatorUser, session: DbSession, limit: Limit = 50,
                     offset: Offset = 0) -> EmergencyPage:
    rows, total = service.listing(session, limit=limit, offset=offset)
    return EmergencyPage(items=[emergency_out(session, e) for e in rows], total=total)


@router.get("/operator/emergencies/{emergency_id}", response_model=EmergencyOut)
def get_emergency(emergency_id: uuid.UUID, _operator: OperatorUser, session: DbSession) -> EmergencyOut:
    """Operator: an emergency with its parts and its progress (accelerators assembled over time, per stage)."""
    return emergency_out(session, service.get(session, emergency_id))


@router.post("/operator/emergencies/{emergency_id}/end", response_model=EmergencyOut,
             responses={409: {"description": "Already ended", "x-error-codes": ["emergency_ended"]}})
def end(emergency_id: uuid.UUID, operator: OperatorUser, session: DbSession, clock: AppClock) -> EmergencyOut:
    """Operator: end an emergency: its orders are released, lent units go back, open offers are withdrawn."""
    return emergency_out(session, service.end(session, clock, operator, emergency_id))


@router.get("/emergency-offers", response_model=list[OfferOut])
def my_offers(buyer: BuyerUser, session: DbSession) -> list[OfferOut]:
    """Buyers holding reserved leases: offers to lend idle units to an emergency, newest first."""
    return [offer_out(p, e) for p, e in service.offers_for(session, buyer)]


@router.post("/emergency-offers/{offer_id}/answer", response_model=OfferOut, responses=_ANSWER)
def answer(offer_id: uuid.UUID, body: AnswerIn, buyer: BuyerUser, session: DbSession, clock: AppClock) -> OfferOut:
    """Buyers: accept (the idle units are lent until the emergency ends; the compensation is paid into your
    wallet at once) or decline an offer."""
    part, emergency = service.answer_offer(session, clock, buyer, offer_id, body.accept)
    return offer_out(part, emergency)
