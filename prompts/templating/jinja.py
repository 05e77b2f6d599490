"""The ``jinja2`` template format: a sandbox bounded in time, output and memory.

On top of ``ImmutableSandboxedEnvironment`` (no ``_private`` attributes, no mutation of
lists/dicts, ``StrictUndefined``, autoescape off):

* Parse time: ``_``-prefixed attributes (``''.__class__``) are ``unsafe_template``;
  ``extends``/``include``/``import`` are ``invalid_template``; unknown filters fail.
* Every loop step and call checks the deadline of the open rendering budgets
  (``render_budget_exceeded``, see ``budget.py``).
* ``range()`` yields at most ``max_range`` items; output is streamed and counted; every
  value the template builds (``~``, ``+``, ``*``, ``**``, ``%``, list/dict literals,
  ``{% set %}``/macro bodies, size-controlling filters) is estimated *before* it is
  built and refused above ``max_output_chars`` (``output_too_large``).
* Methods of str/list/dict/number values are limited to read-only, non-amplifying
  ones (``upper``, ``split``, ``items``...); ``str.format`` is unavailable.
* Globals are only ``range``, ``cycler`` and ``joiner`` (no ``lipsum``, ``dict``,
  ``namespace``). Filters are the builtin ones whose output is proportional to their
  input, plus bounded ``center``, ``format``, ``indent``, ``join``, ``replace``,
  ``sum`` and ``tojson`` (plain JSON, not HTML-escaped, since prompts are not HTML).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer

from .budget import UNBOUNDED, Deadline
from .errors import (
    INVALID_TEMPLATE,
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    MISSING_VARIABLE,
    OUTPUT_TOO_LARGE,
    UNSAFE_TEMPLATE,
    TemplateError,
    clip,
)


@dataclass
class _RenderLimits:
    max_chars: int
    max_range: int
    deadline: Deadline

    def tick(self) -> None:
        self.deadline.check()


_ACTIVE: ContextVar[_RenderLimits | None] = ContextVar("prompt_render_limits", default=None)


def _limits() -> _RenderLimits:
    # Outside a render (jinja2 folds constant filter calls while compiling) use the defaults.
    return _ACTIVE.get() or _RenderLimits(MAX_OUTPUT_CHARS, MAX_RANGE, UNBOUNDED)


def _check_size(size: int, *, what: str) -> None:
    limit = _limits().max_chars
    if size > limit:
        raise TemplateError(f"{what} would exceed the limit of {limit} characters", code=OUTPUT_TOO_LARGE)


def _printed_size(value: object, *, limit: int, indent: int = 0) -> int:
    """Upper estimate of ``str(value)`` (or its JSON with ``indent``), stopping past ``limit``.

    Walks containers without building any text, so values that share one big element
    many times (``[x, x, x]``) are measured as big as they would print.
    """
    total = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending and total <= limit:
        item, depth = pending.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + (2 if depth else 0)  # quotes inside containers
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2  # decimal digits <= bits / 3.3
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Undefined):
            total += 9  # printing it raises the proper error later
        elif isinstance(item, (Mapping, Collection)):
            if len(item) > limit:  # every element prints at least one separator
                return limit + 1
            total += 2 + len(item) * (2 + indent * (depth + 1))
            children = item.items() if isinstance(item, Mapping) else item
            pending.extend((child, depth + 1) for child in children)
        else:
            total += len(str(item))
    return total


def _check_value(value: object, *, what: str, indent: int = 0) -> None:
    limit = _limits().max_chars
    _check_size(_printed_size(value, limit=limit, indent=indent), what=what)


# printf conversion specs: %[(key)][flags][width][.precision]
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d*))?")


def _check_printf(template: object) -> None:
    """Refuse printf widths/precisions that would pad a value past the output limit."""
    limit = _limits().max_chars
    for width, precision in _PRINTF_FIELD.findall(str(template)):
        for number in (width, precision):
            if number == "*" or (number and (len(number) > 9 or int(number) > limit)):
                raise TemplateError(
                    f"%-format width or precision {number!r} would exceed the limit of {limit} characters",
                    code=OUTPUT_TOO_LARGE,
                )


class _BoundedBuffer(list):
    """Output buffer of macros, ``{% set %}`` blocks and filter blocks."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._room = limit

    def append(self, item: str) -> None:
        # Empty strings still cost a slot, so the item count is bounded too.
        self._room -= max(len(item), 1)
        if self._room < 0:
            raise TemplateError("a block or macro output is too large", code=OUTPUT_TOO_LARGE)
        super().append(item)

    def extend(self, items: Iterable[str]) -> None:
        for item in items:
            self.append(item)


class _CodeGenerator(CodeGenerator):
    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")


