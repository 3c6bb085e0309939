"""Finding the pages' messages: Babel's extractor over the web package's Python code and templates, and over the
engines whose sentences the pages show (``msg("...")`` calls, :mod:`suanli.core.messages`).

Used by the test that fails when a message has no zh_CN translation, and by ``scripts/web_messages.py``, which
adds new msgids (with empty translations, to be filled in) to the ``.po`` file of their area.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from babel.messages.extract import extract_from_dir

WEB_DIR = Path(__file__).parent
PACKAGE_DIR = WEB_DIR.parent
# Engine code whose msg("...") sentences the pages translate: folder (relative to the package) → its .po area.
ENGINE_AREAS = {"scheduling": "scheduling", "jobs": "scheduling", "backends": "scheduling", "core/estimates": "estimates",
                "advisor": "estimates", "trading": "trading", "instances": "instances"}
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                    "lstrip_blocks": "true"}}
# Areas (one .po file each) by the first part of the file name or the template folder.
AREAS = ("storefront", "buyer", "seller", "operator")
AREA_OF_MODULE = {"product": "storefront", "advisor": "storefront", "price_index": "storefront",
                  "buyer_jobs": "buyer"}


def area_of(path: str) -> str:
    """The .po file (area) a message of ``path`` (as :func:`extract_messages` names it) goes to."""
    for folder, area in ENGINE_AREAS.items():
        if path.startswith(folder + "/"):
            return area
    parts = Path(path).parts
    if parts[0] == "templates" and len(parts) > 2:
        folder = parts[1]
        return folder if folder in AREAS else "common"
    stem = Path(path).stem
    for area in AREAS:
        if stem == area or stem.startswith(area + "_"):
            return area
    return AREA_OF_MODULE.get(stem, "common")


def extract_messages() -> dict[str, list[str]]:
    """msgid → the files that use it: relative to the web package for pages, to the suanli package for engines."""
    found: dict[str, list[str]] = defaultdict(list)
    sources = [(WEB_DIR, "", METHOD_MAP, {"_": None, "gettext": None, "N_": None})]
    sources += [(PACKAGE_DIR / folder, folder + "/", [("**.py", "python")], {"msg": None})
                for folder in ENGINE_AREAS if (PACKAGE_DIR / folder).is_dir()]
    for directory, prefix, method_map, keywords in sources:
        for filename, _lineno, message, _comments, _context in extract_from_dir(
                str(directory), method_map, options_map=OPTIONS, keywords=keywords):
            msgid = message if isinstance(message, str) else message[0]
            if msgid and prefix + filename not in found[msgid]:
                found[msgid].append(prefix + filename)
    return dict(found)
