import re

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from engage.fields import CountryField, NormalisedEmailField
from engage.models import Affiliate, MailingList, Signup
from engage.normalise import (
    TEXT_VALIDATORS,
    normalise_postcode,
    validate_multiline_text,
    validate_no_control_characters,
    validate_person_name,
    validate_text,
)
from engage.query_params import parse_whole_number

_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PERSON_FIELDS = ("email", "first_name", "last_name", "country", "postcode")


def clean_source(value: str | None) -> str:
    """A ?source= code as recorded: short and plain, or nothing."""
    value = (value or "").strip()
    return value if _SOURCE.match(value) else ""


class AttributionField(forms.Field):
    """A hidden ?source= or partner code: one that is not plain is dropped, never refused, since
    the person can neither see nor correct an error on it."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> str:
        return clean_source(value if isinstance(value, str) else "")


class ListChoiceField(forms.ModelMultipleChoiceField):
    """One unticked box per list, labelled with the exact wording the ledger will record."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: MailingList) -> str:
        return obj.opt_in_wording

    def _check_values(self, value):
        # Django passes each choice to the database as typed: a 60-digit number overflows
        # SQLite's integer (a 500), so only ids that can exist reach the query.
        for choice in value:
            if parse_whole_number(str(choice), minimum=1) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": choice}
                )
        return super()._check_values(value)


