#!/usr/bin/env python3
"""SPEC section 9 (reply catalogue): one raw-socket transcript per row.

Every row of SPEC 9, every outcome of the SPEC 3.13 table it refers to, and
the GG oracles quoted in SMTP-35 and CFG-06, with the test that sends the
bytes and asserts the exact reply lines.  "here::" is this file; other
files are named file::test.  Rows marked NEW were not covered by an exact
transcript before this file.

 row (SPEC 9)                              test
 ----------------------------------------  ----------------------------------
 greeting 220 <host> SMTP Guerrilla(...)   here::row_220_greeting (NEW: exact
                                           version, id, count, clock);
                                           test_protocol::greeting_format
 HELO ok 250 <host> Hello                  test_protocol::ehlo_helo_replies
 EHLO ok multi-line (SMTP-18)              test_protocol::ehlo_helo_replies;
                                           here::row_250_ehlo_help_starttls
                                           (NEW: exact, with 250-STARTTLS,
                                           and without it after TLS)
 HELO/EHLO syntax 550 5.5.2                test_protocol::ehlo_helo_replies
 MAIL ok 250 2.1.0 OK                      test_protocol::sequence_errors
 RSET 250 2.1.0 OK                         test_protocol::simple_commands
 XCLIENT 250 2.1.0 OK                      test_protocol::xclient_when_enabled
 nested MAIL 503 5.5.1                     test_protocol::sequence_errors
 bad address 501 5.5.4 Invalid address     test_protocol::address_errors
 [DEV] unknown parameter 555 5.5.4         test_protocol::mail_parameters
 path too long 550 5.5.4                   test_protocol::address_errors
 local part too long 550 5.5.4             test_protocol::address_errors
 domain too long 550 5.5.4 Domain ...      here::row_550_domain_too_long_is_path
                                           (NEW: cannot be reached; see there)
 SIZE too big 552 5.3.4                    test_protocol::mail_parameters,
                                           test_limits::max_size_boundary
 [DEV] SIZE not numeric 501 5.5.4          test_protocol::mail_parameters
 [DEV] RCPT without MAIL 503 5.5.1         test_protocol::sequence_errors
 RCPT ok 250 2.1.5 OK                      test_protocol::relay_and_postmaster
 too many recipients 452 4.5.3             test_protocol::recipient_limit_100
 relay denied 454 4.1.1                    test_protocol::relay_and_postmaster
 rcpt rejected 550 5.1.1 User unknown ...  test_backend::validate_maildir_users,
                                           here::row_550_451_rcpt_rejected
 [DEV] rcpt temporary 451 4.3.0 Error:     here::row_550_451_rcpt_rejected
                                           (NEW without a store server; also
                                           test_redis, test_fastcgi)
 [DEV] DATA without MAIL 503 No sender     test_protocol::sequence_errors
 DATA without RCPT 503 No recipients       test_protocol::sequence_errors
 DATA start 354                            test_protocol::relay_and_postmaster
 queued 250 2.0.0 OK: queued as <id>       test_protocol::relay_and_postmaster
 [DEV] message too big 552 5.3.4           test_limits::max_size_boundary,
                                           test_limits::oversize_flood_gets_552_and_close
 DATA read error 451 4.3.0 + close         here::row_451_data_read_error (NEW:
                                           exact; the older tests allow a
                                           bare close), here::row_451_data_timeout
                                           (NEW; was a bare close, fixed)
 backend failures (3.13), one per outcome:
   chain finished: queued as <id>          test_protocol::relay_and_postmaster
   processor's own result, verbatim        here::row_313_own_result (NEW);
                                           test_fastcgi (needs php-fpm)
   error, text starts with 3 digits        here::row_313_error_with_code (NEW)
   error, other text: 554 5.5.0 Error:     here::row_313_error_text (NEW)
   processor fault: storage failed         test_backend::processor_fault_storage_failed
   neither: 554 5.5.0 ... no response      here::row_313_no_result (NEW)
   [DEV] save timeout 451 4.3.0            test_backend::save_timeout_451_then_session_continues
   [DEV] backend not running 451 4.3.0     not reachable over a socket: the
                                           backend only stops after every
                                           server is gone (guerrilla.c
                                           gd_shutdown); see the report
   SMTP-57 [DEV] CR/LF stripped            here::row_313_reply_injection (NEW)
 VRFY 252 2.5.0                            test_protocol::simple_commands
 NOOP [DEV] 250 2.0.0 OK                   test_protocol::simple_commands
 HELP [DEV] 214 (SMTP-39)                  test_protocol::simple_commands,
                                           test_protocol::xclient_when_enabled,
                                           here::row_250_ehlo_help_starttls
                                           (NEW: with STARTTLS appended)
 QUIT 221 2.0.0 Bye                        test_protocol::simple_commands
 STARTTLS 220 2.0.0 Ready to start TLS     test_tls::starttls_twice_503_and_state_reset,
                                           here::row_250_ehlo_help_starttls
 [DEV] STARTTLS again 503 5.5.1            test_tls::starttls_twice_503_and_state_reset,
                                           here::row_250_ehlo_help_starttls,
                                           here::row_503_starttls_on_smtps (NEW)
 unrecognised 554 5.5.1 / 5th + close      test_protocol::unrecognised_commands_close
 line too long 554 5.5.1 + close           test_protocol::line_length_limit
 shutdown 421 4.3.0 ... Sayonara! + close  test_shutdown::sigterm_with_uploads_in_flight
                                           (and the other sigterm_* tests)
 [DEV] idle timeout 421 4.4.2 + close      test_limits::idle_timeout_421,
                                           test_limits::trickled_command_is_cut
 [DEV] too many connections 421 4.7.0      test_limits::max_clients_answers_421
 SMTP-35 oracles (127/128 ok, 129 no,      here::smtp35_gg_oracles (NEW: exact
 256-octet path passes)                    replies; test_protocol::address_errors
                                           only checked "not Path too long")
 CFG-06 oracles                            here::cfg06_gg_oracles,
                                           here::cfg06_star_and_dot (NEW over a
                                           socket; tests/t_config.c has them
                                           as unit tests)
"""
import datetime
import os
import re
import shutil
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import *  # noqa: E402,F401,F403

