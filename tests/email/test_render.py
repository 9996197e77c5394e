"""Rendering an email step: the sandbox, the layout and components, CSS inlining, the text
part, and the editor's check of a step's sources."""

from __future__ import annotations

import pytest

from app.email.render import (
    VARIABLES,
    TemplateRefused,
    check_templates,
    render_email,
    sample_variables,
)

LAYOUT_STEP = {
    "subject": "{{ customer.first_name }}, you left   something\nbehind",
    "preheader": "Your {{ checkout.items|length }} items are waiting",
    "html": """{% extends "layout.html" %}{% import "_components.html" as c %}
{% block content %}<h1>Still thinking, {{ customer.first_name }}?</h1>
{{ c.product_list(checkout.items, checkout.currency) }}
{{ c.button(checkout.recovery_url, "Return to your cart") }}
{{ c.discount_box(discount) }}{% endblock %}""",
    "text": None,
}

# Each of these reaches Python's internals: the editor refuses it, and so does rendering.
ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format(customer) }}",
    '{{ "a".format_map }}',
    "{{ ''.mro }}",
    "{{ [customer]|map(attribute='__class__')|list }}",
    "{{ customer['__class__'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ 'x'.upper.__self__ }}",
]
# The same, with the name built at render time: only the sandbox can see it.
DYNAMIC_ESCAPES = [
    "{% set n = '__cla' ~ 'ss__' %}{{ ''[n] }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ customer[n] }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ [customer]|map(attribute=n)|list }}",
    "{% set n = 'form' ~ 'at' %}{{ ''[n] }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ ''|attr(n) }}",
]


def test_a_step_on_the_layout_renders_subject_preheader_html_and_text():
    # given a step that extends the layout and uses the components
    # when it is rendered with the sample variables
    rendered = render_email(LAYOUT_STEP, sample_variables())

    # then the subject is one line, the preheader rendered
    assert rendered.subject == "Maya, you left something behind"
    assert rendered.preheader == "Your 2 items are waiting"
    # the HTML has the items, the button, the code, the footer's unsubscribe link ...
    html = rendered.html
    assert "Linen shirt" in html and "Sand / M" in html and "18.50 EUR" in html
    assert 'href="https://harbour-goods.example.com/checkouts/c/abc123"' in html
    assert "COMEBACK-7K2Q" in html
    assert 'href="https://sticky.example.com/unsubscribe/sample"' in html
    assert "because you agreed to hear from Harbour Goods" in html
    # ... with the CSS inlined (the media query stays in the head) and the preheader hidden
    assert 'class="button"' in html and "background-color: #1a5c4b" in html
    assert "@media only screen" in html
    assert "Your 2 items are waiting" in html.split("<table", 1)[0]
    # and the text part is derived from the HTML: words and links, no preheader, no tags
    text = rendered.text
    assert "Return to your cart (https://harbour-goods.example.com/checkouts/c/abc123)" in text
    assert "Unsubscribe (https://sticky.example.com/unsubscribe/sample)" in text
    assert "Your 2 items are waiting" not in text
    assert "<td" not in text and "<a " not in text and "style" not in text


def test_the_html_is_escaped_and_the_subject_and_text_are_not():
    variables = {**sample_variables(), "customer": {"first_name": "<b>Tom & Jerry</b>"}}
    step = {"subject": "Hi {{ customer.first_name }}", "html": "<p>{{ customer.first_name }}</p>"
            "{{ unsubscribe_url }}", "text": "Hi {{ customer.first_name }}"}

    rendered = render_email(step, variables)

    assert rendered.subject == "Hi <b>Tom & Jerry</b>"
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in rendered.html
    assert rendered.text == "Hi <b>Tom & Jerry</b>"


def test_a_value_starting_with_an_underscore_is_only_data():
    step = {"subject": "{{ checkout.items|selectattr('title', 'equalto', '_x')|list|length }}"
                       "{{ ['a', 'b']|join('_') }}", "html": "x"}
    assert check_templates(step) == {}
    assert render_email(step, sample_variables()).subject == "0a_b"


def test_missing_values_are_empty_never_an_error():
    step = {"subject": "Hi {{ customer.first_name or 'there' }}{{ customer.nothing.deeper }}",
            "html": "{{ order.items[0].title }}{% for i in checkout.items %}{{ i }}{% endfor %}"
                    "{{ unsubscribe_url }}"}

    rendered = render_email(step, {"customer": {}, "order": None, "checkout": None})

    assert rendered.subject == "Hi there"


def test_a_variable_named_items_is_the_key_not_the_dict_method():
    step = {"subject": "{{ checkout.items|length }} items", "html": "{{ unsubscribe_url }}"}
    assert render_email(step, sample_variables()).subject == "2 items"


