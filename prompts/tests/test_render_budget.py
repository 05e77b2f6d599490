"""Rendering budgets: one budget per unit of work (a render call, a request, a cell), shared by every
template parsed or rendered under it, however many messages, versions or goldens that is."""

from __future__ import annotations

import time

import pytest

from prompts.templating import (
    CHAT,
    FSTRING,
    JINJA2,
    TEXT,
    TemplateError,
    render,
    render_budget,
    validate_template,
)
from prompts.tests.heavy_templates import busy_messages, busy_template, slow_to_parse, steps_per_second


def render_chat(messages, **kwargs):
    return render(kind=CHAT, template_format=JINJA2, template=None, messages=messages, variables={}, **kwargs)


def render_text(template, *, template_format=JINJA2, variables=None):
    return render(
        kind=TEXT, template_format=template_format, template=template, messages=None, variables=variables or {}
    ).text


def test_one_render_has_one_budget_for_all_its_messages():
    # Each message alone takes a tenth of the budget; all 100 would take 10 budgets.
    messages = busy_messages(100, seconds_each=0.1)

    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render_chat(messages, max_render_seconds=1.0)
    elapsed = time.monotonic() - started

    assert caught.value.code == "render_budget_exceeded"
    assert caught.value.message == "templates took longer than the rendering budget of 1 s for this prompt"
    assert caught.value.param.startswith("messages[") and caught.value.param != "messages[99].content"
    assert elapsed < 1.5


def test_renders_inside_one_budget_share_it():
    steps = int(steps_per_second() * 0.3)
    done = 0
    started = time.monotonic()
    with render_budget(seconds=1.0, scope="this request") as budget, pytest.raises(TemplateError) as caught:
        for _ in range(10):  # each render alone is far below its own limit of 2 s
            render_text(busy_template(steps))
            done += 1
    elapsed = time.monotonic() - started

    assert caught.value.code == "render_budget_exceeded"
    assert caught.value.message == "templates took longer than the rendering budget of 1 s for this request"
    assert 1 <= done < 10
    assert 1.0 <= budget.spent < 1.5 and elapsed < 1.5


def test_a_spent_budget_refuses_any_template_at_once():
    with render_budget(seconds=0.2, scope="this request"):
        with pytest.raises(TemplateError):
            render_text(busy_template(int(steps_per_second() * 5)))
        started = time.monotonic()
        with pytest.raises(TemplateError) as caught:
            render_text("Hello {name}", template_format=FSTRING, variables={"name": "x"})
        assert caught.value.code == "render_budget_exceeded"
        with pytest.raises(TemplateError) as parsing:
            validate_template(kind=TEXT, template_format=JINJA2, template="{{ fresh }}", messages=None)
        assert parsing.value.code == "render_budget_exceeded"
        assert time.monotonic() - started < 0.1


def test_the_tighter_of_nested_budgets_stops_the_work_and_is_named():
    slow = busy_template(int(steps_per_second() * 5))
    with (
        render_budget(seconds=10, scope="this request"),
        render_budget(seconds=0.2, scope="this cell"),
        pytest.raises(TemplateError) as inner,
    ):
        render_text(slow)
    with (
        render_budget(seconds=0.2, scope="this request"),
        render_budget(seconds=10, scope="this cell"),
        pytest.raises(TemplateError) as outer,
    ):
        render_text(slow)

    assert inner.value.message.endswith("0.2 s for this cell")
    assert outer.value.message.endswith("0.2 s for this request")


def test_time_outside_template_work_is_not_charged():
    with render_budget(seconds=0.3, scope="this request") as budget:
        time.sleep(0.4)  # a slow query, a model call: not rendering
        assert render_text("Hi {{ name }}", variables={"name": "Ada"}) == "Hi Ada"
    assert 0 < budget.spent < 0.1


def test_parsing_is_template_work_and_counts():
    # Parsing one of these takes a noticeable time; 100 of them would take many budgets.
    messages = [{"role": "user", "content": slow_to_parse(20_000)} for _ in range(100)]

    started = time.monotonic()
    with render_budget(seconds=0.5, scope="this request"), pytest.raises(TemplateError) as caught:
        validate_template(kind=CHAT, template_format=JINJA2, template=None, messages=messages)

    assert caught.value.code == "render_budget_exceeded"
    assert caught.value.param.startswith("messages[") and caught.value.param != "messages[99].content"
    assert time.monotonic() - started < 1.5


def test_without_a_budget_parsing_is_unbounded_and_rendering_keeps_its_own_limit():
    assert validate_template(kind=TEXT, template_format=JINJA2, template=slow_to_parse(2_000), messages=None) == [
        "name"
    ]
    with pytest.raises(TemplateError) as caught:
        render(
            kind=TEXT,
            template_format=JINJA2,
            template=busy_template(int(steps_per_second() * 5)),
            messages=None,
            variables={},
            max_render_seconds=0.2,
        )
    assert caught.value.code == "render_budget_exceeded" and caught.value.param == "template"


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("{{ 'x' * 10**9 }}", "output_too_large"),
        ("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}", "output_too_large"),
        ("{{ range(10**6)|list }}", "output_too_large"),
        ("{{ ''.__class__ }}", "unsafe_template"),
    ],
)
def test_size_caps_and_the_sandbox_still_hold_inside_a_budget(template, code):
    with render_budget(seconds=5, scope="this request"), pytest.raises(TemplateError) as caught:
        render_text(template)
    assert caught.value.code == code
