"""Instances use cases: preparing and creating the instances of a lease, reading them (each viewer sees what is
theirs to see), and delivery by hand. No HTTP here; callers commit. What happens as time passes (starting them on
backends, watching, stopping, deadlines) is in ``instances.lifecycle``.

Who sees what: the buyer's organization sees everything of its instances, the access details and the JupyterLab
token included; the seller sees that an instance of its data center runs (state, times, product, image, the ports
asked for) and, while it waits to be delivered by hand, the public keys to install — never the access details or
the token; operators see what sellers see.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from suanli import backends
from suanli.accounts.models import Role, User
from suanli.accounts.service import organizations_named
from suanli.catalog.models import Product
from suanli.backends.instances import InvalidInstanceSpec, check_ports
from suanli.core.billing import Clock
from suanli.core.messages import Text, msg, render, to_json
from suanli.db import contains_word, is_id, search_words
from suanli.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.instances.images import OfferedImage, choose_image
from suanli.instances.keys import keys_for_order
from suanli.instances.models import LIVE_STATES, DeliveryMethod, Instance, InstanceState
from suanli.instances.schemas import ManualDeliveryIn
from suanli.jobs.models import Cluster, ClusterState
from suanli.trading.models import Order, OrderStatus, PlatformSettings

__all__ = ["InstanceRequest", "create_instances", "deliver_by_hand", "get_instance", "instance_out",
           "list_instances", "prepare_instances", "refuse_delivery"]


@dataclass(frozen=True)
class InstanceRequest:
    """What an order's instances will be: checked before anything is written."""

    image: OfferedImage
    ports: tuple[int, ...]
    authorized_keys: tuple[str, ...]
    delivery: DeliveryMethod
    cluster_id: uuid.UUID | None


def delivery_method(session: Session, cluster_id: uuid.UUID | None) -> DeliveryMethod:
    """Automated when the product's cluster can start instances, else by hand (no cluster, or one whose backend
    cannot: e.g. Ray, or Slurm without a shared directory)."""
    if cluster_id is None:
        return DeliveryMethod.MANUAL
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        return DeliveryMethod.MANUAL
    from suanli.jobs.service import make_backend

    try:
        backend = make_backend(cluster)
    except backends.BackendError:
        return DeliveryMethod.MANUAL
    try:
        return DeliveryMethod.AUTOMATED if backend.capabilities().supports("instances") else DeliveryMethod.MANUAL
    finally:
        backend.close()


def _refuse_inactive_cluster(session: Session, cluster_id: uuid.UUID | None) -> None:
    """409 ``cluster_disabled`` when the product's cluster takes no new instances (disabled or being deleted)."""
    state = session.scalar(select(Cluster.state).where(Cluster.id == cluster_id)) if cluster_id else None
    if state in (ClusterState.DISABLED, ClusterState.DRAINING):
        raise Conflict("The data center has taken this product's cluster out of service, so no new machines start "
                       "on it; choose another product, or try again once the seller enables it.",
                       code="cluster_disabled")


def prepare_instances(session: Session, product: Any, buyer: User, body: Any) -> InstanceRequest:
    """Check what an order of a machine product asks for (``product``: a row with ``datacenter_id``, ``kind``,
    ``delivery``, ``ecosystem``, ``cluster_id``; ``body``: the ``OrderIn``): the image (422 ``image_required``,
    ``unknown_image``, ``image_not_offered``), the ports (422 ``invalid_port``) and the SSH keys (422
    ``ssh_key_required``, ``ssh_key_not_found``)."""
    image = choose_image(session, product.datacenter_id, str(product.kind), str(product.delivery), product.ecosystem,
                         body.image)
    try:
        ports = check_ports(body.ports)
    except InvalidInstanceSpec as exc:
        raise InvalidInput(f"ports: {exc.message}.", code="invalid_port", details={"field": "ports"}) from None
    keys = keys_for_order(session, buyer, body.ssh_key_ids)
    _refuse_inactive_cluster(session, product.cluster_id)
    return InstanceRequest(image, ports, tuple(keys), delivery_method(session, product.cluster_id), product.cluster_id)