HOST_BIN = os.path.join(ROOT, "tests", "spec9_host")
QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"
EHLO_BASE = ["250-mx.test Hello", "250-SIZE 10485760", "250-PIPELINING",
             "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250 HELP"]
HELP_END = "214 2.0.0 End of HELP info"
HELP_CMDS = "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"


def transcript(c, data, want):
    """Send data (exact bytes) and expect exactly the reply lines want."""
    c.send(data)
    got = [c.readline() for _ in want]
    check(got == want, "sent %r: expected %r, got %r" % (data, want, got))


# ------------------------------------------------------------ greeting


@test
def row_220_greeting():
    rc, out = run_cmd(target_cmd([BINARY, "version"]))
    check(rc == 0 and out.startswith("guerrillad "), "version: %r" % out)
    version = out.split()[1]
    d = Daemon()
    c1 = d.client()
    c2 = d.client()
    now = datetime.datetime.now(datetime.timezone.utc)
    for n, c in ((1, c1), (2, c2)):
        m = re.fullmatch(r"220 mx\.test SMTP Guerrilla\((.*)\) #(\d+) "
                         r"\((\d+)\) (\S+)", c.greeting)
        check(m is not None, "greeting %r" % c.greeting)
        check(m.group(1) == version, "version %r, binary says %r" %
              (m.group(1), version))
        check(m.group(2) == str(n) and m.group(3) == str(n),
              "client %d: id/active in %r" % (n, c.greeting))
        ts = m.group(4)
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
                           r"(Z|[+-]\d\d:\d\d)", ts), "time %r" % ts)
        when = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S%z")
        check(abs((when - now).total_seconds()) < 60,
              "greeting clock %s is not now (%s)" % (ts, now.isoformat()))
    transcript(c1, b"QUIT\r\n", ["221 2.0.0 Bye"])
    c1.expect_eof()
    # the active count went down; the id keeps counting
    c3 = d.client()
    m = re.match(r"220 mx\.test SMTP Guerrilla\(.*\) #3 \((\d)\) ",
                 c3.greeting)
    check(m is not None, "third greeting %r" % c3.greeting)
    # c1 may still be counted for a moment after its close
    check(m.group(1) in ("2", "3"), "third greeting %r" % c3.greeting)
    c2.close()
    c3.close()
    d.stop()


