# rcptguard: GNU make, pkg-config, C11.
#
#   make            build ./rcptguard
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
PKGS       := libpcap libmnl libnftnl libnetfilter_queue
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS     ?= -O2 -g
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-missing-field-initializers
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) $(PKG_CFLAGS) \
              -DRCPTGUARD_VERSION='"$(VERSION)"' -D_FORTIFY_SOURCE=2
LDLIBS     := $(PKG_LIBS)

# Debian packages the build and the tests need; `make deps` installs the
# missing ones, so that `make check` works on a fresh Debian 12 as root.
DEB_BUILD  := gcc make pkg-config libpcap-dev libmnl-dev libnftnl-dev \
              libnetfilter-queue-dev
DEB_TEST   := clang libclang-rt-14-dev tshark tcpdump iproute2 nftables \
              mandoc valgrind postfix jq openssl ethtool procps iptables \
              socat libcap2-bin systemd debhelper dpkg-dev fakeroot lintian \
              cppcheck clang-tidy
DEB_PKGS   := $(DEB_BUILD) $(DEB_TEST)

SRC        := $(filter-out src/main.c,$(wildcard src/*.c))
OBJ        := $(SRC:src/%.c=build/%.o)
ASAN_OBJ   := $(SRC:src/%.c=build/asan/%.o)
TEST_SRC   := $(wildcard tests/unit/*.c) tests/pcapw.c
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: bench-peers soak lint deb fuzz fuzz-build all deps check test demo bench install uninstall clean fixtures

all: rcptguard

build build/asan:
	mkdir -p $@

build/%.o: src/%.c $(wildcard src/*.h) | build
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/asan/%.o: src/%.c $(wildcard src/*.h) | build/asan
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

rcptguard: $(OBJ) build/main.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/asan/rcptguard: $(ASAN_OBJ) src/main.c | build/asan
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -o $@ $^ $(LDFLAGS) $(LDLIBS)

build/unit: $(OBJ) $(TEST_SRC) $(wildcard tests/unit/*.h tests/*.h)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests -o $@ $(OBJ) $(TEST_SRC) $(LDFLAGS) $(LDLIBS)

build/asan/unit: $(ASAN_OBJ) $(TEST_SRC) $(wildcard tests/unit/*.h tests/*.h) | build/asan
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -Isrc -Itests -o $@ $(ASAN_OBJ) $(TEST_SRC) $(LDFLAGS) $(LDLIBS)

build/mkpcap: tests/mkpcap.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/mkpcap.c tests/pcapw.c

build/mkbench: bench/mkbench.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ bench/mkbench.c tests/pcapw.c -lm

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: missing:$$missing (run as root to install)" >&2; exit 1; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null

test check: deps
	$(MAKE) rcptguard build/asan/rcptguard build/unit build/asan/unit build/mkpcap \
		build/smtpc build/forge build/nftbatch build/mkflood build/mkday build/synflood \
		CFLAGS="$(CFLAGS) -Werror"
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) tests/run.sh

demo: deps rcptguard build/smtpc
	tests/demo.sh

bench: deps rcptguard build/trackbench build/replaybench build/mkbench build/nfqfloor build/smtpc build/nftbatch
	bench/run.sh
	bench/live.sh
	bench/nft.sh

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
FUZZERS    := decode reasm smtp config control
FUZZ_SECONDS ?= 600
FUZZ_CHECK_SECONDS ?= 20
FUZZ_CC    := clang
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_OBJ   := $(SRC:src/%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) | build
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) -std=gnu11 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) \
		-DRCPTGUARD_VERSION='"$(VERSION)"' -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) -std=gnu11 $(FUZZ_FLAGS) -fsanitize=fuzzer -Isrc -o $@ $< $(FUZZ_OBJ) $(LDFLAGS) $(LDLIBS)

build/fuzz/seeds: tests/fuzz/seeds.c $(OBJ) | build
	@mkdir -p build/fuzz
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(OBJ) $(LDFLAGS) $(LDLIBS)

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
	cp -r src man nft packaging Makefile README.md $(DEB_TREE)/
	cp -r packaging/debian $(DEB_TREE)/debian
	cd $(DEB_TREE) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	lintian --fail-on error build/deb/rcptguard_$(VERSION)-1_*.deb
	@ls -l build/deb/*.deb

clean:
	rm -rf build rcptguard

build/smtpc: tests/smtpc.c | build
	$(CC) $(ALL_CFLAGS) -o $@ $<

build/trackbench: bench/trackbench.c $(OBJ) | build
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ bench/trackbench.c $(OBJ) $(LDFLAGS) $(LDLIBS)

build/replaybench: bench/replaybench.c $(OBJ) | build
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(OBJ) $(LDFLAGS) $(LDLIBS) -lm

build/forge: tests/forge.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/forge.c tests/pcapw.c

build/nfqfloor: bench/nfqfloor.c $(OBJ) | build
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(OBJ) $(LDFLAGS) $(LDLIBS)

build/mkflood: tests/mkflood.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/mkflood.c tests/pcapw.c

build/mkday: tests/mkday.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/mkday.c tests/pcapw.c

build/synflood: tests/synflood.c tests/pcapw.c tests/pcapw.h | build
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/synflood.c tests/pcapw.c

build/nftbatch: tests/nftbatch.c $(OBJ) | build
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(OBJ) $(LDFLAGS) $(LDLIBS)
