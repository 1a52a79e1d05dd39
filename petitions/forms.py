from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from engage.forms import AttributionField, PersonForm, PublicForm, clean_source
from engage.normalise import validate_header_text
from petitions.models import PetitionUpdate
from petitions.services.updates import updates_wording


class SignatureForm(PersonForm):
    """The person's details (checked as on every engage form), the host's opt-in box, and one
    box per active co-sponsor."""

    opt_in = forms.BooleanField(required=False, initial=False)
    # "Email me updates about this petition": unticked, and recorded like the boxes above
    # (petitions.services.updates).
    updates_opt_in = forms.BooleanField(required=False, initial=False)
    # The coalition partner whose link or embed brought the signer (an organisation's slug).
    partner = AttributionField()

    def __init__(self, *args, opt_in_label: str = "", cosponsorships: Sequence = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opt_in"].label = opt_in_label
        self.fields["updates_opt_in"].label = updates_wording()
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

    def clean_partner(self):
        # Attribution only: a code that is not plain is dropped, like a bad ?source=.
        return clean_source(self.cleaned_data.get("partner"))

    @property
    def cosponsor_opt_ins(self) -> list:
        """The co-sponsorships whose box was ticked."""
        ticked = set(self.cleaned_data.get("partner_opt_in") or ())
        return [c for c in self.cosponsorships if c.organisation.slug in ticked]



class PetitionUpdateForm(PublicForm):
    """An organiser's update to a petition. Text is checked as on every public form (it is shown
    on a public page), the title as an email subject too, and merge fields are refused: the page
    shows the words as written, and an emailed copy must say the same."""

    kind = forms.ChoiceField(label=_("Kind"), choices=PetitionUpdate.Kind.choices, initial=PetitionUpdate.Kind.NEWS)
    title = forms.CharField(label=_("Title"), max_length=200, validators=[validate_header_text])
    body = forms.CharField(
        label=_("Update"),
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_("Markdown: **bold**, *italic*, [a link](https://…), lists. Scripts and unsafe HTML are removed."),
    )

    def _no_merge_fields(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        if any(mark in value for mark in ("{{", "}}", "{%", "%}")):
            raise forms.ValidationError(_("Remove the {{ }} and {% %}: an update is shown and emailed as written."))
        if not value:
            raise forms.ValidationError(_("This field is required."), code="required")
        return value

    def clean_title(self):
        return " ".join(self._no_merge_fields("title").split())

    def clean_body(self):
        return self._no_merge_fields("body")
