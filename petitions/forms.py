import re
from collections.abc import Sequence

from django import forms

from engage.fields import CountryField
from engage.normalise import normalise_email, normalise_postcode, validate_no_control_characters, validate_person_name

_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def clean_source(value: str | None) -> str:
    """A ?source= code as recorded: short and plain, or nothing."""
    value = (value or "").strip()
    return value if _SOURCE.match(value) else ""


class SignatureForm(forms.Form):
    first_name = forms.CharField(max_length=100, validators=[validate_person_name], label="First name")
    last_name = forms.CharField(max_length=100, validators=[validate_person_name], label="Last name")
    # A quoted local part ("a\x07b"@example.org) passes the address check with control characters in it.
    email = forms.EmailField(max_length=254, validators=[validate_no_control_characters], label="Email address")
    country = CountryField(initial="GB", label="Country")
    postcode = forms.CharField(
        max_length=16, required=False, validators=[validate_no_control_characters], label="Postcode"
    )
    opt_in = forms.BooleanField(required=False, initial=False)
    source = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
    # The coalition partner whose link or embed brought the signer (an organisation's slug).
    partner = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)
    # A field people never see; bots fill it in. Its name looks worth filling.
    website = forms.CharField(required=False, max_length=500, label="Leave this empty")

    field_messages = {
        "first_name": {"required": "Enter your first name."},
        "last_name": {"required": "Enter your last name."},
        "email": {"required": "Enter your email address.", "invalid": "Enter an email address like name@example.com."},
    }

    def __init__(self, *args, opt_in_label: str = "", cosponsorships: Sequence = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opt_in"].label = opt_in_label
        # One unticked box per active co-sponsor, each naming the organisation (UK GDPR: consent is
        # specific to each organisation that relies on it, and never pre-ticked).
        self.cosponsorships = list(cosponsorships)
        if self.cosponsorships:
            self.fields["partner_opt_in"] = forms.MultipleChoiceField(
                choices=[(c.organisation.slug, c.opt_in_wording) for c in self.cosponsorships],
                required=False,
                widget=forms.CheckboxSelectMultiple,
                error_messages={"invalid_choice": "“%(value)s” is not a co-sponsor of this petition."},
            )
        for name, messages in self.field_messages.items():
            self.fields[name].error_messages.update(messages)
        self.fields["email"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})
        self.fields["first_name"].widget.attrs.update({"autocomplete": "given-name"})
        self.fields["last_name"].widget.attrs.update({"autocomplete": "family-name"})
        self.fields["postcode"].widget.attrs.update({"autocomplete": "postal-code"})
        self.fields["country"].widget.attrs.update({"autocomplete": "country"})
        self.fields["website"].widget.attrs.update({"tabindex": "-1", "autocomplete": "off"})

    def clean_first_name(self):
        return self.cleaned_data["first_name"].strip()

    def clean_last_name(self):
        return self.cleaned_data["last_name"].strip()

    def clean_email(self):
        return normalise_email(self.cleaned_data["email"])

    def clean_source(self):
        return clean_source(self.cleaned_data.get("source"))

    def clean_partner(self):
        # Attribution only: a code that is not plain is dropped, like a bad ?source=.
        return clean_source(self.cleaned_data.get("partner"))

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("country")
        if country and "postcode" in cleaned:
            try:
                cleaned["postcode"] = normalise_postcode(cleaned["postcode"], country)
            except forms.ValidationError as error:
                self.add_error("postcode", error)
        return cleaned

    @property
    def cosponsor_opt_ins(self) -> list:
        """The co-sponsorships whose box was ticked."""
        ticked = set(self.cleaned_data.get("partner_opt_in") or ())
        return [c for c in self.cosponsorships if c.organisation.slug in ticked]

    @property
    def caught_by_honeypot(self) -> bool:
        return bool(self.cleaned_data.get("website"))
