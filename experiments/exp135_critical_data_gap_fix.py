"""EXP-135: Critical data gap fix for delisted tickers.

Re-runs the survivorship-bias check after the data fix.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp135_critical_data_gap_fix")
