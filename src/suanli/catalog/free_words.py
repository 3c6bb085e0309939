"""Free words in the search box, understood as the strict query language.

A buyer types what they would say — ``A800``, ``昇腾 910B 8卡``, ``安徽 国产 100元以下 最便宜`` — and this module
reads it as conditions of the catalog's query language (``chip=ascend-910b accelerators>=8``), piece by piece,
remembering which words became which condition so a page can show them back as filters to remove. Conditions
written in the query language itself (``price<=100 sort=ppp``) are kept as they are and parsed strictly by
`suanli.core.query`, which stays the one strict language; this module only adds the reading of plain words.

Every word must be understood: an unknown one is a :class:`QueryError` (``unknown_word``) at its position in
the text the user typed, never silently dropped (filler words such as 的 or GPU are understood as nothing).

Pure: no I/O. The places and data-center names of the platform come in as :class:`Places`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from suanli.core.chips import load_chip_table, resolve_chip
from suanli.core.query import Condition, FieldSpec, Query, QueryError, SortKey, format_query, parse_query
from suanli.core.query.lexer import Token, tokenize

MAX_SPAN = 4  # the most pieces one name may span ("NVIDIA H100 PCIe 80GB")

VENDORS: dict[str, tuple[str, ...]] = {
    "nvidia": ("nvidia", "英伟达", "n卡", "辉达"),
    "huawei": ("huawei", "华为", "昇腾", "ascend"),
    "hygon": ("hygon", "海光"),
    "cambricon": ("cambricon", "寒武纪", "思元"),
    "kunlunxin": ("kunlunxin", "kunlun", "昆仑芯", "昆仑", "百度昆仑"),
}
DOMESTIC_VENDORS = ("huawei", "hygon", "cambricon", "kunlunxin")
ECOSYSTEMS = ("cuda", "cann", "dtk", "neuware", "xpu")
# (field, value) for fixed words; the field's value is checked by the strict parser like any other.
KEYWORDS: dict[str, tuple[str, str]] = {
    **{w: ("mode", "spot") for w in ("spot", "竞价", "抢占式", "抢占", "竞价实例")},
    **{w: ("mode", "reserved") for w in ("reserved", "包月", "包年", "包年包月", "预留", "长租")},
    **{w: ("mode", "on_demand") for w in ("on_demand", "ondemand", "按需", "按量", "按小时", "按时")},
    **{w: ("available", "true") for w in ("available", "现货", "有货", "有空闲", "空闲", "可用")},
    **{w: ("delivery", "container") for w in ("container", "容器", "docker")},
    **{w: ("delivery", "vm") for w in ("vm", "虚拟机", "云主机", "云服务器")},
    **{w: ("delivery", "bare_metal") for w in ("bare_metal", "baremetal", "裸金属", "物理机", "整机")},
    **{w: ("delivery", "batch") for w in ("batch", "批处理", "作业")},
    **{w: ("kind", "cpu") for w in ("cpu", "通用计算")},
    **{w: ("kind", "storage") for w in ("storage", "存储")},
}
SORT_WORDS: dict[str, SortKey] = {
    **{w: SortKey("price") for w in ("cheapest", "cheap", "最便宜", "便宜", "低价", "价格最低")},
    **{w: SortKey("price_per_pflops") for w in ("性价比", "性价比最高", "value", "best_value")},
    **{w: SortKey("pflops", descending=True) for w in ("fastest", "最快", "算力最强", "最强")},
}
# Words that say nothing the catalog can filter on ("rent a GPU server", "的").
FILLERS = frozenset({
    "gpu", "gpus", "npu", "card", "cards", "server", "servers", "node", "nodes", "rent", "in", "with", "and",
    "卡", "显卡", "加速卡", "服务器", "机器", "节点", "主机", "算力", "租", "租用", "租赁", "的", "和", "在", "要", "想",
    "找", "台", "一台", "个", "显存", "内存", "型号", "芯片", "国内", "资源", "训练", "推理",
})
_CN_COUNTS = {"单": 1, "一": 1, "双": 2, "两": 2, "二": 2, "四": 4, "八": 8, "十六": 16, "三十二": 32}
_COUNT_RE = re.compile(r"(?P<n>\d{1,4})\s*(?:卡|张卡|块卡|x|×|\*|gpus?|cards?|accelerators?)"
                       r"|(?:x|×|\*)(?P<m>\d{1,4})"
                       rf"|(?P<cn>{'|'.join(sorted(_CN_COUNTS, key=len, reverse=True))})(?:卡|张卡|块卡)", re.I)
_CHIP_TIMES_RE = re.compile(r"(?P<chip>.+?)\s*(?:x|×|\*)\s*(?P<n>\d{1,4})", re.I)
_PRICE_RE = re.compile(r"(?:[¥￥]\s*)?(?P<n>\d{1,7}(?:\.\d{1,2})?)\s*(?:元|块|cny|rmb)?\s*(?:/h|/小时|每小时|一小时)?"
                       r"\s*(?:以下|以内|之内|内|封顶)", re.I)
_PRICE_BEFORE_RE = re.compile(r"(?:不超过|低于|小于|最多|under|below|max)\s*[¥￥]?\s*(?P<n>\d{1,7}(?:\.\d{1,2})?)"
                              r"\s*(?:元|块|cny|rmb)?(?:/h|/小时|每小时)?", re.I)
_MEMORY_RE = re.compile(r"(?:显存)?\s*(?P<n>\d{1,4})\s*(?:g|gb|gib)(?:显存)?(?:以上)?", re.I)
_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ADMIN_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市", "枢纽", "地区")


@dataclass(frozen=True)
class Places:
    """What the platform's places are called: provinces, cities, hubs, and whether a data center has a name."""

    provinces: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    hubs: frozenset[str] = frozenset()
    datacenter_named: Callable[[str], bool] = field(default=lambda _name: False, compare=False)


