import pickle
import time

import pytest

from prompts.templating import (
    CHAT,
    FSTRING,
    JINJA2,
    MAX_TEMPLATE_CHARS,
    TEXT,
    RenderedPrompt,
    TemplateError,
    infer_variables,
    render,
    validate_template,
    validate_variables_schema,
)

SCHEMA = {
    "type": "object",
    "properties": {"input": {"type": "string"}, "n": {"type": "integer", "default": 3}},
    "required": ["input"],
}


def render_text(template, variables=None, *, template_format=JINJA2, **kwargs):
    return render(
        kind=TEXT,
        template_format=template_format,
        template=template,
        messages=None,
        variables={} if variables is None else variables,
        **kwargs,
    ).text


def render_error(template, variables=None, *, template_format=JINJA2, **kwargs):
    with pytest.raises(TemplateError) as caught:
        render_text(template, variables, template_format=template_format, **kwargs)
    return caught.value


def infer(template, template_format=JINJA2):
    return infer_variables(kind=TEXT, template_format=template_format, template=template, messages=None)


# fstring


def test_fstring_seed_example_renders():
    text = render_text("Analyze the sentiment of this text: {input}", {"input": "I love it"}, template_format=FSTRING)
    assert text == "Analyze the sentiment of this text: I love it"


def test_fstring_doubled_braces_are_literal():
    text = render_text('Reply as {{"label": "{label}"}}', {"label": "positive"}, template_format=FSTRING)
    assert text == 'Reply as {"label": "positive"}'
    assert infer("{{not_a_variable}}", FSTRING) == []


def test_fstring_substituted_value_is_not_substituted_again():
    text = render_text("{a} {b}", {"a": "{b} {0.__class__}", "b": "B"}, template_format=FSTRING)
    assert text == "{b} {0.__class__} B"


@pytest.mark.parametrize("placeholder", ["{0.__class__}", "{x.y}", "{x[0]}", "{x!r}", "{x:>99999999}", "{}", "{ x }"])
def test_fstring_non_plain_placeholders_are_rejected(placeholder):
    template = f"Hello {placeholder}"
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=FSTRING, template=template, messages=None)
    assert caught.value.code == "invalid_template"
    assert caught.value.param == "template"
    assert placeholder in caught.value.message
    error = render_error(template, {"x": [1]}, template_format=FSTRING)
    assert error.code == "invalid_template"
    assert "<class" not in error.message


@pytest.mark.parametrize("template", ["open { brace", "close } brace", "{x"])
def test_fstring_unpaired_brace_is_rejected(template):
    assert render_error(template, {"x": 1}, template_format=FSTRING).code == "invalid_template"


def test_fstring_non_string_values():
    text = render_text(
        "{n} {f} {flag} {none} {obj} {items}",
        {"n": 3, "f": 0.5, "flag": True, "none": None, "obj": {"k": "é"}, "items": [1, "a"]},
        template_format=FSTRING,
    )
    assert text == '3 0.5 True None {"k": "é"} [1, "a"]'


def test_fstring_variables_in_order_of_first_appearance():
    assert infer("{b} and {a}, again {b} and {c_1}", FSTRING) == ["b", "a", "c_1"]


# jinja2


def test_jinja_conditionals_and_loops():
    template = (
        "{% if urgent %}URGENT: {% endif %}"
        "{% for item in items %}{{ loop.index }}. {{ item.name|upper }}{% if not loop.last %}; {% endif %}{% endfor %}"
    )
    variables = {"urgent": True, "items": [{"name": "a"}, {"name": "b"}]}
    assert render_text(template, variables) == "URGENT: 1. A; 2. B"
    assert render_text(template, {**variables, "urgent": False}) == "1. A; 2. B"


def test_jinja_values_are_passed_natively():
    text = render_text("{{ n + 1 }} {{ data.k }} {{ data|tojson }}", {"n": 2, "data": {"k": "é<"}})
    assert text == '3 é< {"k": "é<"}'


def test_jinja_keeps_trailing_newline():
    assert render_text("{{ x }}\n", {"x": "a"}) == "a\n"


def test_jinja_variables_exclude_loop_and_set_names():
    template = (
        "{{ question }}{% for example in examples %}{{ example.q }}{{ loop.index }}{{ suffix }}{% endfor %}"
        "{% set local = 1 %}{{ local }}{{ range(2)|list }}{{ question }}"
    )
    assert infer(template) == ["question", "examples", "suffix"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ x['__class__'] }}",
    ],
)
def test_jinja_private_attributes_are_rejected_at_parse_time(template):
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=JINJA2, template=template, messages=None)
    assert caught.value.code == "unsafe_template"
    assert caught.value.param == "template"


@pytest.mark.parametrize(
    "template",
    [
        "{{ x[name] }}",
        "{{ x|attr(name) }}",
        "{{ '{0.__class__}'.format(x) }}",
        "{{ x.ljust(10**9) }}",
        "{{ (1).to_bytes(10**9, 'big') }}",
        "{{ items.append(1) }}",
    ],
)
def test_jinja_unsafe_runtime_access_is_refused(template):
    error = render_error(template, {"x": "text", "name": "__class__", "items": []})
    assert error.code == "unsafe_template"
    assert "<class" not in error.message


