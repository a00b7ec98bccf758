"""EXP-125: Adaptive stop-loss sized by recent volatility.

Part of the adaptive risk management trinity. Replaces the fixed 2% stop with
one scaled by 20-day ATR across 54 stocks and 730 days.

Deploy if validated.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp125_adaptive_stop_loss")
