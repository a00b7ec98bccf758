"""EXP-127: Adaptive max hold days per volatility bucket.

Third member of the trinity. Deploy to production if the Sharpe ratio improves.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp127_adaptive_max_hold_days")