# ------------------------------------------------------------ addresses


@test
def row_550_domain_too_long_is_path():
    # "550 5.5.4 Domain cannot exceed 255 characters" cannot be seen on
    # the wire: SMTP-35 checks the 256-octet path first, and <x@D> with
    # len(D) >= 256 is at least 260 octets.  GG (which measures the whole
    # argument) cannot reach it either.  What a client gets is the path
    # error; the longest domain that fits (252) is accepted.
    d = Daemon(overrides={"allowed_hosts": ["*"]})
    with d.client() as c:
        dom256 = ".".join(["d" * 63] * 4)            # 255 octets
        dom256 = "e" + dom256                         # 256 octets
        check(len(dom256) == 256, "test bug")
        transcript(c, b"MAIL FROM:<x@%s>\r\n" % dom256.encode(),
                   ["550 5.5.4 Path too long"])
        dom252 = "f" * 60 + "." + ".".join(["g" * 63] * 3)
        check(len(dom252) == 252, "test bug")
        check(len("<x@%s>" % dom252) == 256, "test bug")
        transcript(c, b"MAIL FROM:<x@%s>\r\n" % dom252.encode(),
                   ["250 2.1.0 OK"])
        transcript(c, b"RCPT TO:<x@%s>\r\n" % dom256.encode(),
                   ["550 5.5.4 Path too long"])
        transcript(c, b"RCPT TO:<x@%s>\r\n" % dom252.encode(),
                   ["250 2.1.5 OK"])
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
        c.expect_eof()
    d.stop()


@test
def smtp35_gg_oracles():
    d = Daemon(overrides={"allowed_hosts": ["grr.la"]})
    with d.client() as c:
        lp = "550 5.5.4 Local part too long, cannot exceed 64 characters"
        # 127 x a @grr.la accepted, 129 refused (GG), 128 is the limit
        transcript(c, b"MAIL FROM:<%s@grr.la>\r\n" % (b"a" * 129), [lp])
        transcript(c, b"MAIL FROM:<%s@grr.la>\r\n" % (b"a" * 127),
                   ["250 2.1.0 OK"])
        transcript(c, b"RCPT TO:<%s@grr.la>\r\n" % (b"a" * 129), [lp])
        transcript(c, b"RCPT TO:<%s@grr.la>\r\n" % (b"a" * 128),
                   ["250 2.1.5 OK"])
        transcript(c, b"RCPT TO:<%s@grr.la>\r\n" % (b"a" * 127),
                   ["250 2.1.5 OK"])
        transcript(c, b"RSET\r\n", ["250 2.1.0 OK"])
        # < + 64 a + @ + 186 b + .la > = 256 octets passes the length check
        path = b"<" + b"a" * 64 + b"@" + b"b" * 186 + b".la>"
        check(len(path) == 256, "test bug")
        transcript(c, b"MAIL FROM:" + path + b"\r\n", ["250 2.1.0 OK"])
        transcript(c, b"RSET\r\n", ["250 2.1.0 OK"])
        # [DEV] C measures only <...>: parameters do not count
        transcript(c, b"MAIL FROM:" + path + b" BODY=8BITMIME SIZE=1\r\n",
                   ["250 2.1.0 OK"])
        transcript(c, b"RSET\r\n", ["250 2.1.0 OK"])
        # one more octet is a path error
        path = b"<" + b"a" * 64 + b"@" + b"b" * 187 + b".la>"
        transcript(c, b"MAIL FROM:" + path + b"\r\n",
                   ["550 5.5.4 Path too long"])
        # order: a syntax error inside a 257-octet path is still "too long"
        transcript(c, b"MAIL FROM:<" + b"a" * 260 + b">\r\n",
                   ["550 5.5.4 Path too long"])
        # ... and a local part that is both too long and bad is a syntax
        # error (syntax before length)
        transcript(c, b"MAIL FROM:<" + b"a." * 70 + b"@grr.la>\r\n",
                   ["501 5.5.4 Invalid address"])
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
        c.expect_eof()
    d.stop()


