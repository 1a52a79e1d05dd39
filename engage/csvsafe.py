"""CSV cells that a spreadsheet will not run as formulas."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    # A leading apostrophe makes Excel, LibreOffice and Google Sheets treat the cell as text.
    return "'" + text if text.startswith(_FORMULA_START) else text
