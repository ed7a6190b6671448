#!/bin/sh
# The reliability checks, as .ci/run calls them: the suites under
# AddressSanitizer+UBSan and ThreadSanitizer, the stress run, and a short
# fuzz run. Each prints its own summary; the first failure stops the run.
set -e
cd "$(dirname "$0")/.."
sh .ci/deps-reliability.sh
make --no-print-directory asan WERROR=1
make --no-print-directory tsan WERROR=1
make --no-print-directory stress WERROR=1
make --no-print-directory fuzz WERROR=1