# ------------------------------------------------------------ CFG-06


def relay(dom):
    return "454 4.1.1 Error: Relay access denied: %s" % dom


@test
def cfg06_gg_oracles():
    d = Daemon(overrides={"allowed_hosts": [
        "spam4.me", "grr.la", "newhost.com", "example.*", "*.test",
        "wild*.card", "multiple*wild*cards.*", "[::FFFF:C0A8:1]",
        "1.1.1.1", "lit?ral"]})
    ok = "250 2.1.5 OK"
    cases = [
        ("u@example.com", ok),
        ("u@another.example.com", relay("another.example.com")),
        ("u@anything.test", ok),
        ("u@wild.card", ok),
        ("u@wild.card.com", relay("wild.card.com")),
        ("u@multipleXwildXcards.com", ok),
        ("u@[192.168.0.1]", ok),
        ("u@[IPv6:::ffff:192.168.0.1]", ok),
        ("u@[192.168.0.2]", relay("192.168.0.2")),
        # an IPv6 literal is named in its stored, canonical form (SMTP-34)
        ("u@[IPv6:2001:DB8:0::1]", relay("2001:db8::1")),
        ("u@SPAM4.ME", ok),                     # case-insensitive
        ("u@grr.lab", relay("grr.lab")),
        ("u@1.1.1.1", ok),                      # a domain entry...
        ("u@[1.1.1.1]", relay("1.1.1.1")),      # ...not an IP
        ("u@lit?ral", None),                    # not a domain at all
        ("u@literal", relay("literal")),        # ? without * is literal
    ]
    with d.client() as c:
        transcript(c, b"MAIL FROM:<a@b.c>\r\n", ["250 2.1.0 OK"])
        for rcpt, want in cases:
            if want is None:
                want = "501 5.5.4 Invalid address"
            transcript(c, ("RCPT TO:<%s>\r\n" % rcpt).encode(), [want])
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
        c.expect_eof()
    d.stop()


@test
def cfg06_star_and_dot():
    for hosts, cases in (
            (["*"], [("u@any.where", True), ("u@[10.0.0.1]", True)]),
            (["."], [("u@whatever.org", True), ("u@[10.0.0.1]", True)]),
            ([".", "example.com"], [("u@whatever.org", False),
                                    ("u@example.com", True)])):
        d = Daemon(overrides={"allowed_hosts": hosts})
        with d.client() as c:
            transcript(c, b"MAIL FROM:<a@b.c>\r\n", ["250 2.1.0 OK"])
            for rcpt, good in cases:
                dom = rcpt.split("@")[1].strip("[]")
                transcript(c, ("RCPT TO:<%s>\r\n" % rcpt).encode(),
                           ["250 2.1.5 OK" if good else relay(dom)])
            transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
            c.expect_eof()
        d.stop()


# ------------------------------------------------------------ DATA


@test
def row_451_data_read_error():
    d = Daemon()
    c = d.client()
    transcript(c, b"MAIL FROM:<a@b.c>\r\nRCPT TO:<test@example.com>\r\n"
               b"DATA\r\nSubject: cut\r\n\r\nno terminator\r\n",
               ["250 2.1.0 OK", "250 2.1.5 OK", DATA_REPLY_354])
    c.sock.shutdown(socket.SHUT_WR)      # peer closed mid-DATA
    r = c.readline()
    check(r == "451 4.3.0 Error: connection closed", "got %r" % r)
    c.expect_eof()
    c.close()
    check(d.messages() == [], "a cut message was stored")
    d.stop()


