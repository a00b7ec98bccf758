"""EXP-132: Risk management: drawdown caps per sector.

Caps each sector's drawdown at 8%.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp132_drawdown_caps")
