"""Finding the pages' messages: Babel's extractor over the web package's Python code and templates.

Used by the test that fails when a message has no zh_CN translation, and by ``scripts/web_messages.py``, which
adds new msgids (with empty translations, to be filled in) to the ``.po`` file of their area.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from babel.messages.extract import extract_from_dir

WEB_DIR = Path(__file__).parent
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                    "lstrip_blocks": "true"}}
# Areas (one .po file each) by the first part of the file name or the template folder.
AREAS = ("storefront", "buyer", "seller", "operator")
AREA_OF_MODULE = {"product": "storefront", "advisor": "storefront", "price_index": "storefront",
                  "buyer_jobs": "buyer"}


def area_of(path: str) -> str:
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
    """msgid → the files (relative to the web package) that use it."""
    found: dict[str, list[str]] = defaultdict(list)
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(WEB_DIR), METHOD_MAP, options_map=OPTIONS, keywords={"_": None, "gettext": None, "N_": None}):
        msgid = message if isinstance(message, str) else message[0]
        if msgid and filename not in found[msgid]:
            found[msgid].append(filename)
    return dict(found)
