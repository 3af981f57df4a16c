# guerrillad - plain POSIX make (GNU make and BSD make alike).
#
#   make            build ./guerrillad and libguerrilla.a
#   make run        build, then serve run.conf (127.0.0.1:2525, Maildir in ./mail)
#   make test       unit and integration tests; SAN=1 for ASan+UBSan
#   make test-musl  the same against a static musl build (tests/cross.sh)
#   make test-aarch64  the same against an aarch64 build, under qemu-aarch64
#   make install    PREFIX=/usr/local DESTDIR=
#
# Overridable: CC AR CFLAGS LDFLAGS PREFIX DESTDIR BEARSSL_CFLAGS BEARSSL_LIBS
# ZLIB_CFLAGS ZLIB_LIBS (e.g. BEARSSL_CFLAGS=-I/usr/local/include on the BSDs)
# STATIC_DEPS=1 (see below).

CC ?= cc
CFLAGS = -O2 -g
WARN = -std=c99 -Wall -Wextra -Wpedantic -Werror
PREFIX = /usr/local
DESTDIR =
BEARSSL_CFLAGS =
BEARSSL_LIBS = -lbearssl
ZLIB_CFLAGS =
ZLIB_LIBS = -lz
AR = ar
SAN =
SAN_FLAGS_1 = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANFLAGS = $(SAN_FLAGS_$(SAN))

# STATIC_DEPS=1 links BearSSL and zlib statically (GNU ld, lld: Linux and
# the BSDs, not macOS): only the parts used are loaded, which saves about
# 0.4 MiB of RSS at start and the two shared libraries on a small box.
STATIC_DEPS =
DEPLIBS_ = $(BEARSSL_LIBS) $(ZLIB_LIBS)
DEPLIBS_1 = -Wl,-Bstatic $(BEARSSL_LIBS) $(ZLIB_LIBS) -Wl,-Bdynamic

ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(BEARSSL_CFLAGS) $(ZLIB_CFLAGS) -I.
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LIBS = $(DEPLIBS_$(STATIC_DEPS)) -lpthread

# The library, by area (each list grows on its own line).
CORE_OBJS = compat.o buf.o json.o log.o config.o envelope.o mime.o \
	deflate.o smtp.o proxy.o backend.o server.o server_ctl.o guerrilla.o
TLS_OBJS = tls.o
PROC_OBJS = processors/builtins.o processors/p_headersparser.o \
	processors/p_header.o processors/p_hasher.o processors/p_debugger.o \
	processors/p_maildir.o
STORE_OBJS = processors/p_compressor.o processors/p_wildcard.o \
	processors/p_redis.o processors/p_fastcgi.o \
	processors/mysql_proto.o processors/p_sql.o processors/stores.o \
	processors/p_guerrilladbredis.o
LIBOBJS = $(CORE_OBJS) $(TLS_OBJS) $(PROC_OBJS) $(STORE_OBJS)

TESTS = tests/t_json tests/t_config tests/t_smtp tests/t_mime tests/t_proc \
	tests/t_proxy tests/t_api tests/t_sql tests/t_store tests/t_tls \
	tests/t_reload tests/t_server tests/t_example

all: guerrillad libguerrilla.a

# Objects are rebuilt when the flags change (SAN=1 and back).
.flags: FORCE
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - .flags || echo '$(CC) $(ALL_CFLAGS)' > .flags
FORCE:

.SUFFIXES: .c .o
.c.o:
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

HDRS = compat.h buf.h json.h log.h config.h envelope.h smtp.h backend.h server.h proxy.h tls.h \
	guerrilla.h server_int.h processors/builtins.h
$(LIBOBJS) guerrillad.o: .flags $(HDRS)

# The version comes from git at build time (OPS-03); "unknown" outside git.
guerrilla.o: guerrilla.c .flags
	$(CC) $(ALL_CFLAGS) -DGD_VERSION="\"$$(git describe --tags --always --dirty 2>/dev/null || echo unknown)\"" \
	    -DGD_BUILD_TIME="\"$$(date -u +%Y-%m-%dT%H:%M:%SZ)\"" -c -o $@ guerrilla.c

libguerrilla.a: $(LIBOBJS)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJS)

guerrillad: guerrillad.o libguerrilla.a
	$(CC) $(ALL_LDFLAGS) -o $@ guerrillad.o libguerrilla.a $(LIBS)

# The daemon linked as STATIC_DEPS=1 links it, beside the default one (for
# bench/idle.py, which reports both).
guerrillad-static: guerrillad.o libguerrilla.a
	$(CC) $(ALL_LDFLAGS) -o $@ guerrillad.o libguerrilla.a $(DEPLIBS_1) -lpthread

