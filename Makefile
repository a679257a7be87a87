# relayd: local SMTP submission relay with rate limiting.
#
#   make            build build/relayd, build/relayctl and build/relay-sendmail
#   make run        install missing Debian packages (as root), build, run relayd in the foreground
#   make test       install missing Debian packages (as root), build, run every test
#   make install    PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined test     the same with sanitizers (in build/san-.../)
#   make test-fresh the two commands on a brand-new Debian 12 (root, debootstrap)
#
# Libraries are found with pkg-config; contrib/deps.sh names (or installs) what is missing.

CC      ?= cc
PKGS    := libevent libevent_openssl openssl libconfig libsasl2 jansson gmime-3.0 libcurl \
           hiredis
PREFIX  ?= /usr/local
DESTDIR ?=

# CFLAGS and LDFLAGS are the user's (make CFLAGS='-O0 -g' keeps every flag below); the
# project's own flags live in RELAY_CFLAGS and come first, so the user's can override them.
CFLAGS  ?= -O2 -g
RELAY_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing -pthread -MMD -MP
RELAY_LDFLAGS :=

# Each flavour builds in a directory of its own, so that `make SANITIZE=address,undefined
# test` after a plain build really rebuilds: build/ plain, build/san-address-undefined/ etc.
comma   := ,
ifeq ($(SANITIZE),)
B       ?= build
else
B       ?= build/san-$(subst $(comma),-,$(SANITIZE))
RELAY_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
RELAY_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# pkg-config is asked when the flags are first used, not when make reads this file: `make
# test` and `make run` install missing packages first, and a value read before that would
# be empty. (Each is asked once per make: the first use replaces the variable.)
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
ALL_CFLAGS  = $(RELAY_CFLAGS) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(RELAY_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS  = $(PKG_LIBS) -lz -lm -lcrypt -pthread $(LDLIBS)

MAINS   := src/relayd.c src/relayctl.c src/relay-sendmail.c
LIBSRC  := $(filter-out $(MAINS),$(wildcard src/*.c))
LIBOBJ  := $(LIBSRC:src/%.c=$(B)/obj/%.o)
UNITSRC := $(wildcard tests/unit/test_*.c)
UNITBIN := $(UNITSRC:tests/unit/%.c=$(B)/tests/%)
# Each fuzz target, built with the project's compiler around tests/fuzz/replay.c, runs its
# seeds once in test-unit (the fuzzing itself is make fuzz, with clang).
REPLAYBIN := $(patsubst tests/fuzz/fuzz_%.c,$(B)/tests/replay_%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps check-pkgs run test test-unit test-corpus test-integration test-fresh \
        clean install fuzz

all: $(B)/relayd $(B)/relayctl $(B)/relay-sendmail

# Before any compile, also under make -j: name what is missing instead of failing on a
# header. Order-only, so it never makes anything rebuild.
check-pkgs:
	@pkg-config --exists $(PKGS) || { sh contrib/deps.sh --check; exit 1; }

deps:
	@sh contrib/deps.sh

$(B)/obj/%.o: src/%.c | $(B)/obj check-pkgs
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/obj $(B)/tests:
	@mkdir -p $@

$(B)/librelay.a: $(LIBOBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/relayd: $(B)/obj/relayd.o $(B)/librelay.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(B)/relayctl: $(B)/obj/relayctl.o $(B)/librelay.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(B)/relay-sendmail: $(B)/obj/relay-sendmail.o $(B)/librelay.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(B)/librelay.a | $(B)/tests check-pkgs
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(B)/librelay.a $(ALL_LDFLAGS) $(ALL_LDLIBS)

$(B)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(B)/librelay.a | $(B)/tests check-pkgs
	$(CC) $(ALL_CFLAGS) -Isrc -DFUZZ_SEEDS='"$(CURDIR)/tests/fuzz/seeds/$*"' -o $@ $< \
	    tests/fuzz/replay.c $(B)/librelay.a $(ALL_LDFLAGS) $(ALL_LDLIBS)

# make run and make test first install what is missing (as root; otherwise they name it
# and stop), then build and go on in a second make, which reads this file, and so
# pkg-config, only after the install.
SUBMAKE := $(MAKE) --no-print-directory

# make run: a copy of the reference config whose spool and socket live under run/, so
# the relay runs without root. Edit run/relay.conf to add real accounts. run/ holds the
# operator's config and queued mail: it is outside build/, so make clean leaves it (and
# git ignores it). A run/ left in build/ by an older checkout is moved once.
RUNDIR := $(CURDIR)/run
run:
	@sh contrib/deps.sh
	@$(SUBMAKE) all
	@if [ -d $(B)/run ] && [ ! -e $(RUNDIR) ]; then mv $(B)/run $(RUNDIR) && \
	    sed -i 's|$(abspath $(B))/run|$(RUNDIR)|g' $(RUNDIR)/relay.conf && \
	    echo "relayd: moved $(B)/run to $(RUNDIR), where make clean leaves it"; fi
	@mkdir -p $(RUNDIR)/spool
	@test -f $(RUNDIR)/relay.conf || sed \
	    -e 's|^spool_dir = .*|spool_dir = "$(RUNDIR)/spool";|' \
	    -e 's|^control_socket = .*|control_socket = "$(RUNDIR)/control.sock";|' \
	    etc/relay.conf > $(RUNDIR)/relay.conf
	@echo "relayd: config $(RUNDIR)/relay.conf; submit mail to 127.0.0.1:2525; Ctrl-C stops"
	$(B)/relayd -c $(RUNDIR)/relay.conf

test:
	@sh contrib/deps.sh
	@$(SUBMAKE) all $(UNITBIN) $(REPLAYBIN)
	@$(SUBMAKE) test-unit test-corpus test-integration

# The tests find the programs of this flavour through these.
TESTENV := RELAYD=$(abspath $(B))/relayd RELAYCTL=$(abspath $(B))/relayctl \
           RELAY_SENDMAIL=$(abspath $(B))/relay-sendmail

# The import graph of src/ first: a cycle between modules or files fails the tests.
test-unit: $(UNITBIN) $(REPLAYBIN)
	@/usr/bin/python3 tests/import_graph.py
	@sh tests/run-unit.sh $(UNITBIN) $(REPLAYBIN)

# The bounce parser measured on real notifications, labelled: ../shared/bounces or
# $(BOUNCES_DIR). They are others' data and stay outside the repository; where they are
# absent this step says so in one line and passes (the unit tests carry our own cases).
test-corpus: all
	@$(TESTENV) /usr/bin/python3 tests/bounce_corpus.py

test-integration: all
	@$(TESTENV) sh tests/run-integration.sh

# make test-fresh: the README's commands on a brand-new minimal Debian 12 (debootstrap,
# cached in build/fresh), entered with pivot_root in private namespaces: make test, then
# make run listening on 127.0.0.1:2525. Needs root; about 15 minutes.
test-fresh:
	@sh tests/fresh/run.sh

# make test-long: make test with the long tests too (RELAYD_TEST_LONG=1: the real 120 s idle
# timeout, valgrind over a representative run, a 60-kill crash loop); about 10 minutes more.
.PHONY: test-long
test-long:
	@RELAYD_TEST_LONG=1 $(MAKE) --no-print-directory test

# libFuzzer targets (clang from Debian), each run for FUZZTIME seconds from its seeds in
# tests/fuzz/seeds/NAME; crashes land in build/fuzz/ and fail the run.
FUZZTIME ?= 60
FUZZCC   ?= clang
FUZZSRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZBIN  := $(FUZZSRC:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined $(PKG_CFLAGS) -Isrc
FUZZOBJ  := $(LIBSRC:src/%.c=$(B)/fuzz/obj/%.o)

$(B)/fuzz/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/libfuzzrelay.a: $(FUZZOBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/fuzz/%: tests/fuzz/%.c $(B)/fuzz/libfuzzrelay.a
	$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $< $(B)/fuzz/libfuzzrelay.a $(PKG_LIBS) -lz -lm -lcrypt

fuzz: $(FUZZBIN)
	@for f in $(FUZZBIN); do \
		n=$$(basename $$f | sed 's/^fuzz_//'); \
		mkdir -p $(B)/fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZTIME)s"; \
		$$f -max_total_time=$(FUZZTIME) -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$n- \
		    $(B)/fuzz/corpus/$$n tests/fuzz/seeds/$$n 2>&1 | \
		    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' || true; \
		ls $(B)/fuzz/$$n-crash-* $(B)/fuzz/$$n-leak-* 2>/dev/null && exit 1; \
	done; echo "fuzz: no crashes"

# make bench: relayd against Postfix on loopback, side by side (tests/bench/run.sh; not part
# of make test). About 15-20 minutes with the defaults on 2 cores; prints the table and
# writes it to build/bench/results.md. BENCH_ONLY=accept,tls,big,idle,bigq,fsync,profile,baseline,
# events,webhook,shared runs only those parts (events: accepts with the event journal off and on;
# webhook: events delivered per second to a local receiver; shared: several relayd sharing an
# account through Redis).
BENCH_COUNT    ?= 10000
BENCH_RUNS     ?= 3
BENCH_SESSIONS ?= 1 10 50
BENCH_BIG      ?= 200
BENCH_IDLE     ?= 10000
BENCH_QUEUED   ?= 1000000
BENCH_ONLY     ?=
BENCH_TIMEOUT  ?= 2400
.PHONY: bench
bench:
	@sh contrib/deps.sh --bench
	@$(MAKE) --no-print-directory all
	BENCH_TIMEOUT=$(BENCH_TIMEOUT) sh tests/bench/run.sh --count $(BENCH_COUNT) \
	    --runs $(BENCH_RUNS) --sessions "$(BENCH_SESSIONS)" --big-count $(BENCH_BIG) \
	    --idle $(BENCH_IDLE) --queued $(BENCH_QUEUED) --only "$(BENCH_ONLY)"

clean:
	rm -rf $(B)

# make install: the programs, the man pages, the sample config as
# share/doc/relayd/relay.conf.example (never anything in /etc: copy it to
# /etc/relayd/relay.conf yourself) and contrib/ under share/doc/relayd/contrib. With
# PREFIX=/usr (a package, or a system-wide install) also the systemd unit, sysusers and
# tmpfiles files where systemd looks for them; the unit runs $(PREFIX)/sbin/relayd.
MAN5     := contrib/man/relay.conf.5
MAN8     := contrib/man/relayd.8 contrib/man/relayctl.8 contrib/man/relay-sendmail.8
CONTRIB  := contrib/relayd.service contrib/relayd.sysusers contrib/relayd.tmpfiles \
            contrib/relayd.logrotate contrib/relayd.rsyslog contrib/DEBIAN.md
DOCDIR   := $(DESTDIR)$(PREFIX)/share/doc/relayd
UNITDIR  ?= /lib/systemd/system

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 $(DOCDIR)/contrib
	install -m 0755 $(B)/relayd $(DESTDIR)$(PREFIX)/sbin/relayd
	install -m 0755 $(B)/relay-sendmail $(DESTDIR)$(PREFIX)/sbin/relay-sendmail
	install -m 0755 $(B)/relayctl $(DESTDIR)$(PREFIX)/bin/relayctl
	install -m 0644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(MAN8) $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 etc/relay.conf $(DOCDIR)/relay.conf.example
	install -m 0644 README.md $(DOCDIR)/README.md
	install -m 0644 $(CONTRIB) $(DOCDIR)/contrib/
ifeq ($(PREFIX),/usr)
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)/usr/lib/sysusers.d $(DESTDIR)/usr/lib/tmpfiles.d
	install -m 0644 contrib/relayd.service $(DESTDIR)$(UNITDIR)/relayd.service
	install -m 0644 contrib/relayd.sysusers $(DESTDIR)/usr/lib/sysusers.d/relayd.conf
	install -m 0644 contrib/relayd.tmpfiles $(DESTDIR)/usr/lib/tmpfiles.d/relayd.conf
endif

-include $(wildcard $(B)/obj/*.d) $(wildcard $(B)/tests/*.d)
