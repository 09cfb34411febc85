"""Query files as researchers have them: BEIR ``queries.jsonl``, MS MARCO ``queries.tsv`` (``qid<TAB>text``),
classic TREC topic files (``<top><num> Number: 301 <title> ...</top>``) and TREC XML topics
(``<topic number="1"><query>...</query></topic>``).

The format is sniffed from the first non-blank characters, not the file name (``topics.dl19.txt`` is
tab-separated, ``topics.301-350`` has no suffix at all).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterator

from ..errors import LilsrError
from .jsonl import read_utf8

FORMATS = ("jsonl", "tsv", "trec", "trec-xml")
TOPIC_FIELDS = ("title", "desc", "narr")

# a field runs from its tag to the next tag (classic TREC topics close only <top>)
_FIELD = re.compile(r"<(num|title|desc|narr)>(.*?)(?=<(?:num|title|desc|narr)>|</top>)", re.S | re.I)
_LABEL = {"num": re.compile(r"^\s*Number:\s*", re.I), "title": re.compile(r"^\s*Topic:\s*", re.I),
          "desc": re.compile(r"^\s*Description:\s*", re.I), "narr": re.compile(r"^\s*Narrative:\s*", re.I)}


def sniff_format(path: str | Path) -> str:
    """``jsonl``, ``tsv``, ``trec`` or ``trec-xml``, from the first non-blank characters of the file."""
    path = Path(path)
    if not path.is_file():
        raise LilsrError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096).lstrip("\ufeff \t\r\n")
    if not head:
        raise LilsrError(f"{path}: the file is empty, no queries; give a queries file (BEIR jsonl, MS MARCO tsv or TREC topics)")
    if head.startswith("{"):
        return "jsonl"
    lowered = head.lower()
    if lowered.startswith("<top>"):
        return "trec"
    if lowered.startswith(("<?xml", "<topics", "<topic ", "<topic>", "<webtrack")):
        return "trec-xml"
    if "\t" in head.splitlines()[0]:
        return "tsv"
    raise LilsrError(f"{path}: unknown queries format; expected BEIR queries.jsonl, 'qid<TAB>text' lines "
                     "(MS MARCO queries.tsv) or TREC topics (<top><num> ...)")


def read_trec_topics(path: str | Path, field: str = "title") -> Iterator[tuple[int, str, str]]:
    """``(line, qid, text)`` per ``<top>`` of a classic TREC topic file; ``field``: title, desc or narr."""
    if field not in TOPIC_FIELDS:
        raise LilsrError(f"topic field must be one of {', '.join(TOPIC_FIELDS)}, not {field!r}")
    path = Path(path)
    text = read_utf8(path)  # strict, like the TSV and JSONL readers: no replacement characters in queries
    starts = [m.start() for m in re.finditer(r"<top>", text, re.I)]
    if not starts:
        raise LilsrError(f"{path}: no <top> topics found")
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        block = text[begin:end]
        line = text.count("\n", 0, begin) + 1
        if not re.search(r"</top>", block, re.I):
            raise LilsrError(f"{path}:{line}: <top> without </top>")
        fields = {name.lower(): _LABEL[name.lower()].sub("", " ".join(value.split())) for name, value in
                  _FIELD.findall(block)}
        qid = fields.get("num", "").strip()
        if not qid:
            raise LilsrError(f"{path}:{line}: topic without a <num>")
        if field not in fields:
            raise LilsrError(f"{path}:{line}: topic {qid} has no <{field}>; choose another --topic-field")
        yield line, qid, fields[field].strip()


def read_trec_xml_topics(path: str | Path, field: str = "title") -> Iterator[tuple[int, str, str]]:
    """``(index, qid, text)`` per ``<topic number=...>`` of a TREC XML topic file. The title is the
    ``<query>`` (Web track) or ``<title>`` element; desc and narr are ``<description>``/``<narrative>``."""
    if field not in TOPIC_FIELDS:
        raise LilsrError(f"topic field must be one of {', '.join(TOPIC_FIELDS)}, not {field!r}")
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise LilsrError(f"{path}:{exc.position[0]}: malformed XML ({exc})") from None
    names = {"title": ("query", "title"), "desc": ("description", "desc"), "narr": ("narrative", "narr")}[field]
    topics = [root] if root.tag == "topic" else root.iter("topic")
    for number, topic in enumerate(topics, start=1):
        qid = topic.get("number") or topic.get("id") or (topic.findtext("number") or "").strip()
        if not qid:
            raise LilsrError(f"{path}: topic {number} has no number attribute")
        text = next((topic.findtext(name) for name in names if topic.find(name) is not None), None)
        if text is None:
            raise LilsrError(f"{path}: topic {qid} has no <{names[0]}>; choose another --topic-field")
        yield number, qid, " ".join(text.split())
