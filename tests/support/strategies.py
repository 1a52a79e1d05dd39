"""hypothesis strategies for what people (and bots) type into public forms: any Unicode text,
lone surrogates and combining marks included, and the spellings that once caused a 500."""

from urllib.parse import urlencode

from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

# Each of these once answered 500 somewhere, or sits on a boundary (a length, a case mapping).
AWKWARD = [
    "", " ", "ß" * 16, "İ" * 130, "²", "١٠", "\x00", "\ud800", "\udfff", "a\udc80b", "\ufffe", "\uffff",
    "e\u0301", "\u202e", "\u200d", "a" * 300, "PARIS", "S70 2AB", "BFPO 1", "=1+1", "http://x.com",
    "İ@example.org", "ada@example.org\n", "\r\n", "null", "[]", "{}", "🇬🇧", "ﬃ", "Ǆ",
]

# Every code point, surrogates included (hypothesis leaves them out unless told).
any_character = st.characters(exclude_categories=())
combining = st.characters(categories=["Mn", "Mc", "Me"])
arbitrary_text = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(any_character, max_size=40),
    st.text(st.one_of(combining, st.characters(categories=["L"])), max_size=20),
    st.text(any_character, min_size=90, max_size=300),
)


@st.composite
def some_fields_arbitrary(draw, valid: dict, names=None):
    """`valid` with up to three of its fields (or of `names`) replaced by arbitrary text."""
    data = dict(valid)
    for name in draw(st.sets(st.sampled_from(sorted(names or valid)), max_size=3)):
        data[name] = draw(arbitrary_text)
    return data


def unique_email(number: int) -> str:
    return f"person{number}@example.org"


emails = st.integers(min_value=0, max_value=10**12).map(unique_email)


def form_body(data: dict) -> bytes:
    """An x-www-form-urlencoded body; a lone surrogate becomes the invalid UTF-8 a client may send."""
    return urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass").encode("ascii")


# A public page re-rendered with its errors costs ~60 ms (the country select alone is 250
# options): the HTML views run the profile's full count too (1,000 under CI=true), as the forms,
# services and JSON APIs do, at a cost of a few minutes of CI.
PAGE_EXAMPLES = hypothesis_settings.default.max_examples
page_examples = hypothesis_settings(max_examples=PAGE_EXAMPLES)
