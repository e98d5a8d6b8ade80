"""Unit conversions, in one place: every module that turns kW into MW or grams into tonnes imports them from here.

The quarter itself (2,190 h, 4 per year) lives in models/quarters.py with the quarter arithmetic.
"""

from models.quarters import HOURS_PER_QUARTER, QUARTERS_PER_YEAR

HOURS_PER_YEAR = QUARTERS_PER_YEAR * HOURS_PER_QUARTER  # 8,760 h
SECONDS_PER_HOUR = 3600.0
GRAMS_PER_TONNE = 1e6
KW_PER_MW = 1000.0
KWH_PER_MWH = 1000.0
W_PER_KW = 1000.0
USD_PER_MILLION_USD = 1e6
FLOPS_PER_TFLOPS = 1e12
TFLOPS_PER_PFLOPS = 1000.0
BYTES_PER_GB = 1e9  # decimal GB, as vendors print HBM capacity
BYTES_PER_TB = 1e12  # decimal TB, as vendors print HBM bandwidth (TB/s)
GB_PER_TB = 1000.0