@test
def row_451_data_timeout():
    # SMTP-49 lists a timeout among the DATA read errors; SMTP-59: the
    # per-line deadline fired, nothing is stored
    d = Daemon(overrides={"servers": [server_cfg(timeout=1)]})
    c = d.client()
    transcript(c, b"MAIL FROM:<a@b.c>\r\nRCPT TO:<test@example.com>\r\n"
               b"DATA\r\nSubject: slow\r\n\r\nhalf a li",
               ["250 2.1.0 OK", "250 2.1.5 OK", DATA_REPLY_354])
    t0 = time.monotonic()
    r = c.readline(timeout=6)
    el = time.monotonic() - t0
    check(r == "451 4.3.0 Error: timeout exceeded", "got %r" % r)
    check(0.7 <= el <= 3.0, "451 after %.2fs (timeout 1 s)" % el)
    c.expect_eof()
    c.close()
    check(d.messages() == [], "a timed-out message was stored")
    d.stop()


# ------------------------------------------------------------ TLS


def ec_cert(tmp):
    if shutil.which("openssl") is None:
        raise AssertionError("the openssl command is missing "
                             "(apt-get install openssl)")
    key = os.path.join(tmp, "k.pem")
    crt = os.path.join(tmp, "c.pem")
    rc, out = run_cmd(["openssl", "req", "-x509", "-newkey", "ec",
                       "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", crt, "-days", "2",
                       "-subj", "/CN=mx.test"], timeout=60)
    check(rc == 0, "openssl: %s" % out)
    return key, crt


