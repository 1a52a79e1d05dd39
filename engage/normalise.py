"""Normalising what people type, so one person is one row and one postcode one spelling."""

import re
import unicodedata

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext
from django.utils.translation import gettext as _

# The UK's postcode shapes (outward code, then a digit and two letters); BFPO and GIR 0AA too.
_GB_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ][0-9][0-9A-HJKPS-UW]? ?[0-9][ABD-HJLNP-UW-Z]{2}"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9ABEHMNPRV-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2}"
    r"|BFPO ?[0-9]{1,4})$"
)
_URL_LIKE = re.compile(r"(https?:|www\.|://|\b[\w-]+\.(com|net|org|uk|io|ru|info|biz|xyz|co)\b)", re.I)
_FORMULA_START = ("=", "+", "-", "@")


# Supporter.email and OutboundEmail.to_email, and RFC 5321's limit for a path.
EMAIL_MAX_LENGTH = 254


def email_normalise(value: str) -> str:
    """The one spelling of an address that Muster stores, compares, hashes for suppression and
    matches to webhook events (docs/design.md, "One supporter per address"): NFC, trimmed,
    lower-cased (the local part too, as Muster always has), the domain's trailing dots
    removed and its labels in their Unicode form, so "ADA@Exa\u0301mple.org." and
    "ada@xn--exmple-qta.org" are the same person.

    Raises ValueError, with a message for the person, if the domain cannot be IDNA-encoded or
    the normalised address is longer than the column: the length is checked on the result, as
    lower-casing and NFC can make an address longer or shorter."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from JSON's \ud800 escapes) is no character and cannot be stored.
        raise ValueError(gettext("Remove the characters that are not letters, digits or punctuation.")) from None
    address = unicodedata.normalize("NFC", value).strip()
    local, at, domain = address.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain:
        raise ValueError(gettext("Enter an email address like name@example.com."))
    address = f"{_lower_nfc(local)}@{_domain_canonical(domain)}"
    if len(address) > EMAIL_MAX_LENGTH:
        raise ValueError(
            gettext("This address is too long: an email address can have at most %(limit)d characters.")
            % {"limit": EMAIL_MAX_LENGTH}
        )
    return address


def _lower_nfc(text: str) -> str:
    # Lower-casing can leave text that NFC composes anew, and composing can make a character
    # that lower-cases again: repeat until stable, so normalising twice changes nothing.
    for _attempt in range(4):
        lowered = unicodedata.normalize("NFC", text.lower())
        if lowered == text:
            break
        text = lowered
    return text


def _domain_canonical(domain: str) -> str:
    """The domain lower-cased, with every label in its Unicode form (U-label), unless IDNA 2003
    (which Django's mail sending uses) would encode that form to another domain.

    Unicode rather than ASCII punycode: it is what people typed and read (the "check your
    email" page, exports to partners), most stored rows already have it, and every sender
    encodes it when sending. Encoding through IDNA 2008 with UTS 46's mapping and decoding
    again gives one form for NFC, NFD, upper-case, full-width and punycode spellings."""
    lowered = _lower_nfc(domain)
    if lowered.isascii() and "xn--" not in lowered:
        # The rest of a plain domain's shape is the address validator's business; DNS's limits
        # are checked here, as IDNA checks them for the others.
        if len(lowered) > 253 or any(len(label) > 63 for label in lowered.split(".")):
            raise ValueError(gettext("The part after the @ is not a domain name that email can be sent to."))
        return lowered
    try:
        ascii_domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        unicode_domain = idna.decode(ascii_domain)
    except (idna.IDNAError, UnicodeError, ValueError):
        raise ValueError(gettext("The part after the @ is not a domain name that email can be sent to.")) from None
    try:
        sent_to = unicode_domain.encode("idna").decode("ascii")
    except UnicodeError:
        sent_to = None
    # Django encodes a Unicode domain with IDNA 2003 when sending, which turns "ß", "ς" and the
    # zero-width joiners into other letters ("straße.de" would go to strasse.de): such a domain
    # is kept in its ASCII form, which reaches the domain the person meant.
    return unicode_domain if sent_to == ascii_domain else ascii_domain


def normalise_email(value: str) -> str:
    """email_normalise's spelling, for looking up and hashing an address that did not come
    through a form (a webhook's recipient, an erasure): never raises. An address it refuses
    cannot be stored, so whatever this returns for one matches nothing."""
    try:
        return email_normalise(value)
    except ValueError:
        return _lower_nfc(unicodedata.normalize("NFC", value).strip())


_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def email_fold_aliases(address: str) -> str:
    """The mailbox behind a normalised address's aliases: any "+tag" dropped, and for Gmail the
    dots too ("a.da+petition@googlemail.com" -> "ada@gmail.com"). Not a merge of people (other
    providers give dots and plus signs meaning): a signal for reviewing held signatures."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), _GMAIL_DOMAINS[0]
    return f"{local}@{domain}"


def email_fold_aliases_pattern(folded: str) -> str:
    """A regular expression (the same in PostgreSQL and Python, so SQLite's too) matching every
    normalised address that email_fold_aliases folds to `folded`."""
    local, _, domain = folded.rpartition("@")
    if domain == _GMAIL_DOMAINS[0]:
        local_pattern = r"\.*".join(re.escape(char) for char in local)
        domain_pattern = "(" + "|".join(re.escape(name) for name in _GMAIL_DOMAINS) + ")"
    else:
        local_pattern, domain_pattern = re.escape(local), re.escape(domain)
    return f"^{local_pattern}(\\+[^@]*)?@{domain_pattern}$"


def email_valid_normalised(value: str) -> str:
    """The normalised address if it is one a form may accept, else ValidationError with the
    reason: the normaliser's refusal, or Django's address check on the normalised value."""
    try:
        address = email_normalise(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid") from None
    validate_no_control_characters(address)
    validate_email(address)
    return address


def normalise_postcode(value: str, country: str) -> str:
    """Upper case with one space before the inward code for GB; trimmed elsewhere."""
    compact = re.sub(r"\s+", "", value).upper()
    if country == "GB":
        if not compact:
            raise ValidationError("Enter your postcode.", code="required")
        if not _GB_POSTCODE.match(compact):
            raise ValidationError("Enter a valid UK postcode, like SW1A 1AA.", code="invalid")
        if compact.startswith("BFPO"):
            return f"BFPO {compact[4:]}"
        return f"{compact[:-3]} {compact[-3:]}"
    return re.sub(r"\s+", " ", value.strip().upper())


def postcode_area(postcode: str, country: str) -> str:
    """A UK postcode's area, the letters before the first digit: "S70 2AB" -> "S". Other
    countries' postcodes have no such area ("PARIS" is a whole postcode), so they keep none."""
    if country != "GB":
        return ""
    match = re.match(r"^[A-Z]+", postcode.strip().upper())
    return match.group(0) if match else ""


# Format characters that names need: zero-width (non-)joiners in Persian and Indic scripts.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}


# Characters a multi-line field (a textarea) may hold among the controls: browsers send CR LF.
_MULTILINE_CONTROLS = {"\t", "\n", "\r"}


def _is_noncharacter(char: str) -> bool:
    point = ord(char)
    return 0xFDD0 <= point <= 0xFDEF or (point & 0xFFFE) == 0xFFFE


def validate_text(value: str, *, multiline: bool = False) -> None:
    """Refuse what no text field can store or show: lone surrogates (JSON's "\\ud800" decodes
    to one, and the database cannot encode it), Unicode non-characters (U+FFFE, U+FFFF…), NUL
    and the other control characters, less tab and newlines in a multi-line field."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or _is_noncharacter(char):
            raise ValidationError(
                _("Remove the characters that are not text (a lone surrogate or a non-character)."),
                code="not_text",
            )
        if category == "Cc" and not (multiline and char in _MULTILINE_CONTROLS):
            raise ValidationError(_("Remove the invisible control characters."), code="control_characters")


def validate_multiline_text(value: str) -> None:
    validate_text(value, multiline=True)


# What Python's email package and mail clients treat as the end of a line.
_LINE_BREAKS = {"\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}


def validate_header_text(value: str) -> None:
    """For what goes in an email header (a sender's name, a subject, a list's name): a line break
    there makes every send fail (Django refuses the header), so it is refused when saved."""
    if any(char in _LINE_BREAKS for char in value):
        raise ValidationError(
            _("Put this on one line: an email header can't contain a line break."), code="line_break"
        )
    validate_text(value)


def validate_no_control_characters(value: str) -> None:
    """validate_text, and refuse the invisible format characters too (bidi overrides that
    disguise text), which no name, address or postcode needs."""
    validate_text(value)
    for char in value:
        if unicodedata.category(char) == "Cf" and char not in _ALLOWED_FORMAT:
            raise ValidationError(_("Remove the invisible control characters."), code="control_characters")


def validate_person_name(value: str) -> None:
    validate_no_control_characters(value)
    if _URL_LIKE.search(value):
        raise ValidationError("A name can't contain a web address.", code="url_in_name")
    if value.startswith(_FORMULA_START):
        raise ValidationError("A name can't start with = + - or @.", code="formula_start")


# The validators that already include validate_text (PublicForm adds it to every other text field).
TEXT_VALIDATORS = (validate_text, validate_multiline_text, validate_no_control_characters, validate_person_name)