@dataclass(frozen=True)
class Reading:
    """How one piece of what the user typed (``text``, at ``start``..``end`` of it) was understood: a condition,
    a sort, or nothing (a filler word). ``exact`` when it was written in the query language."""

    text: str
    start: int
    end: int
    condition: Condition | None = None
    sort: SortKey | None = None
    exact: bool = False

    @property
    def query(self) -> str:
        """This reading in the query language ("" for a filler word)."""
        return format_query(Query(tuple([self.condition] if self.condition else []), self.sort))


@dataclass(frozen=True)
class Interpretation:
    """The text the user typed, its readings in order, and the strict :class:`Query` they make together
    (free-word conditions on the same field and operator merge into one list: ``A800 H800`` -> ``chip=a800,h800``)."""

    text: str
    readings: tuple[Reading, ...]
    query: Query

    @property
    def query_text(self) -> str:
        return format_query(self.query)

    @property
    def filters(self) -> tuple[Reading, ...]:
        """The readings that filter or sort (fillers left out)."""
        return tuple(r for r in self.readings if r.condition or r.sort)

    def without(self, *readings: Reading) -> str:
        """The user's text with these readings' words taken out (to remove one filter)."""
        out, pos = [], 0
        for reading in sorted(readings, key=lambda r: r.start):
            out.append(self.text[pos:reading.start])
            pos = reading.end
        out.append(self.text[pos:])
        return " ".join("".join(out).split())

    def without_sort(self) -> str:
        return self.without(*[r for r in self.readings if r.sort])


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


@dataclass
class _Piece:
    text: str
    start: int
    end: int
    quoted: bool = False
    joined_to_previous: bool = False  # no space between it and the piece before


def _pieces(text: str, tokens: Sequence[Token]) -> list[_Piece]:
    """Free-word tokens split where the script changes (``昇腾910B`` -> ``昇腾``, ``910B``)."""
    out: list[_Piece] = []
    for tok in tokens:
        if tok.kind == "quoted":
            out.append(_Piece(tok.value, tok.start, tok.end, quoted=True))
            continue
        pos = tok.start
        for run in re.finditer(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\u3400-\u9fff\uf900-\ufaff]+", tok.raw):
            out.append(_Piece(run.group(), pos + run.start(), pos + run.end(), joined_to_previous=run.start() > 0))
    return out


