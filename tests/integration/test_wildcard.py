#!/usr/bin/env python3
"""The Wildcard processor (PROC-17): on validate every recipient's domain
must match one of wildcard_hosts (trimmed, case-insensitive; '*', exact,
glob with * ? [...]); otherwise RCPT gets 550 5.1.1 ... no such user."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

NO_SUCH = "550 5.1.1 User unknown in local recipient table no such user"


def wc_daemon(hosts):
    return Daemon(overrides={
        "allowed_hosts": ["*"],
        "backend_config": {"validate_process": "Wildcard",
                           "wildcard_hosts": hosts}})


@test
def wildcard_patterns():
    d = wc_daemon(" example.com , *.example.org,mx?.test ,  [ab]*.net,,")
    cases = [
        ("<u@example.com>", True),
        ("<u@EXAMPLE.com>", True),          # [DEV] case-insensitive
        ("<u@a.b.example.org>", True),
        ("<u@example.org>", False),         # "*." needs a label
        ("<u@mx1.test>", True),
        ("<u@mx12.test>", False),
        ("<u@bee.net>", True),
        ("<u@cat.net>", False),
        ("<u@example.co>", False),
        ("<u@other.test>", False),
    ]
    with d.client() as c:
        c.expect("HELO client.test", "250 mx.test Hello")
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        for rcpt, ok in cases:
            c.expect("RCPT TO:" + rcpt, "250 2.1.5 OK" if ok else NO_SUCH)
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def wildcard_star_allows_all():
    d = wc_daemon("nothing.test, *")
    with d.client() as c:
        c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c.expect("RCPT TO:<x@any.where>", "250 2.1.5 OK")
        c.expect("RCPT TO:<y@[127.0.0.1]>", "250 2.1.5 OK")
        c.expect("QUIT", "221 2.0.0 Bye")
    d.stop()


@test
def wildcard_hosts_required():
    d = Daemon(overrides={"backend_config": {"validate_process": "Wildcard"}},
               start=False)
    with open(d.conf) as f:
        text = f.read()
    rc, out = serve_fail(text)
    check(rc != 0 and rc != "running", "status %r" % rc)
    check("missing/invalid: 'wildcard_hosts' of type: string" in out,
          "output %r" % out)


run_all()
