#!/usr/bin/env python3
"""staged-quota in Python: what the shell command (python/bin/staged-quota) runs without curl, or for an HTTP date.

  staged-quota acquire NAME [N]                 blocks until N calls (default 1) of quota NAME are granted
  staged-quota rate-limited NAME [RETRY_AFTER]  reports a 429; RETRY_AFTER is seconds or an HTTP date

Exit status: 0 done (also outside staged, where nothing is metered), 1 refused by the agent, 2 bad usage.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

import staged_quota  # noqa: E402 (found through the line above when PYTHONPATH lacks staged's python directory)

USAGE = "usage: staged-quota acquire NAME [N] | staged-quota rate-limited NAME [RETRY_AFTER]\n"


def bad_usage(problem):
    sys.stderr.write("staged-quota: {}\n{}".format(problem, USAGE))
    return 2


def main(arguments):
    if arguments[:1] in (["-h"], ["--help"]):
        sys.stdout.write(__doc__.lstrip())
        return 0
    if len(arguments) not in (2, 3) or arguments[0] not in ("acquire", "rate-limited") or not arguments[1]:
        return bad_usage("expected a command and a quota name")
    command, quota = arguments[0], arguments[1]
    extra = arguments[2] if len(arguments) == 3 else None
    try:
        if command == "acquire":
            calls = 1 if extra is None else int(extra) if extra.isdigit() else 0
            if calls < 1:
                return bad_usage("N must be a positive whole number, not {!r}".format(extra))
            staged_quota.acquire(quota, calls)
        else:
            retry_after = None if extra is None else staged_quota.retry_after_seconds(extra)
            if extra is not None and retry_after is None:
                return bad_usage("RETRY_AFTER must be seconds or an HTTP date, not {!r}".format(extra))
            staged_quota.report_rate_limited(quota, retry_after)
    except staged_quota.QuotaRefused as refusal:
        sys.stderr.write("staged-quota: {}\n".format(refusal))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
