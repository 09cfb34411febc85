"""Engine parameters declared once (modelled on ir_measures' ``ParamInfo``): a ``Param`` per parameter, an
``EngineParams`` per engine; validation, defaults (per k where they depend on it), tuning grids and the docs'
parameter tables all follow from the declaration.

``EngineParams.parse`` is the one validator of ``-p key=value`` and Python ``**params``: an unknown name is
refused naming the known ones, a bad value in one line of one format::

    <engine> <stage> parameter <name> must be <what it takes> (<why>), not <value>
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Mapping

from ..errors import LilsrError


def check_known_params(params, known, what: str) -> None:
    """Refuse parameters an engine does not take, naming the ones it does (``what``: "native search")."""
    unknown = set(params) - set(known)
    if unknown:
        raise LilsrError(f"unknown {what} parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")


@dataclass(frozen=True)
class Param:
    """One engine parameter: its type, accepted values, default and what it trades."""

    name: str
    kind: type                   # int, float, bool or str
    default: object
    trades: str                  # what a larger (or other) value buys and costs: docs and --help
    low: float | None = None
    high: float | None = None
    low_open: bool = False       # ``low`` itself refused
    high_open: bool = False
    choices: tuple = ()          # the accepted values (str, or int for a fixed set of numbers)
    none_words: tuple = ()       # strings meaning None: the default chosen at run time ("auto", "none")
    fold_case: bool = False      # choices compared case-insensitively (returned as declared)
    why: str = ""                # why the range: appended to the error
    per_k: tuple = ()            # ((largest k or None for the rest, default), ...) where the default depends on k
    grid: tuple = ()             # tuning values, roughly fastest first ("" grid: not tuned)
    tuning_bounds: tuple | None = None  # (lowest, highest or None): how far tuning may widen the grid
    default_text: str = ""       # the docs' words for a default chosen at run time ("the index scale")

    def default_for(self, k: int | None = None):
        """The default, the one for ``k`` where it depends on k."""
        if k is not None:
            for largest, value in self.per_k:
                if largest is None or k <= largest:
                    return value
        return self.default

    def takes(self) -> str:
        """What the parameter accepts, in words (the middle of the error message and the docs' tables)."""
        if self.kind is bool:
            text = "true or false"
        elif self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        else:
            lo = None if self.low is None else f"{self.low:g}"
            hi = None if self.high is None else f"{self.high:g}"
            if self.kind is int and lo is not None and hi is not None and not (self.low_open or self.high_open):
                text = f"in {lo}..{hi}"
            else:
                noun = "a whole number" if self.kind is int else "a number"
                if lo is not None and hi is not None:
                    text = f"{noun} in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
                elif lo is not None:
                    text = f"{noun} {'>' if self.low_open else '>='} {lo}"
                elif hi is not None:
                    text = f"{noun} {'<' if self.high_open else '<='} {hi}"
                else:
                    text = "a whole number" if self.kind is int else "a finite number"
        if self.none_words:
            text += f" or {self.none_words[0]}"
        return text

    def refuse(self, value, what: str):
        why = f" ({self.why})" if self.why else ""
        return LilsrError(f"{what} parameter {self.name} must be {self.takes()}{why}, not {value!r}")

    def parse(self, value, what: str):
        """``value`` (a Python value, or the string of ``-p name=value``) checked and converted; ``what``
        names the engine and stage in the message ("native search")."""
        if value is None or (isinstance(value, str) and value.strip().lower() in self.none_words):
            if self.none_words or self.default is None:
                return None
            raise self.refuse(value, what)
        if self.kind is bool:
            return self._parse_bool(value, what)
        if self.kind is str:
            return self._parse_choice(value, what)
        number = self._parse_number(value, what)
        if self.choices:
            if number not in self.choices:
                raise self.refuse(value, what)
            return number
        below = self.low is not None and (number < self.low or (self.low_open and number == self.low))
        above = self.high is not None and (number > self.high or (self.high_open and number == self.high))
        if below or above:
            raise self.refuse(value, what)
        return number

    def _parse_bool(self, value, what: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise self.refuse(value, what)

    def _parse_choice(self, value, what: str) -> str:
        if not isinstance(value, str):
            raise self.refuse(value, what)
        if not self.choices:
            return value
        for choice in self.choices:
            if value == choice or (self.fold_case and value.lower() == str(choice).lower()):
                return choice
        raise self.refuse(value, what)

    def _parse_number(self, value, what: str):
        """int: an integer, an integral float or their string, never 1.5 or a bool; float: a finite number."""
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, bool) or not isinstance(text, (str, numbers.Real)):
            raise self.refuse(value, what)
        try:
            number = float(text)
        except (TypeError, ValueError, OverflowError):
            raise self.refuse(value, what) from None
        if not math.isfinite(number):
            raise self.refuse(value, what)
        if self.kind is int:
            if isinstance(text, numbers.Integral):
                return int(text)
            if number != int(number):
                raise self.refuse(value, what)
            return int(number)
        return number


@dataclass(frozen=True)
class EngineParams:
    """An engine's declared parameters: those its searches take and those its builds take."""

    engine: str
    search: tuple[Param, ...] = ()
    build: tuple[Param, ...] = ()

    def declared(self, stage: str) -> tuple[Param, ...]:
        if stage not in ("search", "build"):
            raise ValueError(f"stage is 'search' or 'build', not {stage!r}")
        return getattr(self, stage)

    def names(self, stage: str) -> tuple[str, ...]:
        return tuple(p.name for p in self.declared(stage))

    def param(self, stage: str, name: str) -> Param:
        for p in self.declared(stage):
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self, stage: str, k: int | None = None) -> dict:
        """Every parameter's default (the one for ``k`` where it depends on k)."""
        return {p.name: p.default_for(k) for p in self.declared(stage)}

    def parse(self, stage: str, params: Mapping, k: int | None = None, fill: bool = True) -> dict:
        """The one validator: unknown names refused, each value checked and converted; with ``fill`` the
        defaults (for ``k``) of the parameters not given are added."""
        declared = self.declared(stage)
        what = f"{self.engine} {stage}"
        check_known_params(params, [p.name for p in declared], what)
        given = {p.name: p.parse(params[p.name], what) for p in declared if p.name in params}
        return {**self.defaults(stage, k), **given} if fill else given

    def tuning_grid(self) -> tuple[dict, ...]:
        """Every combination of the search parameters' tuning values, in declaration order (the first
        parameter varies slowest)."""
        tuned = [p for p in self.search if p.grid]
        if not tuned:
            return ()
        names = [p.name for p in tuned]
        return tuple(dict(zip(names, values)) for values in itertools.product(*(p.grid for p in tuned)))

    def tuning_bounds(self) -> dict[str, tuple]:
        return {p.name: p.tuning_bounds for p in self.search if p.tuning_bounds is not None}
