"""EXP-133: Momentum lookback sweep.

Lookbacks of 20, 60, 120 and 250 days.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp133_momentum_lookback_sweep")