@test
def row_250_ehlo_help_starttls():
    tmp = make_tmpdir()
    key, crt = ec_cert(tmp)
    d = Daemon(overrides={"servers": [server_cfg(tls={
        "start_tls_on": True, "private_key_file": key,
        "public_key_file": crt})]})
    c = d.client()
    transcript(c, b"EHLO client.example\r\n",
               EHLO_BASE[:3] + ["250-STARTTLS"] + EHLO_BASE[3:])
    transcript(c, b"HELP\r\n", [HELP_CMDS + " STARTTLS", HELP_END])
    transcript(c, b"STARTTLS\r\n", ["220 2.0.0 Ready to start TLS"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(c.sock, server_hostname="mx.test")
    tls.settimeout(SOCK_TIMEOUT)
    f = tls.makefile("rwb")

    def tx(data, want):
        f.write(data)
        f.flush()
        got = [f.readline() for _ in want]
        want = [w.encode() + b"\r\n" for w in want]
        check(got == want, "TLS %r: expected %r, got %r" % (data, want, got))
    tx(b"EHLO client.example\r\n", EHLO_BASE)
    tx(b"HELP\r\n", [HELP_CMDS, HELP_END])
    tx(b"STARTTLS\r\n", ["503 5.5.1 Error: TLS already active"])
    tx(b"QUIT\r\n", ["221 2.0.0 Bye"])
    tls.close()
    d.stop()


@test
def row_503_starttls_on_smtps():
    # SMTP-55 on an implicit-TLS session: already TLS, so not advertised
    # and refused; without start_tls_on the verb is not recognised at all
    tmp = make_tmpdir()
    key, crt = ec_cert(tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for start_tls_on, want in ((True, "503 5.5.1 Error: TLS already active"),
                               (False, "554 5.5.1 Unrecognized command")):
        d = Daemon(overrides={"servers": [server_cfg(tls={
            "tls_always_on": True, "start_tls_on": start_tls_on,
            "private_key_file": key, "public_key_file": crt})]})
        raw = socket.create_connection(("127.0.0.1", d.port),
                                       timeout=SOCK_TIMEOUT)
        tls = ctx.wrap_socket(raw, server_hostname="mx.test")
        f = tls.makefile("rwb")
        g = f.readline()
        check(g.startswith(b"220 mx.test SMTP Guerrilla("), "greeting %r" % g)
        for data, lines in ((b"EHLO client.example\r\n", EHLO_BASE),
                            (b"HELP\r\n", [HELP_CMDS, HELP_END]),
                            (b"STARTTLS\r\n", [want]),
                            (b"QUIT\r\n", ["221 2.0.0 Bye"])):
            f.write(data)
            f.flush()
            got = [f.readline() for _ in lines]
            lines = [x.encode() + b"\r\n" for x in lines]
            check(got == lines, "start_tls_on=%s %r: expected %r, got %r" %
                  (start_tls_on, data, lines, got))
        tls.close()
        d.stop()


# ------------------------------------------------------------ 3.13


class HostDaemon(Daemon):
    """tests/spec9_host (the library plus the Spec9 test processor) in
    place of guerrillad; same config, same harness."""

    def start(self, wait=10.0):
        check(os.path.exists(HOST_BIN), "%s is not built (make "
              "tests/spec9_host)" % HOST_BIN)
        saved = harness.BINARY
        harness.BINARY = HOST_BIN
        try:
            return Daemon.start(self, wait)
        finally:
            harness.BINARY = saved


def host_daemon(**bc):
    cfg = {"save_process": "HeadersParser|Hasher|Spec9|MailDir"}
    cfg.update(bc)
    return HostDaemon(overrides={"backend_config": cfg})


def one_message(c, rcpt, want):
    transcript(c, b"MAIL FROM:<a@b.c>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
               rcpt.encode(), ["250 2.1.0 OK", "250 2.1.5 OK",
                               DATA_REPLY_354])
    c.send(b"Subject: 3.13\r\n\r\nbody\r\n.\r\n")
    r = c.readline()
    if want.startswith("^"):
        check(re.fullmatch(want[1:], r), "%s: got %r" % (rcpt, r))
    else:
        check(r == want, "%s: expected %r, got %r" % (rcpt, want, r))
    # the transaction was reset, the session goes on (SMTP-51)
    transcript(c, b"RCPT TO:<test@example.com>\r\n",
               ["503 5.5.1 Error: need MAIL command"])


@test
def row_313_own_result():
    d = host_daemon()
    with d.client() as c:
        one_message(c, "reply@example.com", "550 5.7.1 Spec9: own reply")
        # the chain runs on after Spec9 for anyone else: queued
        one_message(c, "test@example.com", "^" + QUEUED_RE)
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
        c.expect_eof()
    check(len(d.messages("test")) == 1, "queued message not stored")
    check(not os.path.exists(d.maildir("reply")), "refused message stored")
    d.stop()


@test
def row_313_error_with_code():
    d = host_daemon()
    with d.client() as c:
        one_message(c, "digits@example.com",
                    "451 4.7.1 Spec9: error text with its own code")
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    check(not os.path.exists(d.maildir("digits")), "refused message stored")
    d.stop()


@test
def row_313_error_text():
    d = host_daemon()
    with d.client() as c:
        one_message(c, "text@example.com", "554 5.5.0 Error: disk on fire")
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    check(not os.path.exists(d.maildir("text")), "refused message stored")
    d.stop()


@test
def row_313_no_result():
    d = host_daemon()
    with d.client() as c:
        one_message(c, "none@example.com",
                    "554 5.5.0 Error: no response from backend - processor "
                    "did not return a result or an error")
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    check(not os.path.exists(d.maildir("none")), "refused message stored")
    d.stop()


@test
def row_313_reply_injection():
    # SMTP-57 [DEV]: CR and LF in a processor's reply are removed, so the
    # client sees one line, not a forged second reply
    d = host_daemon()
    with d.client() as c:
        one_message(c, "inject@example.com", "250 2.0.0 OK250 injected")
        transcript(c, b"NOOP\r\n", ["250 2.0.0 OK"])
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
        c.expect_eof()
    d.stop()


@test
def outcome_classes_after_data():
    """One save per outcome class of the Spec9 processor: the reply comes
    from the class; a text that is a whole reply of that class is sent as
    it is, any other text fills the class's reply, and a failure can never
    be answered with a success code."""
    d = host_daemon()
    with d.client() as c:
        one_message(c, "temp@example.com",
                    "451 4.3.0 Error: storage not available")
        one_message(c, "digits@example.com",
                    "451 4.7.1 Spec9: error text with its own code")
        one_message(c, "fake@example.com", "451 4.3.0 Error: 250 2.0.0 OK")
        one_message(c, "perm@example.com", "554 5.5.0 Error: storage failed")
        one_message(c, "text@example.com", "554 5.5.0 Error: disk on fire")
        one_message(c, "none@example.com", "554 5.5.0 Error: no response "
                    "from backend - processor did not return a result or "
                    "an error")
        one_message(c, "done@example.com", "250 2.0.0 OK: kept as 42")
        one_message(c, "test@example.com", "^" + QUEUED_RE)
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    # Spec9 stopped the chain for all but the last: MailDir never ran
    for who in ("temp", "fake", "perm", "none", "done"):
        check(not os.path.exists(d.maildir(who)), "%s stored" % who)
    check(len(d.messages("test")) == 1, "queued message not stored")
    d.stop()


@test
def outcome_classes_after_rcpt():
    """One validation per outcome class of the Spec9 processor."""
    d = host_daemon(validate_process="Spec9")
    with d.client() as c:
        transcript(c, b"MAIL FROM:<a@b.c>\r\n", ["250 2.1.0 OK"])
        for rcpt, want in (
                ("vtemp", "451 4.3.0 Error: storage not available"),
                ("busy", "451 4.3.0 Error: storage too busy"),
                ("vperm", "550 5.1.1 User unknown in local recipient "
                 "table no such user"),
                ("refuse", "553 5.7.1 Spec9: not here"),
                ("vnone", "451 4.3.0 Error: storage error"),
                ("test", "250 2.1.5 OK")):
            transcript(c, b"RCPT TO:<%s@example.com>\r\n" % rcpt.encode(),
                       [want])
        # only the accepted recipient is left
        transcript(c, b"DATA\r\n", [DATA_REPLY_354])
        c.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        r = c.readline()
        check(re.fullmatch(QUEUED_RE, r), "save %r" % r)
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    check(len(d.messages("test")) == 1, "message not stored")
    check(not os.path.exists(d.maildir("vtemp")), "refused rcpt stored")
    d.stop()


@test
def slow_inline_chain_obeys_save_timeout():
    """Spec9 is nonblocking, so its chain runs on the I/O loop; when it
    takes longer than gw_save_timeout the client gets the timeout reply,
    as for a worker's run, never the 250."""
    d = host_daemon(save_process="Spec9", gw_save_timeout="300ms")
    with d.client() as c:
        one_message(c, "spin@example.com",
                    "451 4.3.0 Error: transaction timeout")
        one_message(c, "test@example.com", "^" + QUEUED_RE)
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    d.stop()


@test
def row_550_451_rcpt_rejected():
    d = host_daemon(validate_process="Spec9")
    with d.client() as c:
        transcript(c, b"MAIL FROM:<a@b.c>\r\n", ["250 2.1.0 OK"])
        transcript(c, b"RCPT TO:<unknown@example.com>\r\n",
                   ["550 5.1.1 User unknown in local recipient table "
                    "no such user"])
        # [DEV] a temporary reason is a 451 (SMTP-31, GAP-06)
        transcript(c, b"RCPT TO:<busy@example.com>\r\n",
                   ["451 4.3.0 Error: storage too busy"])
        # refused recipients were removed again: DATA needs an accepted one
        transcript(c, b"DATA\r\n", ["503 5.5.1 Error: No recipients"])
        transcript(c, b"RCPT TO:<test@example.com>\r\n", ["250 2.1.5 OK"])
        transcript(c, b"DATA\r\n", [DATA_REPLY_354])
        c.send(b"Subject: v\r\n\r\nvalidated\r\n.\r\n")
        r = c.readline()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        transcript(c, b"QUIT\r\n", ["221 2.0.0 Bye"])
    msgs = d.messages("test")
    check(len(msgs) == 1, "%d messages for test" % len(msgs))
    # (no Header processor in this chain: the file is the message)
    check(msgs[0][1] == b"Subject: v\n\nvalidated\n",
          "stored %r" % msgs[0][1])
    check(not os.path.exists(d.maildir("unknown")) and
          not os.path.exists(d.maildir("busy")),
          "a refused recipient got the message")
    d.stop()


if __name__ == "__main__":
    run_all()
