"""EXP-131: Trinity portfolio rebalance frequency.

Weekly versus monthly rebalancing of the combined trinity book.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp131_trinity_portfolio_rebalance")