tests/t_json: tests/t_json.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_json.c libguerrilla.a $(LIBS)
tests/t_config: tests/t_config.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_config.c libguerrilla.a $(LIBS)
tests/t_smtp: tests/t_smtp.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_smtp.c libguerrilla.a $(LIBS)
tests/t_mime: tests/t_mime.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_mime.c libguerrilla.a $(LIBS)
tests/t_proc: tests/t_proc.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_proc.c libguerrilla.a $(LIBS)
tests/t_api: tests/t_api.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_api.c libguerrilla.a $(LIBS)
tests/t_reload: tests/t_reload.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_reload.c libguerrilla.a $(LIBS)
tests/t_server: tests/t_server.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_server.c libguerrilla.a $(LIBS)
tests/t_store: tests/t_store.c tests/t.h processors/stores.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_store.c libguerrilla.a $(LIBS)
tests/t_tls: tests/t_tls.c tests/t.h tls.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_tls.c libguerrilla.a $(LIBS)
tests/t_proxy: tests/t_proxy.c tests/t.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_proxy.c libguerrilla.a $(LIBS)
tests/t_sql: tests/t_sql.c tests/t.h processors/mysql_proto.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_sql.c libguerrilla.a $(LIBS)
processors/mysql_proto.o processors/p_sql.o: processors/mysql_proto.h
processors/stores.o processors/p_redis.o processors/p_sql.o \
    processors/p_guerrilladbredis.o: processors/stores.h processors/mysql_proto.h

# Each installs what it lacks (apt-get as root on Debian/Ubuntu) or says
# exactly what to run.
deps-build:
	@CC='$(CC)' sh tests/deps.sh build
deps-test:
	@CC='$(CC)' sh tests/deps.sh test

# An out-of-tree processor (guerrilla.h only) and its byte-for-byte test.
examples/stamp.o: examples/stamp.c guerrilla.h .flags
	$(CC) $(ALL_CFLAGS) -c -o $@ examples/stamp.c
tests/t_example: tests/t_example.c tests/t.h examples/stamp.o libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/t_example.c \
	    examples/stamp.o libguerrilla.a $(LIBS)

examples/embed: examples/embed.c guerrilla.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ examples/embed.c libguerrilla.a $(LIBS)

# The library plus one test processor, for test_spec9.py (SPEC 3.13 rows).
tests/spec9_host: tests/spec9_host.c guerrilla.h libguerrilla.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ tests/spec9_host.c libguerrilla.a $(LIBS)

# deps-* first, then the rest: under make -j prerequisites run side by
# side, and nothing may build or test before its packages are there.
test: deps-test
	@$(MAKE) test-nodeps

# The suite without the deps.sh check: for builds whose compiler or
# libraries are not the system's (tests/cross.sh).  GD_EXEC_WRAPPER in the
# environment (e.g. qemu-aarch64) runs the built programs under it.
test-nodeps: guerrillad $(TESTS) examples/embed tests/spec9_host
	@sh tests/run.sh $(TESTS)

# Another libc or CPU, each in its own copy of the tree under cross/ (the
# objects here are left alone); see tests/cross.sh and README.
test-musl: FORCE
	@sh tests/cross.sh musl
test-aarch64: FORCE
	@sh tests/cross.sh aarch64

# libFuzzer targets (clang, ASan+UBSan), FUZZ_SECONDS each; see fuzz/fuzz.sh.
# FORCE, not .PHONY: the directory fuzz/ exists.
FUZZ_SECONDS = 60
fuzz: FORCE
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' sh fuzz/fuzz.sh

run: deps-build
	@$(MAKE) guerrillad
	./guerrillad serve -c run.conf

# Speed, side by side with Postfix's smtp-sink (bench/run.py); QUICK=1: a tenth,
# SCENARIOS=a,e: only those, WORKERS=n: guerrillad's save_workers_size.
bench: guerrillad FORCE
	QUICK='$(QUICK)' IO_THREADS='$(IO_THREADS)' SCENARIOS='$(SCENARIOS)' \
	WORKERS='$(WORKERS)' python3 bench/run.py

MANDIR = $(PREFIX)/share/man
EXAMPLESDIR = $(PREFIX)/share/examples/guerrillad

install: guerrillad libguerrilla.a
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(EXAMPLESDIR)
	cp guerrillad $(DESTDIR)$(PREFIX)/bin/guerrillad
	chmod 755 $(DESTDIR)$(PREFIX)/bin/guerrillad
	cp libguerrilla.a $(DESTDIR)$(PREFIX)/lib/libguerrilla.a
	cp guerrilla.h $(DESTDIR)$(PREFIX)/include/guerrilla.h
	cp man/guerrillad.8 $(DESTDIR)$(MANDIR)/man8/guerrillad.8
	cp man/guerrillad.conf.5 $(DESTDIR)$(MANDIR)/man5/guerrillad.conf.5
	cp sample.conf $(DESTDIR)$(EXAMPLESDIR)/sample.conf
	cp contrib/guerrillad.service contrib/guerrillad.rc $(DESTDIR)$(EXAMPLESDIR)/
	chmod 644 $(DESTDIR)$(PREFIX)/lib/libguerrilla.a \
	    $(DESTDIR)$(PREFIX)/include/guerrilla.h \
	    $(DESTDIR)$(MANDIR)/man8/guerrillad.8 \
	    $(DESTDIR)$(MANDIR)/man5/guerrillad.conf.5 \
	    $(DESTDIR)$(EXAMPLESDIR)/sample.conf

clean:
	rm -f guerrillad guerrillad-static guerrillad.o libguerrilla.a $(LIBOBJS) $(TESTS) .flags
	rm -f examples/embed examples/stamp.o tests/spec9_host
	rm -rf tests/tmp

.PHONY: all test test-nodeps run install clean deps-build deps-test FORCE
