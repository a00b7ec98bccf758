"""EXP-130: Deployment readiness check for the v3 strategy.

Runs the full validation suite before the release.
"""
from _backtest import run_backtest

if __name__ == "__main__":
    run_backtest("exp130_deployment_readiness_check")