def test_jinja_huge_range_loop_stops_quickly():
    started = time.monotonic()
    error = render_error("{% for i in range(10**9) %}x{% endfor %}")
    assert error.code == "output_too_large"
    assert time.monotonic() - started < 1


def test_jinja_range_limit_is_configurable():
    assert render_text("{{ range(5)|list|length }}", max_range=5) == "5"
    assert render_error("{{ range(6)|list }}", max_range=5).code == "output_too_large"


def test_jinja_huge_output_stops_at_the_limit():
    template = "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"
    assert render_error(template).code == "output_too_large"
    assert render_error("{{ x }}", {"x": "y" * 11}, max_output_chars=10).code == "output_too_large"


def test_jinja_endless_work_times_out():
    started = time.monotonic()
    error = render_error(
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", max_render_seconds=0.2
    )
    assert error.code == "render_budget_exceeded"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [1] * 10**9 }}",
        "{{ 10 ** 1000000000 }}",
        "{{ '%999999999s' % 'x' }}",
        "{{ '%999999999s'|format('x') }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ 'a\nb'|indent(1000000000) }}",
        "{{ range(10000)|join('x' * 100) }}",
        "{{ ('x' * 1000)|replace('x', 'y' * 1000) }}",
        "{% set a = range(1000)|list %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b] %}",
        "{% macro grow(s, n) %}{{ grow(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ grow('x', 64) }}",
        "{% macro m() %}{% for i in range(10000) %}{% for j in range(100) %}x{% endfor %}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
    ],
)
def test_jinja_oversized_values_are_refused_before_they_are_built(template):
    started = time.monotonic()
    assert render_error(template).code == "output_too_large"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "template",
    ["{% include 'other.txt' %}", "{% import 'macros' as m %}", "{{ x|pprint }}", "{% if %}", "{{ lipsum(5) | nope }}"],
)
def test_jinja_unsupported_or_broken_templates(template):
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=JINJA2, template=template, messages=None)
    assert caught.value.code == "invalid_template"
    assert caught.value.message.startswith("line 1:")


def test_jinja_deep_nesting_is_an_invalid_template():
    template = "{% for i in range(2) %}" * 100 + "x" + "{% endfor %}" * 100
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=JINJA2, template=template, messages=None)
    assert caught.value.code == "invalid_template"


def test_jinja_read_only_methods_and_bounded_filters_still_work():
    template = (
        "{{ x.upper() }} {% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %} {{ '%.1f'|format(f) }} "
        "{{ items|join(', ') }} {{ 'a b'|replace(' ', '_') }} {{ items|sum }} {{ ('ab' * 2) ~ '!' }}"
    )
    variables = {"x": "hi", "d": {"a": 1}, "f": 0.25, "items": [1, 2]}
    assert render_text(template, variables) == "HI a=1 0.2 1, 2 a_b 3 abab!"


def test_jinja_runtime_failure_is_a_template_error():
    error = render_error("{{ n / 0 }}", {"n": 1})
    assert error.code == "invalid_template"
    assert error.param == "template"


def test_jinja_undefined_attribute_is_reported():
    error = render_error("{{ user.nmae }}", {"user": {"name": "a"}})
    assert error.code == "missing_variable"
    assert "nmae" in error.message


# limits


@pytest.mark.parametrize("template_format", [FSTRING, JINJA2])
def test_one_megabyte_template_is_too_large(template_format):
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=template_format, template="x" * 1_000_000, messages=None)
    assert caught.value.code == "template_too_large"
    assert str(MAX_TEMPLATE_CHARS) in caught.value.message


def test_template_limit_is_configurable():
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=FSTRING, template="x" * 11, messages=None, max_template_chars=10)
    assert caught.value.code == "template_too_large"


@pytest.mark.parametrize(("template_format", "pattern"), [(FSTRING, "{{v{}}}"), (JINJA2, "{{{{v{}}}}}")])
def test_ten_thousand_variables_are_too_many(template_format, pattern):
    template = "".join(pattern.format(index) for index in range(10_000))
    assert len(template) <= MAX_TEMPLATE_CHARS
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=TEXT, template_format=template_format, template=template, messages=None)
    assert caught.value.code == "too_many_variables"


def test_too_many_messages():
    messages = [{"role": "user", "content": "hi"}] * 101
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=CHAT, template_format=FSTRING, template=None, messages=messages)
    assert caught.value.code == "invalid_messages"


# variables and schema


def test_missing_variable_names_it():
    error = render_error("Analyze {input}", {"other": 1}, template_format=FSTRING)
    assert error.code == "missing_variable"
    assert error.param == "variables.input"
    assert error.message == "variable 'input' is required"


def test_extra_variables_are_ignored():
    assert render_text("{a}", {"a": "A", "unused": {"x": 1}}, template_format=FSTRING) == "A"


def test_schema_required_variable_is_enforced_even_if_unused():
    error = render_error("static", {}, template_format=FSTRING, variables_schema=SCHEMA)
    assert (error.code, error.param) == ("missing_variable", "variables.input")