class _Guard(NodeTransformer):
    """Routes loops, ``~`` and literals through the environment's bounded helpers."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _environment_call("guard_iter", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _environment_call("guard_concat", *node.nodes)

    def visit_List(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return _environment_call("guard_value", node)

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return _environment_call("guard_value", node) if node.ctx == "load" else node


def _environment_call(name: str, *args: nodes.Expr) -> nodes.Call:
    lineno = args[0].lineno if args else 1
    target = nodes.EnvironmentAttribute(name, lineno=lineno)
    return nodes.Call(target, list(args), [], None, None, lineno=lineno)


def _bounded_filters() -> dict[str, Callable[..., object]]:
    builtin = FILTERS

    def center(value: object, width: int = 80) -> str:
        if isinstance(width, int):
            _check_size(width, what="center()")
        return builtin["center"](value, width)

    def format_(value: object, *args: object, **kwargs: object) -> str:
        _check_printf(value)
        return builtin["format"](value, *args, **kwargs)

    def indent(value: object, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        text = str(value)
        pad = width if isinstance(width, int) else len(str(width))
        _check_size(len(text) + (text.count("\n") + 1) * max(pad, 0), what="indent()")
        return builtin["indent"](text, width, first, blank)

    @pass_eval_context
    def join(eval_ctx: EvalContext, value: Iterable[object], d: str = "", attribute: str | int | None = None) -> str:
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
        limit = _limits().max_chars
        size = len(str(d)) * max(len(items) - 1, 0)
        for item in items:
            if size > limit:
                break
            size += len(item) if isinstance(item, str) else _printed_size(item, limit=limit)
        _check_size(size, what="join()")
        return builtin["join"](eval_ctx, items, d)

    @pass_eval_context
    def replace(eval_ctx: EvalContext, value: object, old: str, new: str, count: int | None = None) -> str:
        text, old_text, new_text = str(value), str(old), str(new)
        hits = text.count(old_text) if old_text else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        _check_size(len(text) + hits * max(len(new_text) - len(old_text), 0), what="replace()")
        return builtin["replace"](eval_ctx, value, old, new, count)

    @pass_environment
    def sum_(
        environment: Environment, iterable: Iterable[object], attribute: str | int | None = None, start: object = 0
    ) -> object:
        # Summing lists is quadratic and can multiply shared elements; numbers only.
        if not isinstance(start, (int, float)):
            raise TemplateError("sum() start must be a number", code=INVALID_TEMPLATE)
        return builtin["sum"](environment, iterable, attribute=attribute, start=start)

    def tojson(value: object, indent: int | None = None) -> str:
        pad = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
        _check_value(value, what="tojson()", indent=max(pad, 0))
        return json.dumps(value, ensure_ascii=False, indent=indent)

    linear = {
        name: FILTERS[name]
        for name in (
            "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
            "filesizeformat", "first", "float", "forceescape", "groupby", "int", "items", "last",
            "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse",
            "round", "safe", "select", "selectattr", "sort", "string", "striptags", "title",
            "trim", "truncate", "unique", "upper", "wordcount",
        )
    }  # fmt: skip
    bounded = {
        "center": center,
        "format": format_,
        "indent": indent,
        "join": join,
        "replace": replace,
        "sum": sum_,
        "tojson": tojson,
    }
    return linear | bounded


# Methods that return something no bigger than their receiver and change nothing.
_SAFE_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "get", "index", "isalnum",
        "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle",
        "isupper", "items", "keys", "lower", "lstrip", "partition", "removeprefix",
        "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "swapcase", "title", "upper", "values",
    }
)  # fmt: skip
_DATA_TYPES = (str, bytes, int, float, list, tuple, dict, set, frozenset)


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        cycler, joiner = self.globals["cycler"], self.globals["joiner"]
        self.globals.clear()
        self.globals.update(range=self.bounded_range, cycler=cycler, joiner=joiner)
        self.filters = _bounded_filters()
        self.finalize = self._finalize

    def is_safe_attribute(self, obj: object, attr: str, value: object) -> bool:
        if isinstance(obj, _DATA_TYPES) and callable(value) and attr not in _SAFE_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: object) -> None:
        # str.format/format_map are not in _SAFE_METHODS; refuse them like any other method.
        return None

    def call(self, context: Context, obj: object, /, *args: object, **kwargs: object) -> object:
        _limits().tick()
        if isinstance(obj, LoopContext) and args:
            # loop(children) in a recursive for loop iterates outside the guarded iterable.
            args = (self.guard_iter(args[0]), *args[1:])
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                _check_size(abs(left).bit_length() * right // 3, what="'**' result")
        elif operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                _check_size((left.bit_length() + right.bit_length()) // 3, what="'*' result")
            elif isinstance(right, int) and not isinstance(left, float):
                self._check_repeat(left, right)
            elif isinstance(left, int) and not isinstance(right, float):
                self._check_repeat(right, left)
        elif operator == "+":
            if not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
                limit = _limits().max_chars
                size = _printed_size(left, limit=limit) + _printed_size(right, limit=limit)
                _check_size(size, what="'+' result")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)

    @staticmethod
    def _check_repeat(sequence: object, times: int) -> None:
        limit = _limits().max_chars
        _check_size(_printed_size(sequence, limit=limit) * max(times, 0), what="'*' result")

    def _finalize(self, value: object) -> object:
        if not isinstance(value, (str, Undefined)):
            _check_value(value, what="printed value")
        return value

    # Helpers reached from compiled templates (see _Guard and _CodeGenerator).

    def bounded_range(self, *args: int) -> range:
        limit = _limits().max_range
        numbers = range(*args)
        try:
            too_many = len(numbers) > limit
        except OverflowError:  # longer than sys.maxsize
            too_many = True
        if too_many:
            raise TemplateError(f"range() would yield more than {limit} items", code=OUTPUT_TOO_LARGE)
        return numbers

    def bounded_buffer(self) -> _BoundedBuffer:
        return _BoundedBuffer(_limits().max_chars)

    def guard_iter(self, iterable: Iterable[object]) -> Iterator[object]:
        check = _limits().deadline.check  # looked up once: this runs at every loop step
        for item in iterable:
            check()
            yield item

    def guard_concat(self, *parts: object) -> str:
        limit = _limits().max_chars
        size = 0
        for part in parts:
            size += _printed_size(part, limit=limit)
            _check_size(size, what="'~' result")
        return "".join(map(str, parts))

    def guard_value(self, value: object) -> object:
        _check_value(value, what="literal value")
        return value


_ENV = _PromptEnvironment()
_RESERVED_NAMES = frozenset(_ENV.globals)


@dataclass(frozen=True)
class CompiledTemplate:
    template: Template
    variables: tuple[str, ...]


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> CompiledTemplate:
    """Parse, check and compile ``source``; cached by source text."""
    try:
        tree = _ENV.parse(source)
        _reject_unsupported(tree)
        names = _in_source_order(source, meta.find_undeclared_variables(tree) - _RESERVED_NAMES)
        guarded = _Guard().visit(tree)
        guarded.set_environment(_ENV)
        template = _ENV.from_string(guarded)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {clip(exc.message or str(exc))}", code=INVALID_TEMPLATE) from None
    except (RecursionError, SyntaxError):
        # Deep nesting exhausts jinja2's recursive parser or Python's compiler.
        raise TemplateError("template is nested too deeply", code=INVALID_TEMPLATE) from None
    return CompiledTemplate(template=template, variables=names)


def variables(source: str) -> list[str]:
    return list(compile_template(source).variables)


def render(
    source: str,
    values: Mapping[str, object],
    *,
    max_output_chars: int,
    max_range: int,
    deadline: Deadline,
) -> str:
    template = compile_template(source).template
    limits = _RenderLimits(max_output_chars, max_range, deadline)
    token = _ACTIVE.set(limits)
    stream = template.generate(values)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in stream:
            size += len(chunk)
            if size > max_output_chars:
                raise TemplateError(
                    f"rendered prompt exceeds the limit of {max_output_chars} characters",
                    code=OUTPUT_TOO_LARGE,
                )
            chunks.append(chunk)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"unsafe template: {clip(str(exc))}", code=UNSAFE_TEMPLATE) from None
    except UndefinedError as exc:
        raise TemplateError(f"undefined value: {clip(str(exc))}", code=MISSING_VARIABLE) from None
    except RecursionError:
        raise TemplateError("template recursion is too deep", code=INVALID_TEMPLATE) from None
    except Exception as exc:  # any other runtime failure is the template's fault
        raise TemplateError(f"template failed to render: {clip(str(exc))}", code=INVALID_TEMPLATE) from None
    finally:
        stream.close()
        _ACTIVE.reset(token)
    return "".join(chunks)


def _reject_unsupported(tree: nodes.Template) -> None:
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise TemplateError(f"line {node.lineno}: extends, include and import are not supported", code=INVALID_TEMPLATE)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            raise TemplateError(
                f"line {node.lineno}: access to private attribute {clip(name, 80)!r} is not allowed",
                code=UNSAFE_TEMPLATE,
            )


def _in_source_order(source: str, names: set[str]) -> tuple[str, ...]:
    """Sort ``names`` by their first occurrence as a name token in ``source``."""
    ordered: dict[str, None] = {}
    for _, kind, value in _ENV.lex(source):
        if kind == "name" and value in names:
            ordered.setdefault(value)
    return tuple(ordered) + tuple(sorted(names - ordered.keys()))
