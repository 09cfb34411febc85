"""Measure names, parsed strictly: the one parser behind evaluate, compare, ablate and train.

Two spellings are accepted, and each must be understood in full: an ir_measures name
(``nDCG(rel=2)@10``) or a trec_eval name (``ndcg_cut.10``, ``P.5,10``, ``recall.1000(rel=2)``). A trec_eval
name is translated into the ir_measures name it stands for, so both go through the same checks. Anything
left over (``ndcg_cut.10xyz``), a repeated parameter (``P(rel=1,rel=2)@5``), a cut-off below 1
(``recall.0``) or a grade below 1 (``R(rel=0)@10``) is a ``LilsrError`` naming the measure, raised before
the backend (pytrec_eval, which aborts the process on some of these) sees it. ir_measures' own
``parse_trec_measure`` ignores whatever follows the cut-off, and its ``parse_measure`` keeps the last of
a repeated parameter, hence this module.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Sequence

import ir_measures

from ..errors import LilsrError

MEASURE_HELP = ("ir_measures names (nDCG@10, RR@10, R@1000, AP, P@5; graded: R(rel=2)@1000, AP(rel=2), "
                "nDCG(rel=2)@10) or trec_eval names (ndcg_cut.10, recall.1000, recip_rank, map, P.5, P.5,10, "
                "ndcg_cut.10(rel=2))")

# trec_eval name -> (ir_measures name, whether it takes cut-offs); the names ir_measures can compute
TREC_NAMES = {
    "ndcg": ("nDCG", False), "ndcg_cut": ("nDCG", True), "P": ("P", True), "recall": ("R", True),
    "map": ("AP", False), "map_cut": ("AP", True), "recip_rank": ("RR", False), "Rprec": ("Rprec", False),
    "bpref": ("Bpref", False), "success": ("Success", True), "set_P": ("SetP", False),
    "set_recall": ("SetR", False), "set_map": ("SetAP", False), "num_rel_ret": ("NumRelRet", False),
    "num_ret": ("NumRet", False), "num_rel": ("NumRel", False), "infAP": ("infAP", False),
}
# what trec_eval computes for a cut-off measure named without cut-offs (``-m ndcg_cut``)
TREC_DEFAULT_CUTOFFS = {"success": (1, 5, 10)}
TREC_STANDARD_CUTOFFS = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

_TREC_NAME = re.compile(r"(?P<base>[A-Za-z_]+?)(?:[._](?P<cutoffs>[0-9]+(?:,[0-9]+)*))?"
                        r"(?:\((?P<params>[^()]*)\))?")


@dataclass(frozen=True)
class Measure:
    """A measure as the user named it (``name``, the key of every result) and what computes it.

    ``min_rel``: judgments below it count as non-relevant before ``measure`` sees them; it carries
    ``nDCG(rel=R)``, which ir_measures does not take: nDCG over judgments of grade R and up, with their grades
    as gains (for R(rel=R), AP(rel=R), ... ir_measures applies rel itself)."""

    name: str
    measure: object
    min_rel: int | None = None

    @property
    def rel(self) -> int:
        """The lowest grade this measure counts as relevant."""
        if self.min_rel is not None:
            return self.min_rel
        return int((getattr(self.measure, "params", {}) or {}).get("rel", 1) or 1)


def parse_measures(names: Sequence[str]) -> list[Measure]:
    """Each name parsed in full (see the module's docstring); a trec_eval name with several cut-offs
    (``P.5,10``) gives one measure per cut-off, keyed by its ir_measures name (``P@5``, ``P@10``)."""
    measures: list[Measure] = []
    for name in names:
        name = str(name).strip()
        if not name:
            raise LilsrError(f"empty measure name; use {MEASURE_HELP}")
        translated = _from_trec_name(name)
        if translated is None:
            measures.append(_parse_ir_measure(name, name))
        elif len(translated) == 1:
            measures.append(_parse_ir_measure(name, translated[0], key=name))
        else:
            measures += [_parse_ir_measure(name, text, key=text) for text in translated]
    return measures


def _from_trec_name(name: str) -> list[str] | None:
    """The ir_measures names a trec_eval name stands for, or None when ``name`` is not one.

    A bare name that is also an ir_measures name (``P``, ``Rprec``) is left to ir_measures."""
    match = _TREC_NAME.fullmatch(name)
    if match is None or match["base"] not in TREC_NAMES:
        return None
    base, cutoffs, params = match["base"], match["cutoffs"], match["params"]
    if cutoffs is None and base in ir_measures.measures.registry:
        return None
    target, takes_cutoff = TREC_NAMES[base]
    suffix = f"({params})" if params is not None else ""
    if not takes_cutoff:
        if cutoffs is not None:
            raise LilsrError(f"measure {name!r}: {base} takes no cut-off; use {base}{suffix}")
        return [target + suffix]
    values = cutoffs.split(",") if cutoffs is not None else TREC_DEFAULT_CUTOFFS.get(base, TREC_STANDARD_CUTOFFS)
    return [f"{target}{suffix}@{int(value)}" for value in values]


def _parse_ir_measure(name: str, text: str, key: str | None = None) -> Measure:
    """``text`` (an ir_measures name) as a Measure keyed ``key`` (default: ``name``); errors name ``name``."""
    unknown = LilsrError(f"unknown measure {name!r}; use {MEASURE_HELP}")
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise unknown from None
    cutoff = None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        try:
            cutoff = ast.literal_eval(node.right)
        except (ValueError, SyntaxError, TypeError):
            raise unknown from None
        node = node.left
    params: dict = {}
    if isinstance(node, ast.Call):
        if node.args:
            raise LilsrError(f"measure {name!r}: parameters must be named (rel=2), not positional")
        for keyword in node.keywords:
            if keyword.arg is None or keyword.arg in params:
                raise LilsrError(f"measure {name!r}: parameter {keyword.arg or '**'} given more than once")
            params[keyword.arg] = _literal(name, keyword.value)
        node = node.func
    if not isinstance(node, ast.Name) or node.id not in ir_measures.measures.registry:
        raise unknown
    cls = ir_measures.measures.registry[node.id]
    supported = getattr(cls, "SUPPORTED_PARAMS", {}) or {}
    if cutoff is not None:
        at = getattr(cls, "AT_PARAM", "cutoff")
        if at in params:
            raise LilsrError(f"measure {name!r}: {at} given twice (as @ and as a parameter)")
        params[at] = cutoff
    min_rel = None
    if "rel" in params and "rel" not in supported and "gains" in supported:  # nDCG(rel=R)
        min_rel = params.pop("rel")
        _check_positive_int(name, "rel (the lowest relevant grade)", min_rel)
    unsupported = sorted(set(params) - set(supported))
    if unsupported:
        raise LilsrError(f"measure {name!r}: {node.id} takes no parameter {', '.join(unsupported)}; it takes "
                         f"{', '.join(sorted(supported)) or 'none'}")
    if "cutoff" in params:
        _check_positive_int(name, "the cut-off", params["cutoff"])
    if "rel" in params:
        _check_positive_int(name, "rel (the lowest relevant grade)", params["rel"])
    try:
        measure = cls(**params)
        measure.validate_params()
    except (AssertionError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise LilsrError(f"measure {name!r}: {str(exc) or 'invalid parameters'}") from None
    return Measure(key or name, measure, min_rel)


def _literal(name: str, node: ast.AST):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise LilsrError(f"measure {name!r}: parameter values must be plain numbers or strings") from None


def _check_positive_int(name: str, what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LilsrError(f"measure {name!r}: {what} must be a positive integer, not {value!r}")
