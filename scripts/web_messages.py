"""Add the web pages' new messages to the zh_CN catalogs, then list those still untranslated.

    .venv/bin/python scripts/web_messages.py            # add new msgids (empty msgstr) to their area's .po
    .venv/bin/python scripts/web_messages.py --check    # only list untranslated msgids; exit 1 if any
    .venv/bin/python scripts/web_messages.py --only seller,operator   # write only these areas' .po files

A message goes to the .po of the area that uses it (storefront, buyer, seller, operator; common when several
areas or none use it), unless some .po file has it already; msgids no template or code uses any more are removed. Translate by filling in
the empty msgstr lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from suanli.web.catalogs import area_of, extract_messages
from suanli.web.i18n import LOCALE_DIR

PO_DIR = LOCALE_DIR / "zh_CN" / "LC_MESSAGES"


def load(path: Path) -> Catalog:
    if not path.exists():
        return Catalog(locale="zh_CN", domain="suanli", project="suanli", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale="zh_CN")


def main(check: bool, only: set[str] | None = None) -> int:
    messages = extract_messages()
    catalogs = {path.stem: load(path) for path in sorted(PO_DIR.glob("*.po"))}
    known = {m.id for c in catalogs.values() for m in c if m.id}
    changed = set()
    if not check:
        for msgid, files in sorted(messages.items()):
            if msgid in known:
                continue
            areas = {area_of(f) for f in files}
            area = areas.pop() if len(areas) == 1 else "common"  # shared by several areas: common.po
            if only is not None and area not in only:
                continue
            catalog = catalogs.setdefault(area, load(PO_DIR / f"{area}.po"))
            catalog.add(msgid, "", locations=[(f, 0) for f in files[:1]])
            changed.add(area)
        for area, catalog in catalogs.items():  # msgids no page uses any more
            if only is not None and area not in only:
                continue
            unused = [m.id for m in catalog if m.id and m.id not in messages]
            for msgid in unused:
                del catalog[msgid]
            if unused:
                print(f"{area}.po: removed {len(unused)} unused: {unused[:5]}")
                changed.add(area)
        for area in changed:
            with (PO_DIR / f"{area}.po").open("wb") as handle:
                write_po(handle, catalogs[area], omit_header=False, sort_output=False, width=120,
                         include_lineno=False)
    translated = {m.id for c in catalogs.values() for m in c if m.id and m.string}
    missing = sorted(set(messages) - translated)
    for msgid in missing:
        print(f"untranslated: {msgid!r} ({', '.join(messages[msgid])})")
    print(f"{len(messages)} messages, {len(missing)} untranslated; updated: {', '.join(sorted(changed)) or 'none'}")
    return 1 if (check and missing) else 0


if __name__ == "__main__":
    chosen = next((a.split("=", 1)[1] if "=" in a else sys.argv[i + 2] for i, a in enumerate(sys.argv[1:])
                   if a.startswith("--only")), None)
    sys.exit(main("--check" in sys.argv, set(chosen.split(",")) if chosen else None))
