# dnsrouter -- one GNU Makefile: make, make test, make demo, make bench, make install PREFIX=DIR
#
#   make            build build/dnsrouter
#   make SAN=1      the same with AddressSanitizer + UndefinedBehaviorSanitizer, in build-san/
#   make deps       install every Debian package the build, tests, demo and benchmark need
#   make test       deps, then unit + integration tests, plain and under the sanitizers, and fuzz
#   make demo       two Knot backends behind dnsrouter on 127.0.0.1:5353 (make demo-stop)
#   make bench      dnsperf against Knot directly, dnsrouter and dnsdist; curveperf against
#                   CurveDNS and dnsrouter's DNSCurve front

PREFIX  ?= /usr/local
CC      ?= gcc
PKGS    := libpcre2-8 yaml-0.1 liburcu-qsbr libmicrohttpd libcurl jansson libsodium libfstrm
PYTHON  := /usr/bin/python3

ifeq ($(SAN),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT     := -O1
else
BUILD   := build
SANFLAGS :=
OPT     := -O2
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Werror=implicit -Werror=format-security
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) -Isrc -MMD -MP $(PKG_CFLAGS)
LDLIBS  = $(PKG_LIBS) -lpthread

SRCS    := $(shell find src -name '*.c' ! -name main.c | sort)
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libdnsrouter.a
BIN     := $(BUILD)/dnsrouter
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# dnsrouter-split (split/): cuts a signed zone into shard zone files and the shards route;
# Knot's zone parser and dumper, OpenSSL's SHA-256 for the manifest.
SPLIT_PKGS := libzscanner libknot libcrypto libcurl
SPLIT_SRCS := $(wildcard split/*.c)
SPLIT_OBJS := $(SPLIT_SRCS:%.c=$(BUILD)/%.o)
SPLIT   := $(BUILD)/dnsrouter-split
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# Debian packages: build, unit tests, integration tests, demo, benchmark.
DEPS_BUILD := gcc make pkg-config python3 libfstrm-dev libpcre2-dev libyaml-dev liburcu-dev libmicrohttpd-dev \
              libcurl4-openssl-dev libjansson-dev libsodium-dev libknot-dev libssl-dev
DEPS_TEST  := libcmocka-dev knot knot-module-geoip knot-dnsutils bind9-dnsutils python3-pytest python3-dnspython python3-prometheus-client pdns-server pdns-backend-bind \
              clang libclang-rt-14-dev iproute2 procps util-linux etcd-server etcd-client \
              dq curvedns python3-nacl ldnsutils bind9-utils unbound nsd systemd man-db \
              chromium python3-websocket fonts-dejavu-core dnstap-ldns
DEPS_PACKAGE := debhelper dpkg-dev lintian
DEPS_BENCH := dnsperf dnsdist util-linux valgrind curvedns
DEPS_ALL   := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_PACKAGE) $(DEPS_BENCH)

.PHONY: all deps test unit integration test-san fuzz bench demo demo-stop install lint clean \
	package

YAML5   := $(BUILD)/dnsrouter.yaml.5

all: $(BIN) $(SPLIT) $(YAML5)

# dnsrouter.yaml(5) is the README's configuration reference, so the two cannot disagree.
$(YAML5): README.md doc/yaml5.py
	@mkdir -p $(dir $@)
	/usr/bin/python3 doc/yaml5.py README.md > $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The status page is assembled into the binary from its HTML file.
$(BUILD)/src/admin/page.o: src/admin/status_page.html
$(BUILD)/src/admin/page.o: ALL_CFLAGS += -DSTATUS_PAGE_FILE='"src/admin/status_page.html"'

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(SPLIT_OBJS): ALL_CFLAGS += $(shell pkg-config --cflags $(SPLIT_PKGS) 2>/dev/null)

$(SPLIT): $(SPLIT_OBJS) $(BUILD)/src/common/base64.o
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(SPLIT_PKGS) 2>/dev/null)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Load tools: the flood generator (integration tests, bench) and the bench's floor, a minimal
# UDP forwarder the bench measures dnsrouter against (always -O2, no sanitizers), libc only;
# curveperf, the DNSCurve load generator (integration tests, bench), on the router's own
# DNSCurve codec in $(LIB) and libsodium.
FLOOD   := $(BUILD)/flood
FLOOR   := $(BUILD)/bench-floor
ALLOCOUNT := $(BUILD)/allocount.so
CURVEPERF := $(BUILD)/curveperf
CURVEPERF_SRCS := $(sort $(wildcard bench/curveperf/*.c))
CURVEPERF_OBJS := $(CURVEPERF_SRCS:%.c=$(BUILD)/%.o)
.PHONY: tools
tools: $(FLOOD) $(FLOOR) $(CURVEPERF)

$(FLOOD): tests/tools/flood.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) -o $@ $<

# Not sanitized: it puts glibc's allocator under the router, and a sanitizer brings its own.
$(ALLOCOUNT): tests/tools/allocount.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN) -shared -fPIC -o $@ $<

$(FLOOR): bench/floor.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $<

$(CURVEPERF): $(CURVEPERF_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(CURVEPERF_OBJS) $(LIB) $(LDLIBS)

# Install only what is missing, so a machine that has everything is not touched.
deps:
	@missing=""; for p in $(DEPS_ALL); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; CMOCKA_MESSAGE_OUTPUT=TAP $$t; done

integration: $(BIN) $(FLOOD) $(CURVEPERF) $(SPLIT) $(YAML5) $(ALLOCOUNT)
	DNSROUTER_BIN=$(abspath $(BIN)) FLOOD_BIN=$(abspath $(FLOOD)) SPLIT_BIN=$(abspath $(SPLIT)) \
	  CURVEPERF_BIN=$(abspath $(CURVEPERF)) ALLOCOUNT_SO=$(abspath $(ALLOCOUNT)) $(PYTHON) -m pytest -q tests/integration

test-san:
	$(MAKE) SAN=1 unit integration

fuzz:
	$(MAKE) -C fuzz run

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) test-san
	$(MAKE) fuzz

bench: deps all $(FLOOD) $(FLOOR) $(CURVEPERF)
	FLOOD_BIN=$(abspath $(FLOOD)) FLOOR_BIN=$(abspath $(FLOOR)) \
	  CURVEPERF_BIN=$(abspath $(CURVEPERF)) bash bench/run.sh

demo: deps all
	bash scripts/demo.sh start

demo-stop:
	bash scripts/demo.sh stop

install: $(BIN) $(SPLIT) $(YAML5)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/dnsrouter
	install -m 0644 doc/dnsrouter.8 $(DESTDIR)$(PREFIX)/share/man/man8/dnsrouter.8
	install -d $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0644 $(YAML5) $(DESTDIR)$(PREFIX)/share/man/man5/dnsrouter.yaml.5
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(SPLIT) $(DESTDIR)$(PREFIX)/bin/dnsrouter-split
	install -m 0644 doc/dnsrouter-split.1 $(DESTDIR)$(PREFIX)/share/man/man1/dnsrouter-split.1

# The Debian package, built from a copy of the tree (so the tree stays clean) with
# dpkg-buildpackage; the .deb lands in build/package/.
PKG_VERSION = $(shell dpkg-parsechangelog -S Version)
PKG_DIR     = $(BUILD)/package/dnsrouter-$(PKG_VERSION)
package:
	rm -rf $(BUILD)/package && mkdir -p $(PKG_DIR)
	tar --exclude=./build --exclude=./build-san --exclude=./fuzz/build --exclude=./.git \
		-cf - . | tar -xf - -C $(PKG_DIR)
	cd $(PKG_DIR) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(BUILD)/package/dnsrouter_$(PKG_VERSION)_*.deb

lint:
	clang-format --dry-run --Werror $(shell find src split tests/unit fuzz -name '*.[ch]')

clean:
	rm -rf build build-san

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(CURVEPERF_OBJS:.o=.d) $(SPLIT_OBJS:.o=.d)