def _deadline_minutes(session: Session) -> int:
    minutes = session.scalar(select(PlatformSettings.delivery_deadline_minutes).where(PlatformSettings.id == 1))
    return int(minutes) if minutes is not None else 60


def create_instances(session: Session, order: Order, request: InstanceRequest, now: dt.datetime) -> None:
    """One instance per unit of a just-placed order: ``provisioning`` (with its delivery deadline) when the order
    has its units, ``pending`` while it waits for them."""
    provisioning = order.status is OrderStatus.PROVISIONING
    deadline = now + dt.timedelta(minutes=_deadline_minutes(session)) if provisioning else None
    detail = _waiting_detail(request.delivery) if provisioning else msg("waiting for units held by spot leases "
                                                                        "under a preemption notice")
    for unit in range(order.units):
        session.add(Instance(
            order_id=order.id, unit_index=unit, buyer_org_id=order.buyer_org_id, buyer_user_id=order.buyer_user_id,
            seller_org_id=order.seller_org_id, datacenter_id=order.datacenter_id, product_id=order.product_id,
            cluster_id=request.cluster_id if request.delivery is DeliveryMethod.AUTOMATED else None,
            delivery=request.delivery, image_key=request.image.image.key, image_reference=request.image.reference,
            ports=list(request.ports), authorized_keys=list(request.authorized_keys),
            secrets={"jupyter_token": secrets.token_urlsafe(32)},
            state=InstanceState.PROVISIONING if provisioning else InstanceState.PENDING,
            **detail_values(detail), delivery_deadline=deadline, created_at=now,
            provisioning_at=now if provisioning else None))
    session.flush()


def _waiting_detail(delivery: DeliveryMethod) -> Text:
    if delivery is DeliveryMethod.AUTOMATED:
        return msg("starting on the data center's cluster")
    return msg("waiting for the data center to deliver it by hand")


def begin_provisioning(session: Session, order_id: uuid.UUID, now: dt.datetime) -> None:
    """The order's units became free (a pending order started): its instances start provisioning now, with their
    delivery deadline from now."""
    deadline = now + dt.timedelta(minutes=_deadline_minutes(session))
    for instance in session.scalars(select(Instance).where(Instance.order_id == order_id,
                                                           Instance.state == InstanceState.PENDING)):
        instance.state = InstanceState.PROVISIONING
        instance.provisioning_at = now
        instance.delivery_deadline = deadline
        for key, value in detail_values(_waiting_detail(instance.delivery)).items():
            setattr(instance, key, value)
    session.flush()


def detail_values(detail: Text) -> dict[str, Any]:
    return {"state_detail": render(detail)[:500], "state_detail_message": to_json(detail)}


# ---------------------------------------------------------------- reading

def _visible(user: User):
    query = select(Instance)
    if user.role is Role.BUYER:
        return query.where(Instance.buyer_org_id == user.organization_id)
    if user.role is Role.SELLER:
        return query.where(Instance.seller_org_id == user.organization_id)
    return query


INSTANCE_SORTS: dict[str, tuple[Any, ...]] = {
    "-created": (Instance.created_at.desc(), Instance.order_id, Instance.unit_index),
    "created": (Instance.created_at, Instance.order_id, Instance.unit_index),
}


def list_instances(session: Session, user: User, *, state: InstanceState | None = None,
                   order_id: uuid.UUID | None = None, live: bool = False, text: str | None = None,
                   sort: str = "-created", limit: int = 50, offset: int = 0) -> tuple[list[Instance], int]:
    """A page of the machines ``user`` may see, newest first (or by ``sort``); ``text``: words each of which is in
    the product's name, the image's name or the buyer's or seller's organization name, or is the machine's or its
    order's id."""
    query = _visible(user)
    for word in search_words(text):
        orgs = organizations_named(word)
        query = query.where(or_(Instance.product_id.in_(select(Product.id).where(contains_word(Product.name, word))),
                                contains_word(Instance.image_key, word), Instance.buyer_org_id.in_(orgs),
                                Instance.seller_org_id.in_(orgs), *is_id(Instance.id, word),
                                *is_id(Instance.order_id, word)))
    if state is not None:
        query = query.where(Instance.state == state)
    if live:
        query = query.where(Instance.state.in_(LIVE_STATES))
    if order_id is not None:
        query = query.where(Instance.order_id == order_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(*INSTANCE_SORTS[sort]).limit(limit).offset(offset)))
    return rows, int(total)


