"""Templates that keep the engine busy for a chosen time, for the rendering budget's tests.

Each template is new text (a unique comment), so the compile cache never makes a repeat cheap.
Work is calibrated on this machine at call time: a test asks for seconds, not loop counts.
"""

from __future__ import annotations

import time
import uuid

from prompts.templating import JINJA2, TEXT, render

_INNER = 10_000  # range() yields at most MAX_RANGE items: nest to go further


def busy_template(steps: int) -> str:
    """A jinja2 template that loops about ``steps`` times and prints nothing."""
    outer = max(steps // _INNER, 1)
    return (
        f"{{# {uuid.uuid4().hex} #}}"
        f"{{% for i in range({outer}) %}}{{% for j in range({_INNER}) %}}{{% endfor %}}{{% endfor %}}"
    )


def steps_per_second() -> float:
    """Loop steps the engine runs per second here, now (machines and their load differ)."""
    steps = 300_000
    started = time.perf_counter()
    render(
        kind=TEXT,
        template_format=JINJA2,
        template=busy_template(steps),
        messages=None,
        variables={},
        max_render_seconds=60,
    )
    return steps / (time.perf_counter() - started)


def busy_messages(count: int, *, seconds_each: float) -> list[dict]:
    """``count`` chat messages, each about ``seconds_each`` of rendering on its own."""
    steps = int(steps_per_second() * seconds_each)
    return [{"role": "user", "content": busy_template(steps)} for _ in range(count)]


def slow_to_parse(chars: int) -> str:
    """A jinja2 template of about ``chars`` characters whose parse, not its render, is the work."""
    return f"{{# {uuid.uuid4().hex} #}}" + "hi {{ name }}! " * (chars // 15)