def test_schema_defaults_are_applied():
    assert render_text("{input} x{n}", {"input": "a"}, template_format=FSTRING, variables_schema=SCHEMA) == "a x3"
    assert render_text("{{ n * 2 }}", {"input": "a", "n": 5}, variables_schema=SCHEMA) == "10"


def test_schema_type_mismatch_names_the_variable():
    error = render_error("{input} {n}", {"input": "a", "n": "three"}, template_format=FSTRING, variables_schema=SCHEMA)
    assert error.code == "invalid_variable"
    assert error.param == "variables.n"
    assert "'n'" in error.message and "integer" in error.message


def test_non_json_values_are_rejected():
    error = render_error("{{ x }}", {"x": [object()]})
    assert (error.code, error.param) == ("invalid_variable", "variables.x")


def test_validate_variables_schema_accepts_object_schemas():
    validate_variables_schema(None)
    validate_variables_schema(SCHEMA)
    local_ref = {"type": "object", "$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}}}
    validate_variables_schema(local_ref)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        {"properties": {}},
        {"type": "object", "properties": {"n": {"type": "bogus"}}},
        {"type": "object", "properties": {"a": {"$ref": "https://example.com/schema.json"}}},
        ["not", "a", "schema"],
    ],
)
def test_validate_variables_schema_rejects_bad_schemas(schema):
    with pytest.raises(TemplateError) as caught:
        validate_variables_schema(schema)
    assert caught.value.code == "invalid_schema"


def test_render_rejects_bad_schema():
    error = render_error("{a}", {"a": 1}, template_format=FSTRING, variables_schema={"type": "array"})
    assert error.code == "invalid_schema"


# chat


MESSAGES = [
    {"role": "system", "content": "You are {persona}."},
    {"role": "user", "content": "Classify: {input}"},
    {"role": "assistant", "content": "Sure, {persona} here."},
]


def test_chat_messages_render_each_content_and_keep_roles():
    rendered = render(
        kind=CHAT,
        template_format=FSTRING,
        template=None,
        messages=MESSAGES,
        variables={"persona": "a critic", "input": "{persona}"},
    )
    assert rendered.text is None
    assert rendered.messages == [
        {"role": "system", "content": "You are a critic."},
        {"role": "user", "content": "Classify: {persona}"},
        {"role": "assistant", "content": "Sure, a critic here."},
    ]
    assert rendered.as_text() == "system: You are a critic.\nuser: Classify: {persona}\nassistant: Sure, a critic here."


def test_chat_variables_in_order_across_messages():
    assert infer_variables(kind=CHAT, template_format=FSTRING, template=None, messages=MESSAGES) == ["persona", "input"]


def test_chat_jinja_messages():
    messages = [{"role": "user", "content": "{% for q in qs %}{{ q }}?{% endfor %}"}]
    rendered = render(kind=CHAT, template_format=JINJA2, template="", messages=messages, variables={"qs": ["a", "b"]})
    assert rendered.messages == [{"role": "user", "content": "a?b?"}]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}], "messages[1].role"),
        ([{"role": "user", "content": 42}], "messages[0].content"),
        ([{"role": "user", "content": "hi", "name": "x"}], "messages[0]"),
        (["hi"], "messages[0]"),
        ([], "messages"),
        (None, "messages"),
    ],
)
def test_chat_invalid_messages(messages, param):
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=CHAT, template_format=FSTRING, template=None, messages=messages)
    assert (caught.value.code, caught.value.param) == ("invalid_messages", param)


def test_chat_template_error_points_at_the_message():
    messages = [{"role": "system", "content": "ok"}, {"role": "user", "content": "{x.y}"}]
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=CHAT, template_format=FSTRING, template=None, messages=messages)
    assert (caught.value.code, caught.value.param) == ("invalid_template", "messages[1].content")


def test_chat_output_limit_covers_all_messages():
    messages = [{"role": "user", "content": "{a}"}, {"role": "assistant", "content": "{a}"}]
    with pytest.raises(TemplateError) as caught:
        render(
            kind=CHAT,
            template_format=FSTRING,
            template=None,
            messages=messages,
            variables={"a": "x" * 6},
            max_output_chars=10,
        )
    assert (caught.value.code, caught.value.param) == ("output_too_large", "messages[1].content")


# API details


@pytest.mark.parametrize(
    ("kind", "template_format", "param"), [("html", FSTRING, "kind"), (TEXT, "mustache", "template_format")]
)
def test_unknown_kind_or_format(kind, template_format, param):
    with pytest.raises(TemplateError) as caught:
        validate_template(kind=kind, template_format=template_format, template="x", messages=None)
    assert caught.value.param == param


def test_text_prompt_as_text():
    assert RenderedPrompt(text="hello").as_text() == "hello"


def test_template_error_is_a_value_error_and_pickles():
    error = TemplateError("variable 'x' is required", code="missing_variable", param="variables.x")
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 -- round-trips our own object
    assert isinstance(restored, ValueError)
    assert (restored.message, restored.code, restored.param) == (error.message, error.code, error.param)
