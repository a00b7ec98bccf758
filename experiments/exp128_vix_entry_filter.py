"""EXP-128: VIX entry filter.

Skip entries when VIX is above its 90th percentile. Deploy if validated;
this critical-sounding line is outside the summary, so it does not count.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp128_vix_entry_filter")
