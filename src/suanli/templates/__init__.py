"""The template scripts (``scripts/``) and reading them: the catalog itself is pure data in
:mod:`suanli.core.templates`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from suanli.core.templates import TEMPLATE_KINDS, TEMPLATES, Template
from suanli.errors import InvalidInput, NotFound

__all__ = ["get_template", "list_templates", "script_files", "template_detail"]


@cache
def _script(name: str) -> str:
    return resources.files("suanli.templates.scripts").joinpath(name).read_text(encoding="utf-8")


def script_files(template: Template) -> dict[str, str]:
    """The job's working files for ``template``: name -> text (the script and the shared runtime)."""
    return {name: _script(name) for name in template.files}


def get_template(template_id: str) -> Template:
    template = TEMPLATES.get(template_id)
    if template is None:
        raise NotFound(f"There is no template {template_id!r}; see GET /api/v1/templates.", code="template_not_found",
                       details={"valid_values": list(TEMPLATES)})
    return template


def list_templates(ecosystem: str | None = None, kind: str | None = None) -> list[Template]:
    """Templates, filtered by ecosystem (``cpu`` for the CPU ones) and kind; unknown filter values are 422."""
    ecosystems = sorted({t.ecosystem or "cpu" for t in TEMPLATES.values()})
    if ecosystem is not None and ecosystem not in ecosystems:
        raise InvalidInput(f"ecosystem: no templates for {ecosystem!r}; valid: {', '.join(ecosystems)}",
                           code="invalid_value", details={"field": "ecosystem", "valid_values": ecosystems})
    if kind is not None and kind not in TEMPLATE_KINDS:
        raise InvalidInput(f"kind: unknown template kind {kind!r}; valid: {', '.join(TEMPLATE_KINDS)}",
                           code="invalid_value", details={"field": "kind", "valid_values": list(TEMPLATE_KINDS)})
    return [t for t in TEMPLATES.values()
            if (ecosystem is None or (t.ecosystem or "cpu") == ecosystem) and (kind is None or t.kind == kind)]


def template_detail(template: Template) -> dict[str, Any]:
    """What GET /templates/{id} shows: the description plus the files' text."""
    return {**template.describe(), "file_contents": script_files(template)}
