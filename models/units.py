"""Unit conversions, in one place: every module that turns kW into MW or grams into tonnes imports them from here.

The quarter itself (2,190 h, 4 per year) lives in models/quarters.py with the quarter arithmetic.
"""

from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR

HOURS_PER_YEAR = QUARTERS_PER_YEAR * HOURS_PER_QUARTER  # 8,760 h
GRAMS_PER_TONNE = 1e6
KW_PER_MW = 1000.0