def get_instance(session: Session, user: User, instance_id: uuid.UUID) -> Instance:
    instance = session.scalar(_visible(user).where(Instance.id == instance_id))
    if instance is None:
        raise NotFound(f"You have no instance {instance_id}.", code="instance_not_found")
    return instance


def is_owner(user: User, instance: Instance) -> bool:
    return user.role is Role.BUYER and user.organization_id == instance.buyer_org_id


def ssh_command(access: dict[str, Any]) -> str:
    port = int(access["ssh_port"])
    return f"ssh -p {port} {access['ssh_user']}@{access['ssh_host']}" if port != 22 else \
        f"ssh {access['ssh_user']}@{access['ssh_host']}"


def jupyter_link(access: dict[str, Any], token: str | None) -> str | None:
    base = access.get("jupyter_url") or ""
    if not base:
        return None
    if not token:
        return base
    base = base if base.endswith("/") else base + "/"
    return f"{base}lab?token={token}"


def instance_out(instance: Instance, viewer: User) -> dict[str, Any]:
    """The instance as ``viewer`` may see it (see the module docstring)."""
    owner = is_owner(viewer, instance)
    access = None
    if owner and instance.access and instance.state is InstanceState.RUNNING:
        token = (instance.secrets or {}).get("jupyter_token") if isinstance(instance.secrets, dict) else None
        access = {**instance.access, "ssh_command": ssh_command(instance.access),
                  "jupyter_link": jupyter_link(instance.access, token),
                  "password": (instance.secrets or {}).get("password") if isinstance(instance.secrets, dict)
                  else None}
    waiting_by_hand = instance.delivery is DeliveryMethod.MANUAL and instance.state is InstanceState.PROVISIONING
    return {
        "id": instance.id, "order_id": instance.order_id, "unit_index": instance.unit_index,
        "product_id": instance.product_id, "datacenter_id": instance.datacenter_id,
        "delivery": instance.delivery, "image": instance.image_key, "ports": list(instance.ports or []),
        "state": instance.state, "state_detail": instance.state_detail,
        "state_detail_message": instance.state_detail_message,
        "authorized_keys": list(instance.authorized_keys or []) if owner or waiting_by_hand else [],
        "access": access, "delivery_deadline": instance.delivery_deadline, "created_at": instance.created_at,
        "delivered_at": instance.delivered_at, "ended_at": instance.ended_at,
    }


# ---------------------------------------------------------------- delivery by hand

def _sellers_instance(session: Session, seller: User, instance_id: uuid.UUID) -> Instance:
    if seller.role is not Role.SELLER:
        raise Forbidden("Only the seller whose data center runs an instance delivers it.", code="wrong_role")
    instance = session.scalar(select(Instance).where(Instance.id == instance_id).with_for_update()
                              .execution_options(populate_existing=True))
    if instance is None or instance.seller_org_id != seller.organization_id:
        raise NotFound(f"You have no instance {instance_id}.", code="instance_not_found")
    if instance.delivery is not DeliveryMethod.MANUAL:
        raise Conflict("This instance is started by the data center's cluster; it is not delivered by hand.",
                       code="not_manual_delivery")
    if instance.state is not InstanceState.PROVISIONING:
        raise Conflict(f"This instance is {instance.state.value}; only instances waiting for delivery can be "
                       "delivered.", code="instance_not_waiting", details={"state": instance.state.value})
    return instance


