#!/bin/sh
# Install the Debian packages the reliability targets need (sanitizer
# runtimes for gcc, clang with libFuzzer, a symbolizer for readable
# reports, gdb for the stress watchdog's stack dumps), if missing.
# As root this runs apt-get; otherwise it prints the one command to run.
exec sh "$(dirname "$0")/deps.sh" gcc libasan8 libubsan1 libtsan2 clang-14 \
  libclang-rt-14-dev llvm-14 gdb procps
