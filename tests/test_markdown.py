"""One sanitiser for organisers' Markdown (engage.markdown): a petition page and an email body
differ only in images and nofollow."""

from engage.markdown import render_markdown

TEXT = "Keep it **public**. [Read more](https://example.org/a) ![A rally](https://example.org/rally.jpg)\n\n<script>alert(1)</script> [x](javascript:alert(1)) <iframe src=https://evil.test></iframe>"


def test_a_petition_page_shows_no_images_and_marks_links_nofollow():
    html = render_markdown(TEXT)
    assert "<strong>public</strong>" in html
    assert '<a href="https://example.org/a" rel="noopener noreferrer nofollow">Read more</a>' in html
    assert "<img" not in html


def test_an_email_body_may_show_images_and_its_links_are_not_nofollow():
    html = render_markdown(TEXT, for_email=True)
    assert '<img alt="A rally" src="https://example.org/rally.jpg">' in html
    assert '<a href="https://example.org/a" rel="noopener noreferrer">Read more</a>' in html


def test_both_drop_scripts_frames_and_javascript_links():
    for html in (render_markdown(TEXT), render_markdown(TEXT, for_email=True)):
        assert "<script" not in html and "<iframe" not in html and "javascript:" not in html
