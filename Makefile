# rcptguard: GNU make, pkg-config, C11.
#
#   make            build ./rcptguard
#   make test       build, run the tests that need no root (unit, fixtures, golden)
#   make check      install missing Debian packages, build, run every test
#   make demo       install, build, show rcptguard at work
#   make bench      replay throughput against a plain libpcap read loop
#   make install    DESTDIR=... PREFIX=...

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
UNITDIR    ?= $(PREFIX)/lib/systemd/system

CC         ?= cc
PKGS       := libpcap libmnl libnftnl libnetfilter_queue libcurl yajl libseccomp
# Recursive (=): evaluated when used, so `make deps` can run before the
# -dev packages exist.
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
PCAP_LIBS   = $(shell pkg-config --libs libpcap 2>/dev/null)

CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-missing-field-initializers -Wformat -Werror=format-security
# What Debian's hardening=+all gives a package, in every build.
HARDEN     := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
HARDEN_LD  := -pie -Wl,-z,relro -Wl,-z,now
BASE_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(HARDEN) -DRCPTGUARD_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS     := $(PKG_LIBS)

# The architecture, kept by the include paths: the core (src/core) sees
# only itself and no kernel library; the live side (src/live) sees the
# core; the command line (src/cli) sees both.
CORE_INC   := -Isrc/core
LIVE_INC   := -Isrc/core -Isrc/live
CLI_INC    := -Isrc/core -Isrc/live -Isrc/cli
CORE_CFLAGS = $(BASE_CFLAGS) $(CORE_INC)
LIVE_CFLAGS = $(BASE_CFLAGS) $(LIVE_INC) $(PKG_CFLAGS)
CLI_CFLAGS  = $(BASE_CFLAGS) $(CLI_INC) $(PKG_CFLAGS)
# Programs outside src/ that use the live side (tests, benchmarks).
ALL_CFLAGS  = $(CLI_CFLAGS)

# Debian packages the build and the tests need; `make deps` installs the
# missing ones, so that `make check` works on a fresh Debian 12 as root.
# crowdsec (the fleet tests' LAPI) installs offline only if
# /etc/crowdsec/online_api_credentials.yaml exists first, holding a
# comment (else its postinst registers with the central API), and its
# service must not start (the tests run a LAPI of their own).
DEB_BUILD  := gcc make pkg-config libpcap-dev libmnl-dev libnftnl-dev \
              libnetfilter-queue-dev libcurl4-openssl-dev libyajl-dev libseccomp-dev
DEB_TEST   := clang libclang-rt-14-dev tshark tcpdump iproute2 nftables \
              mandoc valgrind postfix jq openssl ethtool procps iptables \
              socat libcap2-bin systemd debhelper dpkg-dev fakeroot lintian \
              cppcheck clang-tidy crowdsec crowdsec-firewall-bouncer libssl-dev
DEB_PKGS   := $(DEB_BUILD) $(DEB_TEST)

