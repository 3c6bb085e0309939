"""Server-side form validation with the API's Pydantic schemas, and errors shown next to their fields.

A page builds the API's request model from the posted fields with :func:`validate`; Pydantic's error locations
(``("units",)``, ``("workload", "params_b")``) become field names (``field_map`` renames them where a form's field
is called otherwise), and each error type a translated message. A :class:`~suanli.errors.DomainError` from the
service (``insufficient_funds``...) goes to the top of the form (:meth:`Form.fail`), or next to a field when the
error names one (``details.field``), in the words of :mod:`suanli.web.error_messages`. Services run inside
:func:`attempt`: a savepoint, so a refused action leaves nothing behind although the page itself is answered
normally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request

from suanli.errors import DomainError
from suanli.web.error_messages import DOMAIN_MESSAGES, domain_message
from suanli.web.i18n import N_, gettext_for, request_locale

M = TypeVar("M", bound=BaseModel)

# Pydantic error types → messages (English msgids; ``%(x)s`` from the error's ctx).
_TYPE_MESSAGES = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("This is too long: at most %(max_length)s characters."),
    "string_pattern_mismatch": N_("This does not have the expected format."),
    "int_parsing": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "float_type": N_("Enter a number."),
    "decimal_parsing": N_("Enter a number."),
    "decimal_type": N_("Enter a number."),
    "greater_than": N_("Must be more than %(gt)s."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "decimal_max_places": N_("At most %(decimal_places)s decimal places."),
    "uuid_parsing": N_("This is not a valid id."),
    "uuid_type": N_("This is not a valid id."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "bool_parsing": N_("Choose yes or no."),
    "too_long": N_("Too many entries."),
    "too_short": N_("Choose at least one."),
    "value_error": N_("This value is not valid."),
    "json_invalid": N_("This value is not valid."),
}
# The email refusals of ``accounts.schemas.Email`` say what is wrong, in the words of the same service codes.
_TYPE_MESSAGES.update({code: DOMAIN_MESSAGES[code]
                       for code in ("email_mixed_scripts", "email_confusable", "invalid_email")})

def _ctx_text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


_TOO_SHORT = N_("Too short: at least %(min_length)s characters.")


def error_message(error: Mapping[str, Any], _: Callable[..., str]) -> str:
    template = _TYPE_MESSAGES.get(str(error.get("type", "")), N_("This value is not valid."))
    ctx = {k: _ctx_text(v) for k, v in (error.get("ctx") or {}).items()}
    if error.get("type") == "string_too_short" and ctx.get("min_length") not in (None, "1") and error.get("input"):
        template = _TOO_SHORT  # typed, but shorter than the rule (a password: 8): say the rule, not "required"
    try:
        return _(template, **ctx)
    except (KeyError, ValueError):
        return _(N_("This value is not valid."))


@dataclass
class Form:
    """What a form shows: the values typed (to refill the fields), errors per field, errors at the top."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # the service's own words for an unmapped error

    @property
    def ok(self) -> bool:
        return not self.errors and not self.top

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def fail(self, exc: DomainError, _: Callable[..., str], field_map: Mapping[str, str] | None = None) -> None:
        """A service refused: next to the field it names, else at the top of the form. A code with no message in
        :data:`~suanli.web.error_messages.DOMAIN_MESSAGES` shows a generic line and the service's own words."""
        known = domain_message(exc, _)
        message = known if known is not None else _(N_("This could not be done."))
        name = str(exc.details.get("field", "")) if isinstance(exc.details, dict) else ""
        name = (field_map or {}).get(name, name.rsplit(".", 1)[-1] if name else "")
        if name and name in self.values:
            self.errors.setdefault(name, message)
        else:
            self.top.append(message)
        if known is None:
            self.details.append(exc.message)


def form_values(form: Mapping[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    """The posted fields as plain strings (multi-valued fields as lists), without the CSRF token."""
    out: dict[str, Any] = {}
    items = form.multi_items() if hasattr(form, "multi_items") else form.items()
    for key, value in items:
        if key == "csrf_token" or (names is not None and key not in names) or not isinstance(value, str):
            continue
        if key in out:
            out[key] = out[key] if isinstance(out[key], list) else [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def validate(schema: type[M], data: dict[str, Any], form: Form, _: Callable[..., str],
             field_map: Mapping[str, str] | None = None) -> M | None:
    """``schema(**data)``, or None with the errors put next to the fields of ``form``."""
    try:
        return schema.model_validate(data, strict=False)  # form fields are text: "5" is 5 here (not in JSON)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(p) for p in error.get("loc", ()))
            name = (field_map or {}).get(loc, loc.rsplit(".", 1)[-1] if loc else "")
            message = error_message(error, _)
            if name and (name in form.values or (field_map is not None and loc in field_map)):
                form.error(name, message)
            else:
                form.top.append(message if not name else f"{name}: {message}")
        return None


def blank_to_none(data: dict[str, Any]) -> dict[str, Any]:
    """Empty fields mean "not given" (the schema's default applies), not an empty string: they are left out."""
    return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}


def cny_to_fen(text: str | None, name: str, form: Form, _: Callable[..., str],
               zero: str = N_("The amount must be more than 0 yuan: type it in yuan, such as 80 or 80.50.")
               ) -> int | None:
    """A CNY amount typed by a person (``80``, ``80.5``, ``¥1,080.00``) as integer fen; errors go next to ``name``
    (``zero``: the msgid for 0 or less)."""
    if text is None or not str(text).strip():
        return None
    cleaned = str(text).strip().replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        form.error(name, _(N_("Enter an amount in yuan, such as 80 or 80.50.")))
        return None
    if not amount.is_finite():
        form.error(name, _(N_("Enter an amount in yuan, such as 80 or 80.50.")))
        return None
    if amount <= 0:
        form.error(name, _(zero))
        return None
    if amount * 100 != (amount * 100).to_integral_value():
        form.error(name, _(N_("At most %(decimal_places)s decimal places."), decimal_places="2"))
        return None
    return int(amount * 100)


def translator(request: Request) -> Callable[..., str]:
    """``_`` in the request's language, for messages made in Python."""
    return gettext_for(request_locale(request))


@contextmanager
def attempt(session: Session) -> Iterator[None]:
    """Run a service call in a savepoint: when it raises (a DomainError the page will show), whatever it wrote is
    rolled back, while the request's unit of work still ends normally."""
    with session.begin_nested():
        yield
