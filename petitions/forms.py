from collections.abc import Sequence

from django import forms

from engage.forms import AttributionField, PersonForm, clean_source


class SignatureForm(PersonForm):
    """The person's details (checked as on every engage form), the host's opt-in box, and one
    box per active co-sponsor."""

    opt_in = forms.BooleanField(required=False, initial=False)
    # The coalition partner whose link or embed brought the signer (an organisation's slug).
    partner = AttributionField()

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

    def clean_partner(self):
        # Attribution only: a code that is not plain is dropped, like a bad ?source=.
        return clean_source(self.cleaned_data.get("partner"))

    @property
    def cosponsor_opt_ins(self) -> list:
        """The co-sponsorships whose box was ticked."""
        ticked = set(self.cleaned_data.get("partner_opt_in") or ())
        return [c for c in self.cosponsorships if c.organisation.slug in ticked]