def _strip_suffix(name: str) -> str:
    for suffix in _ADMIN_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class _Reader:
    def __init__(self, places: Places, fields: Sequence[FieldSpec], sort_fields: Sequence[str]) -> None:
        self.places = places
        self.fields = fields
        self.sort_fields = sort_fields

    def read(self, phrase: str) -> list[tuple[Condition | None, SortKey | None]] | None:
        """What one phrase means, or None. A phrase may mean two things (``A800×8``: a chip and a count)."""
        word = " ".join(_norm(phrase).split())
        compact = word.replace(" ", "")  # for the word lists only: "8 4090" must not become 84090
        if not compact:
            return None
        if compact in FILLERS:
            return [(None, None)]
        if compact in SORT_WORDS:
            return [(None, SORT_WORDS[compact])]
        if compact in KEYWORDS:
            name, value = KEYWORDS[compact]
            return [(Condition(name, "=", (value,)), None)]
        if compact in ("国产", "国产卡", "国产芯片", "domestic", "信创"):
            return [(Condition("vendor", "=", DOMESTIC_VENDORS), None)]
        for vendor, words in VENDORS.items():
            if compact in words:
                return [(Condition("vendor", "=", (vendor,)), None)]
        if compact in ECOSYSTEMS:
            return [(Condition("ecosystem", "=", (compact,)), None)]
        if match := _COUNT_RE.fullmatch(word):
            n = int(match["n"] or match["m"] or _CN_COUNTS.get(match["cn"] or "", 0))
            return [(Condition("accelerators", ">=", (n,)), None)]
        if match := (_PRICE_RE.fullmatch(word) or _PRICE_BEFORE_RE.fullmatch(word)):
            return [(Condition("price", "<=", (Decimal(match["n"]),)), None)]
        if match := _MEMORY_RE.fullmatch(word):
            return [(Condition("accel_memory", ">=", (int(match["n"]),)), None)]
        chip = resolve_chip(phrase)
        if chip is not None and self._same_maker(word, chip.vendor):
            return [(Condition("chip", "=", (chip.key,)), None)]
        if (match := _CHIP_TIMES_RE.fullmatch(word)) and (chip := resolve_chip(match["chip"])) is not None:
            return [(Condition("chip", "=", (chip.key,)), None),
                    (Condition("accelerators", ">=", (int(match["n"]),)), None)]
        place = self._place(phrase.strip())
        if place is not None:
            return [(place, None)]
        if self.places.datacenter_named(phrase.strip()):
            return [(Condition("datacenter", "=", (phrase.strip(),)), None)]
        return None

    @staticmethod
    def _same_maker(word: str, chip_vendor: str) -> bool:
        """``海光 A800`` names two things: a maker word in front must be the chip's maker."""
        for vendor, words in VENDORS.items():
            if any(word.startswith(w) and word != w for w in words):
                return vendor == chip_vendor.casefold()
        return True

    def _place(self, name: str) -> Condition | None:
        for candidate in (name, _strip_suffix(name)):
            for field_name, known in (("province", self.places.provinces), ("city", self.places.cities),
                                      ("hub", self.places.hubs)):
                if candidate in known:
                    return Condition(field_name, "=", (candidate,))
        return None

    def vocabulary(self) -> list[str]:
        chips = [c.name for c in load_chip_table().values()] + list(load_chip_table())
        words = [w for ws in VENDORS.values() for w in ws]
        return [*chips, *words, *ECOSYSTEMS, *KEYWORDS, *SORT_WORDS, *sorted(self.places.provinces),
                *sorted(self.places.cities), *sorted(self.places.hubs)]


def _shifted(exc: QueryError, offset: int) -> QueryError:
    """A strict parser's error about a piece of the text, with its position in the whole text."""
    if offset == 0 or "position" not in exc.details:
        return exc
    position = int(exc.details["position"]) + offset
    message = re.sub(r"at position \d+", f"at position {position}", exc.message, count=1)
    return QueryError(exc.code, message, {**exc.details, "position": position})


def _unknown(piece: _Piece, reader: _Reader) -> QueryError:
    suggestion = difflib.get_close_matches(piece.text, reader.vocabulary(), n=1, cutoff=0.6)
    hint = f" Did you mean '{suggestion[0]}'?" if suggestion else ""
    return QueryError(
        "unknown_word",
        f"Cannot understand '{piece.text}' at position {piece.start}: it is not a chip, maker, place, data center or "
        f"other word the search knows.{hint} Remove it, or write a condition FIELD OP VALUE such as chip=A800 "
        "(`suanli search --fields` lists the fields).",
        {"position": piece.start, "text": piece.text, "suggestion": suggestion[0] if suggestion else None},
    )


def _read_free(pieces: list[_Piece], reader: _Reader) -> list[Reading]:
    """Longest phrase first: at each piece, the longest run of pieces (up to MAX_SPAN) that means something."""
    out: list[Reading] = []
    i = 0
    while i < len(pieces):
        for j in range(min(len(pieces), i + MAX_SPAN), i, -1):
            span = pieces[i:j]
            if j - i > 1 and not _whole_phrase(pieces, i, j):
                continue
            phrase = "".join(("" if p.joined_to_previous or k == 0 else " ") + p.text for k, p in enumerate(span))
            meaning = reader.read(phrase)
            if meaning is not None:
                start, end = span[0].start, span[-1].end
                out.extend(_checked(Reading(phrase, start, end, condition, sort), reader) for condition, sort in meaning)
                i = j
                break
        else:
            piece = pieces[i]
            prefix = _cjk_prefix(piece, reader)
            if prefix is None:
                raise _unknown(piece, reader)
            length, meaning = prefix
            out.extend(_checked(Reading(piece.text[:length], piece.start, piece.start + length, condition, sort), reader)
                       for condition, sort in meaning)
            pieces[i] = _Piece(piece.text[length:], piece.start + length, piece.end, joined_to_previous=True)
    return out


