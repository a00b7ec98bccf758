#!/bin/sh
# EXP-136: Adaptive regime classifier (shell wrapper).
#
# Priority: medium
# The explicit line above wins over the keyword "adaptive" in the summary.
set -e
echo "exp136: classifying regimes (attempt ${STAGED_ATTEMPT:-1})"
for step in 1 2 3 4 5 6 7 8 9 10; do
  sleep 0.3
  echo "PROGRESS $step/10"
done
mkdir -p "${STAGED_RESULTS_DIR:-results/exp136}"
echo '{"experiment": "exp136_adaptive_regime_classifier", "regimes": 3}' > "${STAGED_RESULTS_DIR:-results/exp136}/result.json"
echo "exp136: done"
