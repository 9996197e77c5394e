"""The text part derived from an email's HTML."""

from __future__ import annotations

from app.email.text import html_to_text


def test_paragraphs_links_lists_and_tables_become_plain_text():
    html = """<!doctype html><html><head><title>T</title><style>p{color:red}</style></head>
<body><!--preheader--><div style="display:none">Hidden preview&#8199;&#65279;</div><!--/preheader-->
<h1>Order #1042 &amp; more</h1>
<p>Hi   Maya,<br>thanks for   your order.</p>
<table><tr><td><img src="x.jpg" alt="Shirt"></td><td>Linen shirt</td><td>49.00 EUR</td></tr></table>
<ul><li>One</li><li>Two</li></ul>
<p><a href="https://shop.example/cart?a=1&amp;b=2">Return to your cart</a>
<a href="https://shop.example/">https://shop.example/</a> <a href="#top">top</a>
<a href="https://shop.example/img"><img src="y.jpg"></a></p>
<!-- a comment --><script>alert(1)</script></body></html>"""

    text = html_to_text(html)

    assert text == (
        "Order #1042 & more\n\n"
        "Hi Maya,\nthanks for your order.\n\n"
        "Linen shirt 49.00 EUR\n\n"
        "- One\n- Two\n\n"
        # (line breaks in the source are spaces, as a browser shows them)
        "Return to your cart (https://shop.example/cart?a=1&b=2) https://shop.example/ top "
        "https://shop.example/img\n")
    assert "Hidden preview" not in text and "alert" not in text and "color" not in text
