"""Expand panel SQL the way Grafana and the ClickHouse datasource plugin (v4.x) do, to test it on chdb.

No Grafana server runs here, so a panel's SQL can only be tested by turning it into the
exact text ClickHouse would receive and running that on chdb. This module reproduces the
three steps a panel query goes through, in their order:

1. the plugin's frontend ``applyConditionalAll`` (``src/data/CHDatasource.ts``):
   ``$__conditionalAll(condition, $var)`` becomes ``1=1`` when ``$var`` is "All" (or
   empty), and ``condition`` otherwise;
2. Grafana's template service: ``$var``, ``${var}`` and ``${var:format}``, with the
   plugin's default format (a multi-value variable becomes ``'a','b'``, a single value is
   pasted as it is) and Grafana's built-ins ``$__from``, ``$__to``, ``$__interval_ms``,
   ``$__range_s``;
3. the plugin's backend macros (``pkg/macros/macros.go``), found and parsed by
   grafana-plugin-sdk-go ``data/sqlutil/macros.go`` (arguments split on every comma,
   trimmed; a macro without parentheses still takes the *next* parenthesised group in the
   text as its arguments, see below).

It is stricter than Grafana in one way on purpose: whatever Grafana would pass through
unexpanded (an unknown ``$__macro``, an undefined ``$variable``) or silently mangle raises
:class:`MacroError`, so a panel can never reach ClickHouse with text it cannot run. The
mangling case is sqlutil's parser: for ``$__toTime AND x IN (1, 2)`` it takes
``AND x IN (1, 2)`` as the arguments of ``$__toTime`` and drops them; write
``($__toTime)`` instead. The expander refuses such SQL rather than reproduce the damage.

It is a test tool, not a way to run queries: values are pasted into SQL text exactly as
Grafana pastes them.

Example::

    >>> expand("SELECT count() FROM t WHERE $__timeFilter(ts) AND plane = $plane",
    ...        time_from=1700000000, time_to=1700000300, interval_seconds=10,
    ...        variables={"plane": "2"})
    'SELECT count() FROM t WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700000300) AND plane = 2'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence

ALL = "$__all"
"""The value Grafana stores for a variable whose "All" option is selected."""

VariableValue = str | Sequence[str]


class MacroError(ValueError):
    """Panel SQL that Grafana or the plugin would not turn into runnable ClickHouse SQL."""


# -- 1. frontend: $__conditionalAll -----------------------------------------------------------

_CONDITIONAL_ALL = "$__conditionalAll("
# The plugin finds the variable in the macro's second argument with this expression.
_CONDITIONAL_VAR = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")


def _macro_args(text: str, open_paren: int) -> list[str] | None:
    """Arguments of the call whose ``(`` is at ``open_paren``, split on top-level commas (untrimmed).

    Mirrors the plugin's ``getMacroArgs``: ``None`` when the parentheses never close.
    """
    args: list[str] = []
    depth = 0
    start = open_paren + 1
    for index in range(open_paren, len(text)):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 1:
            args.append(text[start:index])
            start = index + 1
        if depth == 0:
            args.append(text[start:index])
            return args
    return None


def _is_all(value: VariableValue) -> bool:
    """What the plugin tests: ``current.value.toString()`` is ``''`` or ``'$__all'``."""
    text = value if isinstance(value, str) else ",".join(value)
    return text in ("", ALL)


def _apply_conditional_all(sql: str, variables: Mapping[str, VariableValue]) -> str:
    index = sql.rfind(_CONDITIONAL_ALL)
    while index != -1:
        args = _macro_args(sql, index + len(_CONDITIONAL_ALL) - 1)
        if args is None or len(args) != 2:
            raise MacroError(
                f"$__conditionalAll at offset {index} needs exactly two arguments, (condition, $variable);"
                " the plugin leaves the whole query unexpanded otherwise"
            )
        condition, variable = args
        match = _CONDITIONAL_VAR.search(variable.strip())
        if match is None:
            raise MacroError(
                f"$__conditionalAll's second argument {variable.strip()!r} must be $name or ${{name}}"
                " (no :format), or the plugin never checks for All"
            )
        name = match.group(0)
        if name not in variables:
            raise MacroError(f"$__conditionalAll refers to ${name}, which has no value: define the variable")
        phrase = "1=1" if _is_all(variables[name]) else condition
        sql = sql.replace(f"{_CONDITIONAL_ALL}{condition},{variable})", phrase, 1)
        index = sql.rfind(_CONDITIONAL_ALL)
    return sql


# -- 2. Grafana's template service ------------------------------------------------------------

# Grafana's variable regex (public/app/features/variables/utils.ts, variableRegex).
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


def _quote_each(values: list[str], quote: str, escape: Callable[[str], str]) -> str:
    return ",".join(f"{quote}{escape(v)}{quote}" for v in values)


_FORMATS: dict[str, Callable[[list[str], bool], str]] = {
    # Grafana's formatRegistry entries used with SQL; `multi` tells a list from a single value.
    "csv": lambda values, multi: ",".join(values),
    "raw": lambda values, multi: ",".join(values),
    "pipe": lambda values, multi: "|".join(values),
    "singlequote": lambda values, multi: _quote_each(values, "'", lambda v: v.replace("'", "\\'")),
    "doublequote": lambda values, multi: _quote_each(values, '"', lambda v: v.replace('"', '\\"')),
    "sqlstring": lambda values, multi: _quote_each(values, "'", lambda v: v.replace("'", "''")),
}


def _plugin_default_format(values: list[str], multi: bool) -> str:
    """The plugin's ``format``: arrays become ``'a','b'`` (unescaped), a single value stays as is."""
    return "'" + "','".join(values) + "'" if multi else values[0]


def _format_variable(name: str, value: VariableValue, fmt: str | None) -> str:
    if _is_all(value):
        raise MacroError(
            f"${name} is All: Grafana would paste every option value, which a test cannot know;"
            f" wrap the condition in $__conditionalAll(..., ${name}) so All means no filter"
        )
    multi = not isinstance(value, str)
    values = [value] if isinstance(value, str) else list(value)
    if fmt is None:
        return _plugin_default_format(values, multi)
    formatter = _FORMATS.get(fmt)
    if formatter is None:
        raise MacroError(f"${{{name}:{fmt}}}: format {fmt!r} is not one of {sorted(_FORMATS)}")
    return formatter(values, multi)


def _apply_variables(sql: str, variables: Mapping[str, VariableValue], builtins: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if match.group(5):
            raise MacroError(f"{match.group(0)}: variable field paths are not supported")
        if name in builtins and fmt is None:
            return builtins[name]
        if name in variables:
            return _format_variable(name, variables[name], fmt)
        return match.group(0)  # Grafana leaves unknown names alone; checked after the macros

    return _VARIABLE.sub(replace, sql)


# -- 3. backend macros ------------------------------------------------------------------------


def _date(seconds: int) -> str:
    return "toDate('" + dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d") + "')"


def _rfc3339(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Range:
    """The query's time range and interval as the Go side holds them (ms precision)."""

    def __init__(self, time_from: float, time_to: float, interval_seconds: int) -> None:
        self.from_ms = int(round(time_from * 1000))
        self.to_ms = int(round(time_to * 1000))
        self.from_s = self.from_ms // 1000  # Go's time.Unix()
        self.to_s = self.to_ms // 1000
        self.interval_s = max(int(interval_seconds), 1)  # math.Max(query.Interval.Seconds(), 1)
        self.interval_ms = max(int(interval_seconds) * 1000, 1)


def _args(name: str, args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise MacroError(
            f"$__{name} expects {count} argument(s), got {len(args)} ({', '.join(args) or 'none'}):"
            " the plugin splits arguments on every comma, even inside parentheses"
        )
    return args


def _no_args(name: str, args: list[str] | None) -> None:
    if args is not None and args != [""]:  # `$__fromTime()` is fine: the plugin ignores the empty group
        raise MacroError(
            f"$__{name} takes no arguments, but the plugin's parser would take ({', '.join(args)}) as its"
            f" arguments and drop them: write ($__{name}) in parentheses, or avoid a '(' after it"
        )


_MacroFunc = Callable[[_Range, "list[str] | None"], str]


def _from_time(r: _Range, a: list[str] | None) -> str:
    _no_args("fromTime", a)
    return f"toDateTime({r.from_s})"


def _to_time(r: _Range, a: list[str] | None) -> str:
    _no_args("toTime", a)
    return f"toDateTime({r.to_s})"


def _from_time_ms(r: _Range, a: list[str] | None) -> str:
    _no_args("fromTime_ms", a)
    return f"fromUnixTimestamp64Milli({r.from_ms})"


def _to_time_ms(r: _Range, a: list[str] | None) -> str:
    _no_args("toTime_ms", a)
    return f"fromUnixTimestamp64Milli({r.to_ms})"


def _time_filter(r: _Range, a: list[str] | None) -> str:
    (col,) = _args("timeFilter", a or [], 1)
    return f"{col} >= toDateTime({r.from_s}) AND {col} <= toDateTime({r.to_s})"


def _time_filter_ms(r: _Range, a: list[str] | None) -> str:
    (col,) = _args("timeFilter_ms", a or [], 1)
    return f"{col} >= fromUnixTimestamp64Milli({r.from_ms}) AND {col} <= fromUnixTimestamp64Milli({r.to_ms})"


def _date_filter(r: _Range, a: list[str] | None) -> str:
    (col,) = _args("dateFilter", a or [], 1)
    return f"{col} >= {_date(r.from_s)} AND {col} <= {_date(r.to_s)}"


def _date_time_filter(r: _Range, a: list[str] | None) -> str:
    date_col, time_col = _args("dateTimeFilter", a or [], 2)
    return (
        f"({date_col} >= {_date(r.from_s)} AND {date_col} <= {_date(r.to_s)}) AND "
        f"({time_col} >= toDateTime({r.from_s}) AND {time_col} <= toDateTime({r.to_s}))"
    )


def _time_interval(r: _Range, a: list[str] | None) -> str:
    (col,) = _args("timeInterval", a or [], 1)
    return f"toStartOfInterval(toDateTime({col}), INTERVAL {r.interval_s} second)"


def _time_interval_ms(r: _Range, a: list[str] | None) -> str:
    (col,) = _args("timeInterval_ms", a or [], 1)
    return f"toStartOfInterval(toDateTime64({col}, 3), INTERVAL {r.interval_ms} millisecond)"


def _interval_s(r: _Range, a: list[str] | None) -> str:
    _no_args("interval_s", a)
    return str(r.interval_s)


def _time_from(r: _Range, a: list[str] | None) -> str:  # sqlutil default, not overridden by the plugin
    (col,) = _args("timeFrom", a or [], 1)
    return f"{col} >= '{_rfc3339(r.from_s)}'"


def _time_to(r: _Range, a: list[str] | None) -> str:  # sqlutil default, not overridden by the plugin
    (col,) = _args("timeTo", a or [], 1)
    return f"{col} <= '{_rfc3339(r.to_s)}'"


_MACROS: dict[str, _MacroFunc] = {
    "fromTime": _from_time,
    "toTime": _to_time,
    "fromTime_ms": _from_time_ms,
    "toTime_ms": _to_time_ms,
    "timeFilter": _time_filter,
    "timeFilter_ms": _time_filter_ms,
    "dateFilter": _date_filter,
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": _interval_s,
    "timeFrom": _time_from,
    "timeTo": _time_to,
}
MACROS: frozenset[str] = frozenset(_MACROS)
"""The backend macro names this module expands (``$__name``)."""

_UNSUPPORTED = {
    "timeGroup": "sqlutil's default $__timeGroup emits SQL Server's datepart(), which ClickHouse lacks",
    "table": "$__table depends on the query editor's table field; name the table in the SQL",
    "column": "$__column depends on the query editor's column field; name the column in the SQL",
}


def _macro_matches(sql: str, name: str) -> list[tuple[str, list[str] | None]]:
    """sqlutil ``getMacroMatches``: each occurrence's text and its raw argument list.

    After ``$__name`` the parser scans forward for parentheses: a ``)`` before any ``(``
    ends the macro at its name; otherwise the first ``(...)`` group, wherever it starts,
    becomes the arguments.
    """
    found: list[tuple[str, list[str] | None]] = []
    for match in re.finditer(r"\$__" + re.escape(name) + r"\b", sql, flags=re.ASCII):
        start = match.start()
        rest = sql[start:]
        depth = 0
        arg_start = 0
        end = 0
        for index, char in enumerate(rest):
            if depth == 0 and end > 0:
                break
            if char == "(":
                depth += 1
                if arg_start == 0:
                    arg_start = index + 1
            elif char == ")":
                if depth == 0:
                    end = 0
                    break
                depth -= 1
                end = index + 1
        if end == 0:
            found.append((match.group(0), None))
            continue
        text = rest[:end]
        args = [a.strip() for a in rest[arg_start : end - 1].split(",")]
        found.append((text, args))
    return found


def _apply_macros(sql: str, time_range: _Range) -> str:
    for name, macro in _MACROS.items():
        for text, args in _macro_matches(sql, name):
            longer = re.search(re.escape(text) + r"\w+", sql)
            if longer:
                # The plugin replaces every occurrence of the matched text (strings.Replace, -1),
                # so "$__toTime" also rewrites the start of "$__toTime_ms"; which one wins
                # depends on Go's random map order.
                raise MacroError(
                    f"{text} and {longer.group(0)} in one query: the plugin may rewrite the start of"
                    f" {longer.group(0)} as {text}, depending on Go's map order; use one of the two"
                )
            sql = sql.replace(text, macro(time_range, args))
    return sql


_LEFTOVER = re.compile(r"\$\{?(\w+)")


def _check_leftovers(sql: str) -> None:
    leftover = _LEFTOVER.search(sql)
    if leftover is None:
        return
    name = leftover.group(1)
    if name.startswith("__"):
        macro = name[2:]
        if macro in _UNSUPPORTED:
            raise MacroError(f"$__{macro} is not supported: {_UNSUPPORTED[macro]}")
        raise MacroError(
            f"unknown macro $__{macro}: the plugin would send it to ClickHouse unexpanded;"
            f" use one of {', '.join('$__' + m for m in sorted(MACROS))} or $__conditionalAll"
        )
    raise MacroError(f"${name} is not a defined template variable: pass its value in `variables`")


def expand(
    sql: str,
    *,
    time_from: float,
    time_to: float,
    interval_seconds: int,
    variables: Mapping[str, VariableValue] = {},
) -> str:
    """Return ``sql`` as ClickHouse would receive it from a Grafana panel.

    ``time_from``/``time_to`` are the dashboard's range in epoch seconds,
    ``interval_seconds`` the panel's ``$__interval``; ``variables`` maps template variable
    names to the selected value: a ``str`` for a single-value variable, a sequence of
    ``str`` for a multi-value one, :data:`ALL` for "All". Raises :class:`MacroError` for
    anything that would not expand cleanly.
    """
    if time_to < time_from:
        raise MacroError(f"time_to ({time_to}) is before time_from ({time_from})")
    time_range = _Range(time_from, time_to, interval_seconds)
    builtins = {
        "__from": str(time_range.from_ms),
        "__to": str(time_range.to_ms),
        "__interval_ms": str(time_range.interval_ms),
        "__range_s": str((time_range.to_ms - time_range.from_ms) // 1000),
    }
    sql = _apply_conditional_all(sql, variables)
    sql = _apply_variables(sql, variables, builtins)
    sql = _apply_macros(sql, time_range)
    _check_leftovers(sql)
    return sql
