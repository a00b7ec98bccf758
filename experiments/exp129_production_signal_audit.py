"""EXP-129: Production signal audit against the live book.

Checks that the signals we trade match the backtest.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp129_production_signal_audit")
