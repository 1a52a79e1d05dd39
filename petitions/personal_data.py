"""petitions' part of a person's data (engage.personal_data): their signatures are in their
export (petitions.selectors.signatures_of), anonymised when they are erased
(petitions.services.erasure), and a reason to keep them (petitions.selectors.signers_among)."""

from engage import personal_data
from petitions.selectors import signatures_of, signers_among
from petitions.services.erasure import signatures_anonymise


def register() -> None:
    personal_data.source_register(
        name="petitions", export=signatures_of, erase=signatures_anonymise, holds=signers_among
    )
