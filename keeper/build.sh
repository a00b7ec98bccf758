#!/bin/sh
# Builds the run keeper (Go, standard library only: nothing is downloaded) into dist/keeper/staged-keeper.
set -e
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "staged: building the run keeper needs Go (1.23 or later), and no 'go' is on PATH." >&2
  echo "staged: install Go (https://go.dev/doc/install), then run npm run build again." >&2
  exit 1
fi
GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o ../dist/keeper/staged-keeper .
