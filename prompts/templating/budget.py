"""Rendering budgets: seconds of template work shared by everything done under them.

Whoever serves one unit of work opens a budget around it with ``render_budget``: a web request
(``prompts.middleware``), an experiment cell, and every ``render()`` call for its own prompt.
Budgets nest, and template work (parsing and rendering) inside counts against every open one, so
the 100 messages of a chat, or the versions x goldens an experiment checks, share one budget
instead of getting one each. Work stops at the tightest deadline: jinja2 checks it at every loop
step and call, and ``render()`` between templates.

Only time spent on templates is charged; a slow database query in the same request does not eat
into the budget. One template's parse cannot be interrupted, so the overshoot is at most the
parse of one template (``MAX_TEMPLATE_CHARS`` bounds it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from .errors import RENDER_BUDGET_EXCEEDED, TemplateError


class RenderBudget:
    """``seconds`` of template work for ``scope`` (named in the error: "this request", ...)."""

    def __init__(self, seconds: float, scope: str) -> None:
        self.seconds = seconds
        self.scope = scope
        self.spent = 0.0

    @property
    def remaining(self) -> float:
        return self.seconds - self.spent

    def exceeded(self) -> TemplateError:
        return TemplateError(
            f"templates took longer than the rendering budget of {self.seconds:g} s for {self.scope}",
            code=RENDER_BUDGET_EXCEEDED,
        )


@dataclass(frozen=True)
class Deadline:
    """When the current stretch of template work must stop (a ``time.monotonic()`` value)."""

    at: float
    budget: RenderBudget | None  # the budget that sets it; None when no budget is open

    def check(self) -> None:
        if time.monotonic() > self.at and self.budget is not None:
            raise self.budget.exceeded()


UNBOUNDED = Deadline(math.inf, None)

_OPEN: ContextVar[tuple[RenderBudget, ...]] = ContextVar("render_budgets", default=())
_WORK: ContextVar[Deadline | None] = ContextVar("render_work", default=None)


@contextmanager
def render_budget(*, seconds: float, scope: str) -> Iterator[RenderBudget]:
    """Within the block, template work counts against ``seconds`` (and against any outer budget)."""
    budget = RenderBudget(seconds, scope)
    token = _OPEN.set((*_OPEN.get(), budget))
    try:
        yield budget
    finally:
        _OPEN.reset(token)


@contextmanager
def template_work() -> Iterator[Deadline]:
    """A stretch of template work: refused at once when a budget is spent, and its elapsed time
    charged to every open budget when it ends. Nested stretches belong to the outer one."""
    current = _WORK.get()
    if current is not None:
        yield current
        return
    budgets = _OPEN.get()
    if not budgets:
        yield UNBOUNDED
        return
    tightest = min(budgets, key=lambda budget: budget.remaining)  # the outermost one on a tie
    if tightest.remaining <= 0:
        raise tightest.exceeded()
    started = time.monotonic()
    deadline = Deadline(started + tightest.remaining, tightest)
    token = _WORK.set(deadline)
    try:
        yield deadline
    finally:
        _WORK.reset(token)
        elapsed = time.monotonic() - started
        for budget in budgets:
            budget.spent += elapsed
