"""Text from the inputs never becomes a formula: the one rule every sheet and CSV writer applies.

Workload, site and SKU names come from many hands; a name such as `=HYPERLINK(...)` or `=cmd|' /C calc'!A0`
must reach a spreadsheet as the text it is. OWASP's rule for CSV ("CSV Injection"): a field that begins with
`=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a single quote, which spreadsheet programs read
as "text follows". The workbook writer (reports/workbook.py `put`) applies the same test and stores such a cell
as a string with Excel's quote-prefix style, which is what Excel itself stores when a user types the quote.
Numbers are never touched: they are values, not text.
"""

from __future__ import annotations

import pandas as pd

# https://owasp.org/www-community/attacks/CSV_Injection
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
TEXT_QUOTE = "'"


def looks_like_formula(text: str) -> bool:
    """True when a spreadsheet program could read `text` as the start of a formula."""
    return text.startswith(FORMULA_LEADS)


def neutral_text(value):
    """A field for a text export (CSV): formula-like strings get the leading quote; anything else unchanged."""
    if isinstance(value, str) and looks_like_formula(value):
        return TEXT_QUOTE + value
    return value


def neutral_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`neutral_text` on every text cell of a table (numeric columns are left as they are, vectorised)."""
    frame = frame.copy()
    frame.columns = [neutral_text(str(name)) for name in frame.columns]
    for column in frame.columns[[dtype == object or isinstance(dtype, pd.StringDtype) for dtype in frame.dtypes]]:
        frame[column] = frame[column].map(neutral_text)
    return frame