def _whole_phrase(pieces: list[_Piece], i: int, j: int) -> bool:
    """Whether pieces i..j may be read as one name: no quoted value inside, no count among them (``910B ×4`` is
    a chip and a count, not the 910B4), and not cut before a piece glued to the last one (``910B 4卡``)."""
    span = pieces[i:j]
    if any(p.quoted for p in span) or any(_COUNT_RE.fullmatch(_norm(p.text)) for p in span[1:]):
        return False
    return j == len(pieces) or not pieces[j].joined_to_previous


def _checked(reading: Reading, reader: _Reader) -> Reading:
    """A free word's condition through the strict parser too (``2000卡`` is over the accelerators' range)."""
    if reading.condition is not None:
        try:
            parse_query(reading.query, reader.fields, reader.sort_fields)
        except QueryError as exc:
            raise _located(exc, reading.start) from None
    return reading


def _located(exc: QueryError, position: int) -> QueryError:
    """A value's error (no position of its own) placed at the words that gave the value."""
    if "position" not in exc.details:
        exc.details["position"] = position
    return exc


def _cjk_prefix(piece: _Piece, reader: _Reader):  # type: ignore[no-untyped-def]
    """The longest start of a Chinese run that means something (``安徽芜湖`` -> ``安徽``), or None."""
    if piece.quoted or not _CJK_RE.match(piece.text):
        return None
    for length in range(len(piece.text) - 1, 0, -1):
        meaning = reader.read(piece.text[:length])
        if meaning is not None:
            return length, meaning
    return None


def _merge(readings: Sequence[Reading]) -> Query:
    """The strict query: exact conditions as written, free ones merged per field and operator, one sort."""
    conditions: list[Condition] = []
    merged: dict[str, int] = {}  # field -> index of its free-word `=` condition
    sort: SortKey | None = None
    sort_reading: Reading | None = None
    for reading in readings:
        if reading.sort is not None:
            if sort is not None and sort_reading is not None:
                raise QueryError(
                    "syntax_error",
                    f"Syntax error at position {reading.start} near '{reading.text}': only one sort is allowed; "
                    f"'{sort_reading.text}' already sorts. Remove one of them.",
                    {"position": reading.start, "text": reading.text, "problem": "two_sorts"})
            sort, sort_reading = reading.sort, reading
        condition = reading.condition
        if condition is None:
            continue
        if not reading.exact and condition.op == "=":
            if condition.field in merged:
                index = merged[condition.field]
                values = conditions[index].values
                conditions[index] = Condition(condition.field, "=",
                                              values + tuple(v for v in condition.values if v not in values))
                continue
            merged[condition.field] = len(conditions)
        conditions.append(condition)
    return Query(tuple(conditions), sort)


def interpret(text: str, fields: Sequence[FieldSpec], sort_fields: Sequence[str],
              places: Places = Places()) -> Interpretation:
    """Read ``text``: query-language conditions strictly, other words as what they name. Raises
    :class:`QueryError` with positions in ``text``."""
    tokens = tokenize(text)
    reader = _Reader(places, fields, sort_fields)
    readings: list[Reading] = []
    free: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind in ("op", "comma") or (tok.kind == "word" and i + 1 < len(tokens) and tokens[i + 1].kind == "op"):
            readings.extend(_read_free(_pieces(text, free), reader))
            free = []
            j = i + 1 if tok.kind == "word" else i  # a stray operator or comma: let the strict parser say so
            j += 1
            while j < len(tokens) and tokens[j].kind in ("word", "quoted"):
                j += 1
                if j < len(tokens) and tokens[j].kind == "comma":
                    j += 1
                else:
                    break
            while j < len(tokens) and tokens[j].start == tokens[j - 1].end:  # `chip=a800price<=80`: one piece
                j += 1
            start, end = tok.start, tokens[j - 1].end
            try:
                parsed = parse_query(text[start:end], fields, sort_fields)
            except QueryError as exc:
                raise _located(_shifted(exc, start), start) from None
            readings.extend(Reading(text[start:end], start, end, c, None, exact=True) for c in parsed.conditions)
            if parsed.sort is not None:
                readings.append(Reading(text[start:end], start, end, None, parsed.sort, exact=True))
            i = j
            continue
        free.append(tok)
        i += 1
    readings.extend(_read_free(_pieces(text, free), reader))
    return Interpretation(text, tuple(readings), parse_query(format_query(_merge(readings)), fields, sort_fields))