class PublicForm(forms.Form):
    """A form anyone may submit (or the API fills): every text field refuses what is not text
    (engage.normalise.validate_text), whatever else it checks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField) and not any(v in TEXT_VALIDATORS for v in field.validators):
                multiline = isinstance(field.widget, forms.Textarea)
                field.validators.append(validate_multiline_text if multiline else validate_text)


class PersonForm(PublicForm):
    """Name, address and place, checked as on the sign form."""

    first_name = forms.CharField(max_length=100, validators=[validate_person_name], label="First name")
    last_name = forms.CharField(max_length=100, validators=[validate_person_name], label="Last name")
    # A quoted local part ("a\x07b"@example.org) passes the address check with control characters in it.
    email = NormalisedEmailField(validators=[validate_no_control_characters], label="Email address")
    country = CountryField(initial="GB", label="Country")
    postcode = forms.CharField(max_length=16, required=False, validators=[validate_no_control_characters], label="Postcode")
    # A field people never see; bots fill it in. Its name looks worth filling.
    # Never refused, whatever is in it (its errors would be as hidden as the field): anything at
    # all holds the submission for review (caught_by_honeypot), and the value is never stored.
    website = forms.Field(required=False, widget=forms.TextInput, label="Leave this empty")
    source = AttributionField()

    postcode_required = True
    field_messages = {
        "first_name": {"required": "Enter your first name."},
        "last_name": {"required": "Enter your last name."},
        "email": {"required": "Enter your email address.", "invalid": "Enter an email address like name@example.com."},
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, messages in self.field_messages.items():
            if name in self.fields:
                self.fields[name].error_messages.update(messages)
        for name, attrs in (
            ("email", {"autocomplete": "email", "inputmode": "email"}),
            ("first_name", {"autocomplete": "given-name"}),
            ("last_name", {"autocomplete": "family-name"}),
            ("postcode", {"autocomplete": "postal-code"}),
            ("country", {"autocomplete": "country"}),
            ("website", {"tabindex": "-1", "autocomplete": "off"}),
        ):
            if name in self.fields:
                self.fields[name].widget.attrs.update(attrs)

    def clean_first_name(self):
        return self.cleaned_data["first_name"].strip()

    def clean_last_name(self):
        return self.cleaned_data["last_name"].strip()

    def clean_source(self):
        return clean_source(self.cleaned_data.get("source"))

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("country")
        postcode = cleaned.get("postcode")
        if country and postcode is not None and (postcode.strip() or self.postcode_required):
            try:
                cleaned["postcode"] = normalise_postcode(postcode, country)
            except forms.ValidationError as error:
                self.add_error("postcode", error)
        self._check_lengths_normalised(cleaned)
        return cleaned

    def _check_lengths_normalised(self, cleaned: dict) -> None:
        # Fields check their length as typed, but normalising can lengthen a value ("ß" upper-cases
        # to "SS", "İ" lower-cases to two characters): the column must hold what is stored.
        for name, field in self.fields.items():
            value = cleaned.get(name)
            limit = getattr(field, "max_length", None)
            if isinstance(value, str) and limit and len(value) > limit:
                self.add_error(name, forms.ValidationError(
                    _("Shorten this to %(limit)d characters or fewer."), code="max_length", params={"limit": limit}
                ))

    @property
    def caught_by_honeypot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    def person_fields(self) -> dict[str, str]:
        """The person's cleaned fields, as keyword arguments for the service that stores them
        (engage.services.supporters, signups; petitions.services.signing.petition_sign): email,
        first_name, last_name, country and postcode, less any field this form leaves out."""
        return {name: self.cleaned_data[name] for name in PERSON_FIELDS if name in self.fields}


class SubscribeForm(PersonForm):
    lists = ListChoiceField(
        queryset=MailingList.objects.none(),
        label="What would you like to receive?",
        error_messages={
            "required": "Choose at least one list.",
            "invalid_choice": "Choose from the lists shown.",
            "invalid_pk_value": "Choose from the lists shown.",
        },
    )
    postcode_required = False

    def __init__(self, *args, lists, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"].queryset = lists


class JoinForm(PersonForm):
    AS_INDIVIDUAL = "individual"
    AS_ORGANISATION = "organisation"
    NEEDED_FOR_ORGANISATION = ("organisation_name", "organisation_kind")

    joining_as = forms.ChoiceField(
        choices=[(AS_INDIVIDUAL, "Myself, as an individual"), (AS_ORGANISATION, "An organisation I represent")],
        widget=forms.RadioSelect,
        initial=AS_INDIVIDUAL,
        label="Who is joining?",
        error_messages={"required": "Choose who is joining.", "invalid_choice": "Choose who is joining."},
    )
    organisation_name = forms.CharField(max_length=200, required=False, validators=[validate_no_control_characters], label="Organisation name")
    organisation_kind = forms.ChoiceField(choices=[("", "Choose…"), *Affiliate.Kind.choices], required=False, label="Kind of organisation")
    organisation_website = forms.URLField(max_length=200, required=False, assume_scheme="https", label="Organisation's website")
    lists = ListChoiceField(
        queryset=MailingList.objects.none(),
        required=False,
        label="Email updates",
        error_messages={"invalid_choice": "Choose from the lists shown.", "invalid_pk_value": "Choose from the lists shown."},
    )
    opt_in = forms.BooleanField(required=False, initial=False)

    def __init__(self, *args, lists, opt_in_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"].queryset = lists
        self.fields["opt_in"].label = opt_in_label
        self.fields["email"].help_text = "If you're registering an organisation, its contact person's address."
        # Required only when registering an organisation (clean() below): labelled so, not "(optional)".
        for name in self.NEEDED_FOR_ORGANISATION:
            self.fields[name].condition_hint = gettext_lazy("(needed for an organisation)")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("joining_as") == self.AS_ORGANISATION:
            if not (cleaned.get("organisation_name") or "").strip():
                self.add_error("organisation_name", "Enter the organisation's name.")
            if not cleaned.get("organisation_kind"):
                self.add_error("organisation_kind", "Choose the kind of organisation.")
        return cleaned

    @property
    def kind(self) -> str:
        return Signup.Kind.AFFILIATE if self.cleaned_data["joining_as"] == self.AS_ORGANISATION else Signup.Kind.JOIN

    @property
    def affiliate(self) -> dict | None:
        if self.kind != Signup.Kind.AFFILIATE:
            return None
        data = self.cleaned_data
        return {"name": data["organisation_name"].strip(), "kind": data["organisation_kind"], "website": data["organisation_website"]}


class EmailOnlyForm(PublicForm):
    email = NormalisedEmailField(
        validators=[validate_no_control_characters], label="Email address",
        error_messages={"required": "Enter your email address.", "invalid": "Enter an email address like name@example.com."},
    )


class DetailsForm(PersonForm):
    """The preference page's corrections: the address itself is not changed here."""

    email = None
    website = None
    source = None


class EraseForm(PublicForm):
    understood = forms.BooleanField(
        label="I understand that this deletes everything held about me and cannot be undone.",
        error_messages={"required": "Tick the box to confirm."},
    )
