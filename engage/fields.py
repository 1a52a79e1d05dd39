import copy

from django import forms
from django_countries import countries


class CountryField(forms.TypedChoiceField):
    """A country select whose ~250 choices are shared between form instances.

    Django deep-copies every field's choices each time a form is built, and the sign POST,
    Muster's hottest path, builds one per request. The list is never changed after start-up,
    so sharing it is safe.
    """

    def __init__(self, **kwargs):
        super().__init__(choices=list(countries), **kwargs)

    def __deepcopy__(self, memo):
        # What Field.__deepcopy__ does, less the copy (and re-normalising) of the choices that
        # the select widget's own __deepcopy__ would make.
        result = copy.copy(self)
        memo[id(self)] = result
        result.widget = copy.copy(self.widget)
        result.widget.attrs = self.widget.attrs.copy()
        result.error_messages = self.error_messages.copy()
        result.validators = self.validators[:]
        return result