@pytest.mark.parametrize("source", ESCAPES)
def test_the_editor_refuses_python_internals_with_the_line(source):
    # given a source reaching Python internals on its second line
    step = {"subject": "Hello", "html": "<p>Hi</p>\n" + source + "{{ unsubscribe_url }}"}

    # when it is checked
    errors = check_templates(step)

    # then the HTML is refused, in words, with the line number
    assert list(errors) == ["html"]
    assert errors["html"].startswith("line 2: templates cannot ")
    assert "reach '" in errors["html"] or "'attr' filter" in errors["html"]


@pytest.mark.parametrize("source", ESCAPES + DYNAMIC_ESCAPES)
def test_the_sandbox_refuses_python_internals_at_render_time(source):
    # given a source the editor never saw (saved before a check, or built at render time)
    step = {"subject": "Hello", "html": source + "{{ unsubscribe_url }}"}

    # when it is rendered, then it is refused with a message, never rendered
    with pytest.raises(TemplateRefused) as refused:
        render_email(step, sample_variables())
    assert refused.value.errors["html"].startswith("line 1: templates cannot reach '")


@pytest.mark.parametrize("source", DYNAMIC_ESCAPES)
def test_the_editor_refuses_names_built_at_render_time_by_its_trial_render(source):
    errors = check_templates({"subject": source, "html": "{{ unsubscribe_url }}"})
    assert errors["subject"].startswith("line 1: templates cannot ")


def test_the_message_names_what_was_refused_innermost_first():
    errors = check_templates({"subject": "{{ ''.__class__.__mro__ }}", "html": "x"})
    assert errors["subject"].startswith("line 1: templates cannot reach '__class__'; ")


def test_the_message_names_what_was_refused():
    errors = check_templates({"subject": "{{ ''.__class__ }}", "html": "{{ unsubscribe_url }}"})
    assert errors == {"subject": "line 1: templates cannot reach '__class__'"}


def test_the_immutable_sandbox_refuses_changing_the_variables():
    step = {"subject": "{% set x = [] %}{{ x.append(1) }}", "html": "{{ unsubscribe_url }}"}
    with pytest.raises(TemplateRefused, match="subject: line 1: templates cannot reach 'append'"):
        render_email(step, sample_variables())


def test_huge_strings_and_ranges_are_refused():
    assert "that large" in check_templates(
        {"subject": "{{ 'a' * 100000000 }}", "html": "{{ unsubscribe_url }}"})["subject"]
    assert "Range too big" in check_templates(
        {"subject": "{{ range(10**8)|list|length }}", "html": "{{ unsubscribe_url }}"})["subject"]


def test_nested_loops_over_ranges_are_stopped_quickly():
    import time

    source = ("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
              "{% endfor %}{% endfor %}{% endfor %}")
    started = time.monotonic()
    errors = check_templates({"subject": "Hi", "html": source})
    assert "templates cannot do this much work" in errors["html"]
    assert time.monotonic() - started < 5
    # a normal loop is fine
    assert check_templates({"subject": "{% for n in range(11) %}{{ n }}{% endfor %}",
                            "html": "x"}) == {}


def test_syntax_errors_and_missing_templates_are_said_with_the_line():
    errors = check_templates({"subject": "Hi", "html": "<p>\n{{ customer.first_name }\n"})
    assert errors["html"].startswith("line 2: ")

    errors = check_templates({"subject": "Hi", "html": '{% extends "nosuch.html" %}'})
    assert errors["html"] == ("line 1: there is no template 'nosuch.html' to extend, import "
                              'or include (there are "layout.html" and "_components.html")')


def test_the_loader_sees_templates_email_only():
    errors = check_templates({"subject": "Hi", "html": "{% include '../panel/base.html' %}"
                                                       "{{ unsubscribe_url }}"})
    assert "there is no template '../panel/base.html'" in errors["html"]


def test_subject_and_html_are_required():
    assert check_templates({"subject": " ", "html": None}) == {
        "subject": "is required", "html": "is required"}
    assert check_templates({"subject": "Hi", "html": "<p>Plain</p>"}) == {}


def test_a_runtime_error_becomes_a_message_with_its_line():
    errors = check_templates({"subject": "Hi", "html": "{{ unsubscribe_url }}\n{{ 1 / 0 }}"})
    assert errors == {"html": "line 2: division by zero"}


def test_the_step_text_is_used_when_given():
    step = {**LAYOUT_STEP, "text": "Hi {{ customer.first_name }}: {{ checkout.recovery_url }}"}
    rendered = render_email(step, sample_variables())
    assert rendered.text == "Hi Maya: https://harbour-goods.example.com/checkouts/c/abc123"


def test_every_documented_top_level_variable_is_in_the_samples():
    samples = sample_variables()
    tops = {name.split(".")[0] for name in VARIABLES} - {"preheader", "subject"}
    assert tops <= set(samples)
    assert check_templates(LAYOUT_STEP) == {}
