"""EXP-134: Sector rotation baseline.

Priority: low
A reference run; nothing depends on it.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp134_sector_rotation_baseline")
