"""``lilsr index`` options made from an engine's declared build parameters (``engines/param_specs.py``): the
option's name, type, range (with its reason), choices and default come from the ``Param``, so a parameter is
declared once for ``-p``, the index commands, the docs' tables and the tuning grids."""

from __future__ import annotations

import click

from .. import options


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def click_type(param):
    """The click type that checks what the ``Param`` takes (refused in one ``lilsr: error:`` line)."""
    if param.choices:
        return click.Choice([str(choice) for choice in param.choices], case_sensitive=not param.fold_case)
    if param.kind in (int, float) and (param.low is not None or param.high is not None):
        kind = options.IntRange if param.kind is int else options.FloatRange
        return kind(min=param.low, max=param.high, min_open=param.low_open, max_open=param.high_open,
                    why=param.why)
    if param.kind is float:
        return options.FloatRange(why=param.why)  # finite: FloatRange refuses NaN and infinities
    return param.kind


def spec_option(spec, name: str, flag: str | None = None, **overrides):
    """A click option for the build parameter ``name`` of ``spec`` (``flag``: an option name other than
    ``--name``); ``overrides`` (a shared click type, help...) replace what the spec gives."""
    param = spec.param("build", name)
    flag = flag or option_name(name)
    kwargs = {"default": param.default, "show_default": param.default is not None, "help": param.trades}
    if param.kind is bool:
        decls = [f"{flag}/--no-{flag[2:]}"]
    else:
        decls = [flag]
        kwargs["type"] = click_type(param)
        if param.choices and param.kind is not str:
            kwargs["default"] = str(param.default)
    kwargs.update(overrides)
    return click.option(*decls, name, **kwargs)
