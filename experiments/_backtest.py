"""Shared helper for the example experiments (files starting with _ are not experiments)."""
import json
import os
import random
import time


def run_backtest(name, steps=10, step_seconds=0.3):
    """Pretends to fetch data and backtest a strategy, printing progress and writing a result file."""
    attempt = os.environ.get("STAGED_ATTEMPT", "1")
    print(f"{name}: starting (attempt {attempt})", flush=True)
    rng = random.Random(name)
    pnl = 0.0
    for step in range(1, steps + 1):
        time.sleep(step_seconds)
        pnl += rng.uniform(-1.0, 1.5)
        print(f"PROGRESS {step}/{steps}  simulated P&L {pnl:+.2f}", flush=True)
    results_dir = os.environ.get("STAGED_RESULTS_DIR", os.path.join("results", name))
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "result.json"), "w") as out:
        json.dump({"experiment": name, "pnl": round(pnl, 2), "attempt": int(attempt)}, out)
    print(f"{name}: done, P&L {pnl:+.2f}", flush=True)
