import copy

from django import forms
from django.core.exceptions import ValidationError
from django_countries import countries

from engage.normalise import EMAIL_MAX_LENGTH, email_normalise


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


class NormalisedEmailField(forms.EmailField):
    """An address in its one stored spelling (engage.normalise.email_normalise), so that the
    address check and the length limit apply to what will be stored, not to what was typed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return email_normalise(value)
        except ValueError as error:
            raise ValidationError(str(error), code="invalid_address") from None