_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?"
                   r"|\[?[0-9A-Fa-f:.]{2,45}\]?")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def _checked_access(body: ManualDeliveryIn) -> dict[str, Any]:
    """The access details a seller typed, checked: they are shown to the buyer (a link, a command), never
    called by the server."""
    def bad(field: str, what: str) -> InvalidInput:
        return InvalidInput(f"{field}: {what}.", code="invalid_access_details", details={"field": field})

    if not _HOST.fullmatch(body.ssh_host):
        raise bad("ssh_host", "give a host name or an IP address")
    if not _USER.fullmatch(body.ssh_user):
        raise bad("ssh_user", "give a Linux user name (lowercase letters, digits, '_' or '-')")
    for fp in body.host_key_fingerprints:
        if not _FINGERPRINT.fullmatch(fp):
            raise bad("host_key_fingerprints", "each is what `ssh-keygen -lf` prints: SHA256: and 43 characters")
    jupyter = (body.jupyter_url or "").strip()
    if jupyter:
        parts = urlsplit(jupyter)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise bad("jupyter_url", "give an http:// or https:// address without a user name or password in it")
    ports = {}
    for inner, target in body.ports.items():
        if not _HOST.fullmatch(target.host):
            raise bad("ports", f"the host for port {inner} is not a host name or IP address")
        ports[str(inner)] = [target.host, target.port]
    return {"ssh_host": body.ssh_host, "ssh_port": body.ssh_port, "ssh_user": body.ssh_user,
            "ssh_host_key_fingerprints": list(body.host_key_fingerprints), "jupyter_url": jupyter, "ports": ports,
            "note": body.note or ""}


def deliver_by_hand(session: Session, clock: Clock, seller: User, instance_id: uuid.UUID,
                    body: ManualDeliveryIn) -> Instance:
    """The seller enters the access details of an instance it delivers by hand: it runs from now, and when every
    instance of the order runs, the order's billing starts (``trading.delivery.start_delivered``)."""
    from suanli.instances.lifecycle import mark_running

    instance = _sellers_instance(session, seller, instance_id)
    access = _checked_access(body)
    extra = {}
    if body.password:
        extra["password"] = body.password
    if body.jupyter_token:
        extra["jupyter_token"] = body.jupyter_token
    elif access["jupyter_url"]:
        extra["jupyter_token"] = None  # the seller's Jupyter has its own login; ours does not apply
    mark_running(session, instance, access, clock.now(), secrets_update=extra,
                 detail=msg("delivered by the data center"))
    return instance


def refuse_delivery(session: Session, clock: Clock, seller: User, instance_id: uuid.UUID, reason: str) -> Instance:
    """The seller cannot deliver an instance: the order is cancelled and refunded in full."""
    from suanli.instances.lifecycle import fail_delivery

    instance = _sellers_instance(session, seller, instance_id)
    reason = " ".join(reason.split())[:200]
    if not reason:
        raise InvalidInput("Say why the instance cannot be delivered; the buyer is told.", code="reason_required",
                           details={"field": "reason"})
    fail_delivery(session, instance, clock.now(), msg("the data center could not deliver it: %(reason)s",
                                                      reason=reason))
    session.refresh(instance)
    return instance


def count_waiting_for_seller(session: Session, seller: User) -> int:
    return int(session.scalar(select(func.count()).select_from(Instance).where(
        Instance.seller_org_id == seller.organization_id, Instance.delivery == DeliveryMethod.MANUAL,
        Instance.state == InstanceState.PROVISIONING)) or 0)


def instances_of_order(session: Session, order_id: uuid.UUID) -> list[Instance]:
    return list(session.scalars(select(Instance).where(Instance.order_id == order_id)
                                .order_by(Instance.unit_index)))


def set_state(session: Session, instance_id: uuid.UUID, from_states: tuple[InstanceState, ...],
              **values: Any) -> bool:
    """One conditional UPDATE: the instance moves only from one of ``from_states`` (two loops never both act)."""
    result = session.execute(update(Instance).where(Instance.id == instance_id, Instance.state.in_(from_states))
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1
