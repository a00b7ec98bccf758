"""Staged's sitecustomize: meters rate-limited APIs in runs (STAGED_QUOTA_AUTO not 0), then chains the
sitecustomize that Python would have run without this one. Never breaks a script: failures print once and pass.
"""


def _run_next_sitecustomize():
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    entries = [os.path.realpath(os.path.abspath(entry or os.curdir)) for entry in sys.path]
    if here not in entries:
        return
    later = [entry for entry in sys.path[entries.index(here) + 1 :] if os.path.realpath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", later)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def _install_metering():
    import os

    if os.environ.get("STAGED_QUOTA_AUTO", "1") == "0":
        return
    if not (os.environ.get("STAGED_QUOTA_SOCKET") and os.environ.get("STAGED_QUOTA_HOSTS")):
        return
    import staged_quota.auto

    staged_quota.auto.install()


def _guarded(step, what):
    try:
        step()
    except Exception as error:
        import sys

        sys.stderr.write("staged-quota: {} failed, continuing without it: {!r}\n".format(what, error))


_guarded(_install_metering, "automatic quota metering")
_guarded(_run_next_sitecustomize, "the next sitecustomize")
del _guarded, _install_metering, _run_next_sitecustomize
