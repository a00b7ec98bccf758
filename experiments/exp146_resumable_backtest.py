"""EXP-146: Resumable walk-forward backtest (checkpoints).

Walks 40 trading days, saving its position every 5 days in its checkpoint
directory; a later run (a retry, a requeue, a --rerun-failed) resumes there.
On the warning before its --timeout it saves and exits 85 to be started again:
  npm run submit -- --experiments exp146 --timeout 6s --signal-before 3s
See docs/checkpoints.md.
"""
import json
import os
import sys
import time

try:
    from staged_checkpoint import attempt, checkpoint_dir, requeue, watch_warning
except ImportError:  # run by hand, outside staged: the helper is in staged's python/ directory
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    from staged_checkpoint import attempt, checkpoint_dir, requeue, watch_warning

DAYS = 40
SAVE_EVERY = 5


def main():
    state_file = checkpoint_dir() / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"day": 0, "pnl": 0.0}
    warned = watch_warning()
    print(f"exp146: attempt {attempt()} resumes at day {state['day']}", flush=True)

    def save():
        partial = state_file.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        partial.replace(state_file)  # a run stopped mid-write never leaves half a checkpoint

    while state["day"] < DAYS:
        if warned.is_set():
            save()
            print(f"exp146: warned at day {state['day']}: saved, asking to be started again", flush=True)
            requeue()
        time.sleep(0.1)  # one day's work
        state["day"] += 1
        state["pnl"] = round(state["pnl"] + (0.4 if state["day"] % 3 else -0.5), 2)
        print(f"PROGRESS {state['day']}/{DAYS}", flush=True)
        if state["day"] % SAVE_EVERY == 0:
            save()

    results_dir = os.environ.get("STAGED_RESULTS_DIR", os.path.join("results", "exp146"))
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "result.json"), "w") as out:
        json.dump({"experiment": "exp146_resumable_backtest", "pnl": state["pnl"], "attempt": attempt()}, out)
    print(f"exp146: done, P&L {state['pnl']:+.2f}", flush=True)


if __name__ == "__main__":
    main()
