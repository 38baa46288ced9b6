#!/bin/sh
# make lint: cppcheck and clang-tidy over src/, with the configuration in
# tests/lint/. Zero findings, or a justified suppression next to the code
# (NOLINT) or in the configuration.
set -u
cd "$(dirname "$0")/../.."
cflags="-std=gnu11 -Isrc/core -Isrc/live -Isrc/cli $(pkg-config --cflags libpcap libmnl libnftnl libnetfilter_queue) -DRCPTGUARD_VERSION='\"0\"'"
rc=0
echo "cppcheck $(cppcheck --version | cut -d' ' -f2):"
cppcheck --enable=warning,style,performance,portability --std=c11 --inline-suppr -q \
	--suppressions-list=tests/lint/cppcheck.supp --error-exitcode=1 -Isrc/core -Isrc/live -Isrc/cli src/*/*.c || rc=1
echo "clang-tidy $(clang-tidy --version | sed -n 's/.*LLVM version //p'):"
# Two at a time: one file takes a few seconds.
ls src/*/*.c | xargs -P "$(nproc)" -n 4 sh -c \
	'clang-tidy --quiet --config-file=tests/lint/clang-tidy.yaml "$@" -- '"$cflags"' 2>&1 | grep -E "(warning|error):" ; exit 0' sh \
	>build/lint-tidy.log
if [ -s build/lint-tidy.log ]; then
	cat build/lint-tidy.log
	rc=1
fi
n=$(wc -l <build/lint-tidy.log)
echo "lint: $(ls src/*/*.c | wc -l) files, clang-tidy findings $n, cppcheck $( [ $rc -eq 0 ] && echo clean || echo 'see above')"
exit $rc
