from django import forms
from django_countries import countries


class CountryField(forms.TypedChoiceField):
    """A country select whose ~250 choices are shared between form instances.

    Django deep-copies every field's choices each time a form is built; on the sign POST,
    the hottest path in Muster, that copy cost more CPU than the rest of the form. The list
    is never changed after start-up, so sharing it is safe.
    """

    def __init__(self, **kwargs):
        super().__init__(choices=list(countries), **kwargs)

    def __deepcopy__(self, memo):
        result = forms.Field.__deepcopy__(self, memo)
        result._choices = self._choices
        return result
