"""EXP-140: Learning-rate sweep of the momentum model.

Four members, one per learning rate and seed: exp140_lr_sweep[lr=1e-3,seed=1] and so on.

Sweep: lr=1e-3,3e-4; seed=1..2
Args: --lr {lr} --seed {seed}
"""
import argparse
import os

from _backtest import run_backtest

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    print(f"lr={args.lr} seed={args.seed} (STAGED_PARAM_LR={os.environ.get('STAGED_PARAM_LR')})", flush=True)
    run_backtest(os.environ.get("STAGED_EXPERIMENT", "exp140_lr_sweep"))
