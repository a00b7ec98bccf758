"""Staged's checkpoint helpers for experiment scripts: where to save, which run this is, the warning before the
--timeout, and how to ask to be started again. Importable in every run (staged puts it on PYTHONPATH); outside
staged the functions still work (a local directory, run 1, no warning). Standard library only; Python 3.8 or newer.

    from staged_checkpoint import checkpoint_dir, requeue, watch_warning

    state = checkpoint_dir() / "state.json"        # the same directory for every run of the experiment
    warned = watch_warning()                       # set when --signal-before's signal arrives
    ...
    if warned.is_set():
        save(state)
        requeue()                                  # exit 85: started again, using no retry
"""

import os
import pathlib
import signal
import sys
import threading

__all__ = ["REQUEUE_EXIT_CODE", "attempt", "checkpoint_dir", "requeue", "watch_warning"]

# "Checkpointed, start me again": staged runs the experiment again without using a retry (--max-requeues).
REQUEUE_EXIT_CODE = 85
CHECKPOINT_DIR_VARIABLE = "STAGED_CHECKPOINT_DIR"
WARN_SIGNAL_VARIABLE = "STAGED_WARN_SIGNAL"
DEFAULT_WARN_SIGNAL = "SIGUSR1"


def checkpoint_dir():
    """The experiment's checkpoint directory as a pathlib.Path, created: the same for all its runs (retries,
    requeues, adoption) and for batches that --rerun-failed it. Outside staged: ./checkpoints/<script name>."""
    named = os.environ.get(CHECKPOINT_DIR_VARIABLE)
    if named:
        path = pathlib.Path(named)
    else:
        script = os.environ.get("STAGED_EXPERIMENT") or pathlib.Path(sys.argv[0] or "script").stem
        path = pathlib.Path("checkpoints") / script
    path.mkdir(parents=True, exist_ok=True)
    return path


def attempt():
    """This run's number, from 1: each start of the process gets the next (retries, requeues, lost runs)."""
    return int(os.environ.get("STAGED_ATTEMPT", "1"))


def requeue():
    """Exits with the requeue code: staged starts the experiment again, using no retry. Save the checkpoint first."""
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(REQUEUE_EXIT_CODE)


def watch_warning(signal_name=None):
    """A threading.Event set when the warning before the --timeout arrives (--signal-before; the signal
    STAGED_WARN_SIGNAL names, SIGUSR1 by default). Check it between steps, save, then requeue(): the handler only
    sets the event, so the warning never interrupts a checkpoint being written. Call it from the main thread."""
    name = signal_name or os.environ.get(WARN_SIGNAL_VARIABLE) or DEFAULT_WARN_SIGNAL
    if not name.upper().startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal, name.upper())
    event = threading.Event()
    signal.signal(number, lambda _signum, _frame: event.set())
    return event
