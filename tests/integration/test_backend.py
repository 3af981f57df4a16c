#!/usr/bin/env python3
"""Backend outcomes seen over SMTP: timeouts, faults, validation, chain
errors (SPEC 3.13, BE-03, BE-06..08, PROC-11, PROC-14, PROC-16/16a)."""
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"


def start_data(c, rcpt="<test@example.com>"):
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:" + rcpt, "250 2.1.5 OK")
    c.expect("DATA", DATA_REPLY_354)


@test
def save_timeout_451_then_session_continues():
    d = Daemon(overrides={"backend_config": {
        "sleep_seconds": 3, "gw_save_timeout": "1s"}})
    with d.client() as c:
        start_data(c)
        t0 = time.monotonic()
        c.send(b"Subject: slow\r\n\r\nslow\r\n.\r\n")
        r = c.reply1(timeout=6)
        el = time.monotonic() - t0
        check(r == "451 4.3.0 Error: transaction timeout", "reply %r" % r)
        check(0.7 <= el <= 2.2, "timeout reply after %.2fs (worker "
              "sleeps 3 s, save timeout 1 s)" % el)
        # other clients are served while this one waits (rule 2)
        with d.client() as c2:
            t1 = time.monotonic()
            c2.expect("NOOP", "250 2.0.0 OK")
            check(time.monotonic() - t1 < 0.5, "NOOP of another client "
                  "was delayed")
        c.send("RSET\r\n")
        r = c.reply1(timeout=8)
        check(r == "250 2.1.0 OK", "RSET after the timeout: %r" % r)
        c.expect("NOOP", "250 2.0.0 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
        c.expect_eof()
    d.stop()


@test
def sleeping_debugger_never_blocks_the_loop():
    """A chain of HeadersParser|Debugger computes only - unless the
    Debugger sleeps: then it must run on a worker, never on the I/O loop
    (which would keep every other client waiting).  With one I/O loop,
    another client's 220 and NOOP come at once while a message is being
    saved for 2 s, and the sleeping save still gets its 250."""
    d = Daemon(overrides={"io_threads": 1, "backend_config": {
        "save_process": "HeadersParser|Debugger", "sleep_seconds": 2}})
    with d.client() as c:
        start_data(c)
        c.send(b"Subject: slow\r\n\r\nslow\r\n.\r\n")
        time.sleep(0.3)     # the save has started and sleeps
        t1 = time.monotonic()
        with d.client(greet=False) as c2:
            r = c2.reply1(timeout=5)
            el = time.monotonic() - t1
            check(r.startswith("220 "), "greeting %r" % r)
            check(el < 0.2, "the second client's 220 took %.2fs" % el)
            t2 = time.monotonic()
            c2.expect("NOOP", "250 2.0.0 OK")
            check(time.monotonic() - t2 < 0.2, "NOOP of another client "
                  "took %.2fs" % (time.monotonic() - t2))
        r = c.reply1(timeout=6)
        check(re.fullmatch(QUEUED_RE, r) is not None, "save %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def processor_fault_storage_failed():
    d = Daemon(overrides={"backend_config": {"sleep_seconds": 1}})
    with d.client() as c:
        start_data(c)
        t0 = time.monotonic()
        c.send(b"Subject: fault\r\n\r\nfault\r\n.\r\n")
        r = c.reply1(timeout=6)
        el = time.monotonic() - t0
        check(r == "554 5.5.0 Error: storage failed", "reply %r" % r)
        check(el >= 0.8, "fault reply after only %.2fs" % el)
        c.expect("NOOP", "250 2.0.0 OK")
        # the transaction was reset, the worker carries on (BE-07)
        c.expect("RCPT TO:<test@example.com>",
                 "503 5.5.1 Error: need MAIL command")
        start_data(c)
        c.send(b"Subject: again\r\n\r\n.\r\n")
        r = c.reply1(timeout=6)
        check(r == "554 5.5.0 Error: storage failed", "second %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    check(d.messages() == [], "a faulted message was stored")
    d.stop()


@test
def backend_wait_is_not_client_timeout():
    d = Daemon(overrides={"servers": [server_cfg(timeout=1)],
                          "backend_config": {"sleep_seconds": 2}})
    with d.client() as c:
        start_data(c)
        c.send(b"Subject: wait\r\n\r\nwait\r\n.\r\n")
        r = c.reply1(timeout=6)
        check(re.fullmatch(QUEUED_RE, r), "reply %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    check(len(d.messages()) == 1, "message not stored")
    d.stop()


@test
def client_gone_while_saving():
    # the worker owns the envelope; the session must wait for it before
    # freeing anything (ENV-10), then the daemon goes on and exits cleanly
    d = Daemon(overrides={"backend_config": {"sleep_seconds": 2,
                                             "gw_save_timeout": "1s"}})
    for _ in range(2):
        c = d.client()
        start_data(c)
        c.send(b"Subject: gone\r\n\r\nbye\r\n.\r\n")
        c.close()
    time.sleep(3.5)
    with d.client() as c:
        c.expect("NOOP", "250 2.0.0 OK")
    d.stop()


@test
def save_timeout_counts_queue_wait():
    # BE-04 [DEV]: the save timeout starts at submission, so jobs waiting
    # for the only (busy) worker time out too instead of blocking
    d = Daemon(overrides={"backend_config": {
        "save_workers_size": 1, "sleep_seconds": 2,
        "gw_save_timeout": "1s"}})
    cs = [d.client() for _ in range(3)]
    for c in cs:
        start_data(c)
    t0 = time.monotonic()
    for c in cs:
        c.send(b"Subject: queued\r\n\r\n.\r\n")
    for i, c in enumerate(cs):
        r = c.reply1(timeout=8)
        el = time.monotonic() - t0
        check(r == "451 4.3.0 Error: transaction timeout",
              "client %d: %r after %.2fs" % (i, r, el))
        check(el < 2.5, "client %d: timeout reply after %.2fs" % (i, el))
    for c in cs:
        c.close()
    d.stop()


@test
def unknown_processor_fails_start():
    tmp = make_tmpdir()
    cfg = default_config(tmp)
    cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % free_port()
    cfg["backend_config"]["save_process"] = "HeadersParser|Nope|MailDir"
    rc, out = serve_fail(json.dumps(cfg))
    check(rc == 1, "exit status %r; output: %s" % (rc, out))
    check("processor [Nope] not found" in out, "output: %s" % out)


@test
def validate_maildir_users():
    d = Daemon(overrides={"backend_config": {
        "validate_process": "MailDir",
        "save_process": "HeadersParser|Hasher|Header|MailDir",
        "maildir_user_map": "test=-1:-1"}})
    with d.client() as c:
        # PROC-16: init creates the mailbox (backend init ends before
        # "Listening on TCP" and the greeting).
        for sub in ("new", "cur", "tmp"):
            p = os.path.join(d.maildir("test"), sub)
            check(os.path.isdir(p), "%s not created at start" % p)
            check(os.stat(p).st_mode & 0o777 == 0o700, "%s mode %o" %
                  (p, os.stat(p).st_mode & 0o777))
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<nobody@example.com>",
                 "550 5.1.1 User unknown in local recipient table "
                 "no such user")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("RCPT TO:<TEST@localhost>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: v\r\n\r\nvalidated\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        # a rejected recipient does not count: DATA needs an accepted one
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<nobody@example.com>",
                 "550 5.1.1 User unknown in local recipient table "
                 "no such user")
        c.expect("DATA", "503 5.5.1 Error: No recipients")
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = d.messages("test")
    check(len(msgs) >= 1, "no message for test")
    for _, data in msgs:
        check(split_delivery(data, proto="SMTP") ==
              b"Subject: v\n\nvalidated\n",
              "stored %r" % data)
    check(not os.path.exists(d.maildir("nobody")), "mailbox for nobody")
    d.stop()


@test
def maildir_one_copy_per_mailbox():
    # PROC-16 as GG writes it stores one file per recipient, so
    # <test@example.com> and <TEST@localhost> (the domain is ignored) put
    # two identical copies in one mailbox.  guerrillad delivers once per
    # mailbox, as Postfix's duplicate elimination does; distinct mailboxes
    # each get their copy.
    d = Daemon(overrides={"backend_config": {
        "maildir_user_map": "test=-1:-1,other=-1:-1"}})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("RCPT TO:<TEST@localhost>", "250 2.1.5 OK")
        c.expect("RCPT TO:<other@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: twice\r\n\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    n = len(d.messages("test"))
    check(n == 1, "%d files in one mailbox for 2 of its addresses" % n)
    n = len(d.messages("other"))
    check(n == 1, "%d files for the other mailbox" % n)
    d.stop()


@test
def maildir_catchall_refuses_path_escape():
    d = Daemon(overrides={"backend_config": {
        "validate_process": "MailDir"}})
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        for rcpt in ('<"../evil"@example.com>', '<"a/b"@example.com>',
                     '<".hidden"@example.com>', '<"..\\/x"@example.com>'):
            c.send("RCPT TO:%s\r\n" % rcpt)
            r = c.reply1()
            check(r.startswith("550 5.1.1 "), "RCPT %s: %r" % (rcpt, r))
        c.expect("RCPT TO:<anyone@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: c\r\n\r\ncatch-all\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = d.messages("anyone")
    check(len(msgs) == 1, "catch-all delivery: %d" % len(msgs))
    body = split_delivery(msgs[0][1], rcpt_local="anyone", proto="SMTP")
    check(body == b"Subject: c\n\ncatch-all\n", "stored %r" % body)
    check(sorted(os.listdir(os.path.join(d.dir, "mail"))) == ["anyone"],
          "mail root holds %r" % os.listdir(os.path.join(d.dir, "mail")))
    check(not os.path.exists(os.path.join(d.dir, "evil")),
          "a maildir escaped the root")
    d.stop()


@test
def maildir_save_only_never_escapes_root():
    # no validate chain: whatever the reply, nothing is written outside
    # <tmp>/mail/ (PROC-16a)
    d = Daemon()
    before = set(os.listdir(d.dir))
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.send('RCPT TO:<"../evil"@example.com>\r\n')
        r = c.reply1()
        check(r == "250 2.1.5 OK" or r.startswith("550 5.1.1 "),
              "RCPT %r" % r)
        c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
        c.expect("DATA", DATA_REPLY_354)
        c.send(b"Subject: e\r\n\r\nescape\r\n.\r\n")
        c.reply1()
        c.expect("QUIT", "221 2.0.0 Bye")
    after = set(os.listdir(d.dir))
    check(after - before <= {"daemon.log", "mail"}, "new entries next to "
          "the mail "
          "root: %r" % (after - before))
    check(set(os.listdir(os.path.join(d.dir, "mail"))) <= {"test"},
          "mail root holds %r" % os.listdir(os.path.join(d.dir, "mail")))
    d.stop()


@test
def header_without_hasher_says_unknown():
    d = Daemon(overrides={"backend_config": {
        "save_process": "HeadersParser|Header|MailDir"}})
    with d.client() as c:
        c.send("EHLO c.example\r\n")
        c.reply()
        start_data(c, rcpt="<test@localhost>")
        c.send(b"Subject: nohash\r\n\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    data = d.messages()[0][1]
    body = split_delivery(data, rcpt_domain="localhost", hashre="unknown")
    check(body == b"Subject: nohash\n\n", "stored %r" % body)
    d.stop()


@test
def debugger_logs_envelope():
    d = Daemon()
    with d.client() as c:
        start_data(c, rcpt="<logged-rcpt@example.com>")
        c.send(b"Subject: log me\r\n\r\n.\r\n")
        r = c.reply1()
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    log = d.log_text()
    check("logged-rcpt@example.com" in log, "Debugger did not log the "
          "recipient (PROC-14): %s" % log[-600:])
    check("log me" in log, "Debugger did not log the subject")
    d.stop()


if __name__ == "__main__":
    run_all()
