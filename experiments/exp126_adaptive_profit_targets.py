"""EXP-126: Adaptive profit targets from the volatility regime.

Second member of the trinity. Deploy if validated.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp126_adaptive_profit_targets")