CORE_SRC   := $(wildcard src/core/*.c)
LIVE_SRC   := $(wildcard src/live/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
CORE_OBJ   := $(CORE_SRC:src/%.c=build/%.o)
LIVE_OBJ   := $(LIVE_SRC:src/%.c=build/%.o)
CLI_OBJ    := $(CLI_SRC:src/%.c=build/%.o)
CORE_LIB   := build/libcore.a
LIVE_LIB   := build/liblive.a
ASAN_CORE  := $(CORE_SRC:src/%.c=build/asan/%.o)
ASAN_LIVE  := $(LIVE_SRC:src/%.c=build/asan/%.o)
ASAN_CLI   := $(CLI_SRC:src/%.c=build/asan/%.o)
TEST_SRC   := $(wildcard tests/unit/*.c) tests/pcapw.c
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: chaos demo-fleet bench-peers soak lint deb fuzz fuzz-build all deps check test demo bench install uninstall clean fixtures pkgcheck

all: rcptguard

# A missing library stops the build with its name, not with a wall of
# undefined references.
build/.pkgcheck: | build
	@for p in $(PKGS); do pkg-config --exists $$p || \
		{ echo "rcptguard: pkg-config cannot find $$p (Debian: make deps, or apt-get install $(DEB_BUILD))" >&2; exit 1; }; done
	@touch $@

build build/asan build/core build/live build/cli build/asan/core build/asan/live build/asan/cli build/tests:
	mkdir -p $@

build/core/%.o: src/core/%.c | build/core
	$(CC) $(CORE_CFLAGS) -c -o $@ $<
build/live/%.o: src/live/%.c | build/live build/.pkgcheck
	$(CC) $(LIVE_CFLAGS) -c -o $@ $<
build/cli/%.o: src/cli/%.c | build/cli build/.pkgcheck
	$(CC) $(CLI_CFLAGS) -c -o $@ $<
build/asan/core/%.o: src/core/%.c | build/asan/core
	$(CC) $(CORE_CFLAGS) -O1 $(SAN) -c -o $@ $<
build/asan/live/%.o: src/live/%.c | build/asan/live build/.pkgcheck
	$(CC) $(LIVE_CFLAGS) -O1 $(SAN) -c -o $@ $<
build/asan/cli/%.o: src/cli/%.c | build/asan/cli build/.pkgcheck
	$(CC) $(CLI_CFLAGS) -O1 $(SAN) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(LIVE_LIB): $(LIVE_OBJ)
	rm -f $@ && ar rcs $@ $^
build/asan/libcore.a: $(ASAN_CORE)
	rm -f $@ && ar rcs $@ $^
build/asan/liblive.a: $(ASAN_LIVE)
	rm -f $@ && ar rcs $@ $^

rcptguard: $(CLI_OBJ) $(LIVE_LIB) $(CORE_LIB)
	$(CC) $(CLI_CFLAGS) $(HARDEN_LD) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/rcptguard: $(ASAN_CLI) build/asan/liblive.a build/asan/libcore.a
	$(CC) $(CLI_CFLAGS) -O1 $(SAN) $(HARDEN_LD) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The unit tests link the core alone (and libpcap, to read the fixtures):
# a core file that reached for the kernel would not link here.
UNIT_CFLAGS = $(BASE_CFLAGS) $(CORE_INC) -Itests $(shell pkg-config --cflags libpcap 2>/dev/null)
build/unit: $(TEST_SRC) $(CORE_LIB) | build/.pkgcheck
	$(CC) $(UNIT_CFLAGS) $(HARDEN_LD) -o $@ $(TEST_SRC) $(CORE_LIB) $(LDFLAGS) $(PCAP_LIBS)

build/asan/unit: $(TEST_SRC) build/asan/libcore.a | build/asan build/.pkgcheck
	$(CC) $(UNIT_CFLAGS) -O1 $(SAN) $(HARDEN_LD) -o $@ $(TEST_SRC) build/asan/libcore.a $(LDFLAGS) $(PCAP_LIBS)

# The live side without a kernel: the enforcer over a fake nf_tables,
# golden rulesets, reconciliation and reload. No root needed.
LIVEUNIT_SRC := $(wildcard tests/liveunit/*.c) tests/unit/main.c tests/unit/helpers.c tests/pcapw.c
LIVEUNIT_CFLAGS = $(LIVE_CFLAGS) -Itests -Itests/unit -Itests/liveunit
build/liveunit: $(LIVEUNIT_SRC) $(LIVE_LIB) $(CORE_LIB) | build/.pkgcheck
	$(CC) $(LIVEUNIT_CFLAGS) $(HARDEN_LD) -o $@ $(LIVEUNIT_SRC) $(LIVE_LIB) $(CORE_LIB) $(LDFLAGS) $(LDLIBS)

build/asan/liveunit: $(LIVEUNIT_SRC) build/asan/liblive.a build/asan/libcore.a | build/asan build/.pkgcheck
	$(CC) $(LIVEUNIT_CFLAGS) -O1 $(SAN) $(HARDEN_LD) -o $@ $(LIVEUNIT_SRC) build/asan/liblive.a \
		build/asan/libcore.a $(LDFLAGS) $(LDLIBS)

build/mkpcap: tests/mkpcap.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(BASE_CFLAGS) -Itests $(HARDEN_LD) -o $@ tests/mkpcap.c tests/pcapw.c

# Replay's reader against libpcap's, frame by frame (tests/capcheck.c).
build/capcheck: tests/capcheck.c src/cli/capfile.c src/cli/capfile.h | build/.pkgcheck
	$(CC) $(BASE_CFLAGS) -Isrc/core -Isrc/cli $(shell pkg-config --cflags libpcap 2>/dev/null) $(HARDEN_LD) \
		-o $@ tests/capcheck.c src/cli/capfile.c $(LDFLAGS) $(PCAP_LIBS)

build/mkbench: bench/mkbench.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(BASE_CFLAGS) -Itests $(HARDEN_LD) -o $@ bench/mkbench.c tests/pcapw.c -lm

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: missing:$$missing (run as root to install)" >&2; exit 1; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	case " $$missing " in *" crowdsec "* | *" crowdsec-firewall-bouncer "*) \
		mkdir -p /etc/crowdsec; \
		[ -s /etc/crowdsec/online_api_credentials.yaml ] || \
			echo "# no central API: rcptguard's tests run LAPI alone" >/etc/crowdsec/online_api_credentials.yaml; \
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; \
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT ;; \
	esac; \
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	rc=$$?; if command -v systemctl >/dev/null && systemctl is-enabled crowdsec >/dev/null 2>&1; then \
		systemctl disable --now crowdsec >/dev/null 2>&1 || true; fi; exit $$rc

# make test: what needs no root, no namespaces and no apt (the Debian
# package build runs it); make check: everything, after installing what
# is missing.
TEST_BINS  := rcptguard build/asan/rcptguard build/unit build/asan/unit build/liveunit \
              build/asan/liveunit build/mkpcap build/smtpc build/forge build/nftbatch \
              build/mkflood build/mkday build/synflood build/lapistub build/mkbench build/capcheck
test:
	$(MAKE) $(TEST_BINS) CFLAGS="$(CFLAGS) -Werror"
	if command -v $(FUZZ_CC) >/dev/null; then $(MAKE) fuzz-build build/tsan/feedcheck; fi
	TEST_TIER=offline tests/run.sh

check: deps
	$(MAKE) $(TEST_BINS) CFLAGS="$(CFLAGS) -Werror"
	$(MAKE) fuzz-build build/tsan/feedcheck build/tsan/rcptguard
	FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) tests/run.sh

# Faults for CHAOS_SECONDS (15 minutes) against the lab's Postfix; a
# 2-minute run is part of make check.
CHAOS_SECONDS ?= 900
chaos: deps rcptguard build/smtpc
	@mkdir -p bench/results
	bench/chaos.sh $(CHAOS_SECONDS) | tee bench/results/chaos-$$(date -u +%Y%m%dT%H%M%SZ).txt

demo: deps rcptguard build/smtpc
	tests/demo.sh

# Three MX hosts sharing bans through CrowdSec's Local API.
demo-fleet: deps rcptguard build/smtpc
	tests/demo-fleet.sh

bench: deps rcptguard build/trackbench build/tlsbench build/replaybench build/mkbench build/nfqfloor build/smtpc build/nftbatch
	bench/run.sh
	bench/live.sh
	bench/nft.sh
	bench/fleet.sh

fixtures: rcptguard build/mkpcap
	tests/fixtures/make-synthetic.sh

install: rcptguard
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)/rcptguard $(DESTDIR)$(DATADIR)/rcptguard
	install -m 0755 rcptguard $(DESTDIR)$(SBINDIR)/rcptguard
	install -m 0644 man/rcptguard.8 $(DESTDIR)$(MANDIR)/man8/rcptguard.8
	install -m 0644 man/rcptguard.conf.5 $(DESTDIR)$(MANDIR)/man5/rcptguard.conf.5
	install -m 0644 packaging/rcptguard.conf $(DESTDIR)$(SYSCONFDIR)/rcptguard/rcptguard.conf
	install -m 0644 nft/rcptguard.nft nft/queue-local.nft nft/queue-gateway.nft \
		$(DESTDIR)$(DATADIR)/rcptguard/
	install -m 0755 nft/queue-compat.sh $(DESTDIR)$(DATADIR)/rcptguard/queue-compat.sh
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/sbin/rcptguard|$(SBINDIR)/rcptguard|g' \
	    -e 's|/etc/rcptguard/|$(SYSCONFDIR)/rcptguard/|g' \
		packaging/systemd/rcptguard.service >$(DESTDIR)$(UNITDIR)/rcptguard.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rcptguard.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rcptguard $(DESTDIR)$(MANDIR)/man8/rcptguard.8 \
		$(DESTDIR)$(MANDIR)/man5/rcptguard.conf.5 $(DESTDIR)$(UNITDIR)/rcptguard.service
	rm -rf $(DESTDIR)$(DATADIR)/rcptguard

# libFuzzer harnesses (clang, ASan, UBSan): make fuzz FUZZ_SECONDS=N runs
# each for N seconds from its seed corpus (build/fuzz/corpus/NAME, seeded
# from the fixtures); crashes go to build/fuzz/crash-NAME-*. Inputs that
# once crashed live in tests/fuzz/regress/NAME/ and are replayed by make
# check (fuzz-check).
FUZZERS    := decode reasm smtp config control tls state
FUZZ_SECONDS ?= 600
FUZZ_CHECK_SECONDS ?= 20
FUZZ_CC    := clang
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_OBJ   := $(CORE_SRC:src/%.c=build/fuzz/%.o) $(LIVE_SRC:src/%.c=build/fuzz/%.o)

build/fuzz/%.o: src/%.c | build/.pkgcheck
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(LIVE_INC) $(PKG_CFLAGS) \
		-DRCPTGUARD_VERSION='"$(VERSION)"' -MMD -MP -c -o $@ $<

# Not intermediate: kept between builds.
.SECONDARY: $(FUZZ_OBJ)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) -std=gnu11 $(FUZZ_FLAGS) -fsanitize=fuzzer $(LIVE_INC) -o $@ $< $(FUZZ_OBJ) $(LDFLAGS) $(LDLIBS)

build/fuzz/seeds: tests/fuzz/seeds.c $(CORE_LIB) | build
	@mkdir -p build/fuzz
	$(CC) $(UNIT_CFLAGS) $(HARDEN_LD) -o $@ $< $(CORE_LIB) $(LDFLAGS) $(PCAP_LIBS)

fuzz-build: $(FUZZERS:%=build/fuzz/fuzz_%) build/fuzz/seeds
	tests/fuzz/seed.sh

fuzz: deps
	$(MAKE) fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# rcptguard against fail2ban and Postfix's own limits, same lab, same
# attack: a fixed-rate run with 20 sources, then the full-speed anchor.
DEB_BENCH  := fail2ban python3-pyinotify gnuplot-nox
bench-peers: deps rcptguard build/smtpc
	@missing=""; for p in $(DEB_BENCH); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; [ -z "$$missing" ] || { echo "bench-peers: installing$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }
	bench/peers.sh
	PEERS_SOURCES=1 PEERS_RATE=0 PEERS_SECONDS=30 \
		PEERS_CASES="postfix-default fail2ban fail2ban-pfdefault rcptguard-nfqueue" bench/peers.sh

# 10 minutes of mixed attack and legitimate traffic (SOAK_SECONDS=...).
soak: deps rcptguard build/smtpc
	bench/soak.sh

lint: deps | build
	tests/lint/run.sh

# A Debian package from the working tree: build/deb/rcptguard_*.deb.
DEB_TREE := build/deb/rcptguard-$(VERSION)
deb: deps
	rm -rf build/deb && mkdir -p $(DEB_TREE)
	cp -r src man nft packaging tests Makefile README.md $(DEB_TREE)/
	# make test generates captures with bench/mkbench (not the results).
	mkdir -p $(DEB_TREE)/bench && cp bench/*.c bench/*.sh $(DEB_TREE)/bench/
	cp -r packaging/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	lintian --fail-on error build/deb/rcptguard_$(VERSION)-1_*.deb
	@ls -l build/deb/*.deb

clean:
	rm -rf build rcptguard

# Test and benchmark programs: generators need nothing of src/; the
# benchmarks of the core link the core; the ones of the kernel ends, both.
build/lapistub: tests/lapistub.c | build
	$(CC) $(BASE_CFLAGS) $(HARDEN_LD) -o $@ $<

build/smtpc: tests/smtpc.c | build
	$(CC) $(BASE_CFLAGS) $(HARDEN_LD) -o $@ $< -lssl -lcrypto

build/forge build/mkflood build/mkday build/synflood: build/%: tests/%.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(BASE_CFLAGS) -Itests $(HARDEN_LD) -o $@ tests/$*.c tests/pcapw.c

build/trackbench: bench/trackbench.c $(CORE_LIB) | build
	$(CC) $(UNIT_CFLAGS) $(HARDEN_LD) -o $@ $< $(CORE_LIB) $(LDFLAGS)

build/tlsbench: bench/tlsbench.c $(CORE_LIB) | build
	$(CC) $(UNIT_CFLAGS) $(HARDEN_LD) -o $@ $< $(CORE_LIB) $(LDFLAGS) -lm

# Replay's two threads under ThreadSanitizer: the core, feed.c and a
# driver (tests/feedcheck.c), nothing else.
build/tsan/feedcheck: tests/feedcheck.c src/cli/feed.c src/cli/capfile.c $(CORE_SRC) | build
	mkdir -p build/tsan
	$(FUZZ_CC) -std=gnu11 $(WARN) -O1 -g -fsanitize=thread -Isrc/core -Isrc/cli \
		$(shell pkg-config --cflags libpcap 2>/dev/null) -o $@ $^ $(PCAP_LIBS) -lm

# The daemon under ThreadSanitizer, for the capture workers' test
# (tests/live.sh): every source, one compile.
build/tsan/rcptguard: $(CORE_SRC) $(LIVE_SRC) $(CLI_SRC) $(wildcard src/*/*.h) | build/.pkgcheck
	mkdir -p build/tsan
	$(FUZZ_CC) -std=gnu11 $(WARN) -O1 -g -fsanitize=thread $(CLI_INC) $(PKG_CFLAGS) \
		-DRCPTGUARD_VERSION='"$(VERSION)"' -o $@ $(filter %.c,$^) $(PKG_LIBS) -lm

build/replaybench: bench/replaybench.c build/cli/feed.o build/cli/capfile.o $(CORE_LIB) | build
	$(CC) $(UNIT_CFLAGS) -Isrc/cli $(HARDEN_LD) -o $@ $< build/cli/feed.o build/cli/capfile.o $(CORE_LIB) $(LDFLAGS) $(PCAP_LIBS) -lm

build/nfqfloor build/nftbatch: build/%: $(LIVE_LIB) $(CORE_LIB) | build
	$(CC) $(LIVE_CFLAGS) $(HARDEN_LD) -o $@ $(filter %.c,$(wildcard bench/$*.c tests/$*.c)) \
		$(LIVE_LIB) $(CORE_LIB) $(LDFLAGS) $(LDLIBS)

-include $(wildcard build/*.d build/*/*.d build/*/*/*.d)
