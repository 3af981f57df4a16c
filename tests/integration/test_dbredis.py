#!/usr/bin/env python3
"""Redis and SQL together, against a real redis-server and a real MariaDB
(both from stores.py):

- GuerrillaRedisDB (PROC-41): the Redis value inflates to GG's CRLF
  delivery header + the message, the rows (one per recipient) match the
  envelope and point at the key; Redis or MariaDB down gives 451 and no
  row, and the next message after a restart is stored without restarting
  guerrillad; init failures are config errors.
- The chain HeadersParser|Header|Hasher|Compressor|Redis|SQL on one
  message: Redis holds the compressed text (with the Received header),
  SQL the row pointing at it.

Without redis-server or MariaDB the tests FAIL naming the package."""
import json
import os
import re
import socket
import sys
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
from stores import *  # noqa: E402,F401,F403

OUTAGE_451 = "451 4.3.0 Error: storage not available"
QUEUED = "250 2.0.0 OK: queued as "


def dsn(m):
    return "gm:%s@tcp(127.0.0.1:%d)/gmail?timeout=3s&readTimeout=10s" % (
        PASSWORD, m.port)


def daemon(rd, chain="GuerrillaRedisDB", family=socket.AF_INET, **bc):
    m = db()
    cfg = {"save_process": chain, "mail_table": "new_mail",
           "sql_driver": "mysql", "sql_dsn": dsn(m),
           "redis_interface": "127.0.0.1:%d" % rd.port,
           "redis_expire_seconds": 600}
    cfg.update(bc)
    over = {"backend_config": cfg}
    if family == socket.AF_INET6:
        over["servers"] = [server_cfg(listen_interface="[::1]:PORT")]
    return Daemon(overrides=over, family=family)


def send(d, body, rcpts=("<test@example.com>",), sender="<a@b.c>"):
    with d.client() as c:
        c.send("EHLO client.test\r\n")
        c.reply()
        r = c.transaction(body, sender=sender, rcpts=rcpts)
        c.expect("QUIT", "221 2.0.0 Bye")
    return r


def mark(s):
    """A unique subject so tests sharing the table find their rows."""
    return "%s-%d-%d" % (s, os.getpid(), time.monotonic_ns())


def qid_of(r):
    check(r.startswith(QUEUED), "reply %r" % r)
    q = r[len(QUEUED):]
    check(re.fullmatch("[0-9a-f]{32}", q) is not None, "queued id %r" % q)
    return q


# GG's GuerrillaDbRedis header: PROC-11's fields, CRLF line ends, the
# hash of (to, from, subject, time) as id.
def gg_header_re(to, domain, qid, proto="ESMTP", ip="127.0.0.1"):
    return re.compile(((
        "Delivered-To: %s\r\n"
        "Received: from %s \\(\\[%s\\]\\)\r\n"
        "\tby %s with %s id %s@%s;\r\n"
        "\t(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d\\d "
        "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \\d{4} "
        "\\d\\d:\\d\\d:\\d\\d [+-]\\d{4}\r\n") % (
            re.escape(to), re.escape(ip), re.escape(ip), re.escape(domain),
            proto, qid, re.escape(domain))).encode() + b"(.*)\\Z", re.S)


@test
def dbredis_redis_value_and_rows():
    m = db()
    rd = Redis()
    try:
        d = daemon(rd)
        tag = mark("dbr")
        body = ("To: Bob <bob@example.com>\r\n"
                "Reply-To: <reply@example.org>\r\n"
                "Sender: sender@example.net\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Subject: %s\r\n\r\nhello\r\n..dot\r\nworld\r\n.\r\n" % tag)
        r = send(d, body, rcpts=("<test@example.com>", "<Second@example.com>"))
        qid = qid_of(r)
        # Redis: zlib of GG's CRLF header + the message as stored (LF)
        val = rd.cmd("GET", qid)
        check(isinstance(val, bytes) and val[:1] == b"\x78",
              "not a zlib stream: %r" % (val[:20],))
        text = zlib.decompress(val)
        mt = gg_header_re("test@mx.test", "example.com", qid).match(text)
        check(mt is not None, "redis text %r" % text[:300])
        want = body[:-3].replace("\r\n", "\n").replace("\n..", "\n.")
        check(mt.group(1) == want.encode(), "message %r" % mt.group(1))
        ttl = rd.cmd("TTL", qid)
        check(isinstance(ttl, int) and 0 < ttl <= 600, "TTL %r" % ttl)
        # (the key's MD5 layout is pinned by tests/t_store.c, where the
        # clock is fixed)
        # SQL: one row per recipient, pointing at the key
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 2, "want one row per recipient, got %d" %
              len(rows))
        for row, user in zip(rows, ("test", "Second")):
            to = ("%s@mx.test" % user).encode()
            check(row["to"] == to, "to %r" % row["to"])
            check(row["recipient"] == to, "recipient %r" % row["recipient"])
            check(row["from"] == b"a@b.c" and row["return_path"] == b"a@b.c",
                  "from %r rp %r" % (row["from"], row["return_path"]))
            check(row["subject"] == tag.encode(), "subject %r" %
                  row["subject"])
            check(row["body"] == b"redis", "body %r" % row["body"])
            check(row["mail"] == b"", "mail %r" % row["mail"][:60])
            check(row["charset"] == b"UTF-8", "charset %r" % row["charset"])
            check(row["hash"] == qid.encode(), "hash %r != key %s" % (
                row["hash"], qid))
            check(row["ip_addr"] == b"\x7f\x00\x00\x01", "ip %r" %
                  row["ip_addr"])
            check(row["is_tls"] == b"0" and row["spam_score"] == b"0" and
                  row["has_attach"] == b"0", "flags %r" % row)
            check(row["content_type"] == b"text/plain; charset=utf-8",
                  "ctype %r" % row["content_type"])
            check(row["message_id"] == ("%s.%s@mx.test" % (
                qid, user)).encode(), "mid %r" % row["message_id"])
            check(row["reply_to"] == b"reply@example.org" and
                  row["sender"] == b"sender@example.net",
                  "reply_to %r sender %r" % (row["reply_to"], row["sender"]))
            check(0 <= row["age"] < 60, "date %r s ago" % row["age"])
        d.stop()
    finally:
        rd.kill()


@test
def dbredis_message_id_header_and_gg_alone():
    """A Message-Id header fills message_id; no HeadersParser is needed
    (the processor parses headers itself, as GG does)."""
    m = db()
    rd = Redis()
    try:
        d = daemon(rd)
        tag = mark("mid")
        r = send(d, "Message-Id: <abc.123@sender.example>\r\nSubject: %s\r\n"
                 "\r\nx\r\n.\r\n" % tag)
        qid = qid_of(r)
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 1, "rows %d" % len(rows))
        check(rows[0]["message_id"] == b"abc.123@sender.example",
              "mid %r" % rows[0]["message_id"])
        check(rows[0]["hash"] == qid.encode(), "hash")
        check(zlib.decompress(rd.cmd("GET", qid)).endswith(
            ("Subject: %s\n\nx\n" % tag).encode()), "redis value")
        d.stop()
    finally:
        rd.kill()


@test
def dbredis_ipv6_client_address():
    """GG stores most IPv6 client addresses as an empty value (GAP-18):
    here the 16 raw bytes."""
    m = db()
    rd = Redis()
    try:
        d = daemon(rd, family=socket.AF_INET6)
        tag = mark("v6")
        qid = qid_of(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag))
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 1 and rows[0]["ip_addr"] == b"\0" * 15 + b"\1",
              "ip_addr %r" % (rows and rows[0]["ip_addr"],))
        text = zlib.decompress(rd.cmd("GET", qid))
        check(gg_header_re("test@mx.test", "example.com", qid,
                           ip="::1").match(text) is not None,
              "header %r" % text[:200])
        d.stop()
    finally:
        rd.kill()


@test
def dbredis_redis_down_451_then_back():
    m = db()
    rd = Redis()
    try:
        d = daemon(rd, save_workers_size=2)
        qid_of(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % mark("up")))
        rd.kill()
        lost = mark("lost")
        for i in range(3):      # whichever worker takes it
            r = send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % lost)
            check(r == OUTAGE_451, "redis down (%d): %r" % (i, r))
        check(m.rows("subject = '%s'" % lost) == [],
              "a row was written while Redis was down")
        rd.start()
        for i in range(3):      # every worker reconnects
            tag = mark("back%d" % i)
            qid = qid_of(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag))
            rows = m.rows("subject = '%s'" % tag)
            check(len(rows) == 1 and rows[0]["hash"] == qid.encode(),
                  "row after restart %r" % rows)
            check(zlib.decompress(rd.cmd("GET", qid)).endswith(
                ("Subject: %s\n\nx\n" % tag).encode()), "value after restart")
        check("SETEX" in d.log_text() and "connection dropped" in
              d.log_text(), "outage not logged")
        d.stop()
    finally:
        rd.kill()


@test
def dbredis_sql_down_451_then_back():
    m = db()
    rd = Redis()
    try:
        d = daemon(rd, save_workers_size=1)
        qid_of(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % mark("pre")))
        # a server error (table gone): 451, the connection is kept
        m.root_sql("RENAME TABLE new_mail TO new_mail_away", db="gmail")
        try:
            r = send(d, "Subject: gone\r\n\r\nx\r\n.\r\n",
                     rcpts=("<a@example.com>", "<b@example.com>"))
            check(r == OUTAGE_451, "table missing: %r" % r)
        finally:
            m.root_sql("RENAME TABLE new_mail_away TO new_mail", db="gmail")
        check(m.rows("subject = 'gone'") == [], "half a message stored")
        # the server itself down: 451; restarted: stored, same daemon
        m.kill()
        try:
            r = send(d, "Subject: down\r\n\r\nx\r\n.\r\n")
            check(r == OUTAGE_451, "mariadb down: %r" % r)
        finally:
            m.start()
        tag = mark("post")
        qid = qid_of(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag))
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 1 and rows[0]["hash"] == qid.encode(),
              "row after restart %r" % rows)
        check("doesn't exist" in d.log_text(), "server error not logged")
        d.stop()
    finally:
        rd.kill()


@test
def dbredis_init_failures_are_config_errors():
    m = db()
    rd = Redis()
    try:
        base = default_config("/nonexistent")
        good = {"save_process": "GuerrillaRedisDB", "mail_table": "new_mail",
                "sql_driver": "mysql", "sql_dsn": dsn(m),
                "redis_interface": "127.0.0.1:%d" % rd.port,
                "redis_expire_seconds": 60}
        for bc, want in (
                ({"redis_interface": "127.0.0.1:%d" % free_port()},
                 "redis cannot connect, check your settings:"),
                ({"mail_table": "no_such_table"}, "no_such_table"),
                ({"sql_driver": "postgres"}, "sql_driver 'postgres'"),
                ({"redis_expire_seconds": None}, "redis_expire_seconds"),
                ({"sql_dsn": "gm:wrong@tcp(127.0.0.1:%d)/gmail" % m.port},
                 "Access denied")):
            cfg = deep_merge(base, {"backend_config": deep_merge(good, bc)})
            cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % \
                free_port()
            rc, out = serve_fail(json.dumps(cfg))
            check(rc not in (0, "running"), "%r started (rc %r)" % (bc, rc))
            check(want in out and "error while initializing the backend"
                  in out, "%r: %r not in %r" % (bc, want, out[-400:]))
            check(PASSWORD not in out, "password leaked into the log")
    finally:
        rd.kill()


@test
def chain_compressed_text_in_redis_row_in_sql():
    """Issue #5: HeadersParser|Header|Hasher|Compressor|Redis|SQL on one
    message - Redis holds the compressed text, SQL the row pointing at
    it."""
    m = db()
    rd = Redis()
    try:
        d = daemon(rd, chain="HeadersParser|Header|Hasher|Compressor|Redis|"
                   "SQL")
        tag = mark("chain")
        body = ("From: Alice <alice@example.org>\r\nTo: test@example.com\r\n"
                "Subject: %s\r\n\r\n%s.\r\n" % (
                    tag, "the same line, again and again\r\n" * 200))
        qid = qid_of(send(d, body))
        val = rd.cmd("GET", qid)
        check(isinstance(val, bytes) and val[:1] == b"\x78",
              "not a zlib stream: %r" % (val[:20],))
        text = zlib.decompress(val)
        check(len(val) < len(text) // 10, "level-1 zlib of a repetitive "
              "text is %d of %d bytes" % (len(val), len(text)))
        # Header ran before Hasher: the Received id says "unknown"
        rest = split_delivery(text, hashre="unknown")
        check(rest == body[:-3].replace("\r\n", "\n").encode(),
              "message after the Received header differs: %r" % rest[:80])
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 1, "rows %d" % len(rows))
        row = rows[0]
        check(row["hash"] == qid.encode(), "hash %r != redis key %s" % (
            row["hash"], qid))
        check(row["body"] == b"redis" and row["mail"] == b"",
              "body %r mail %r: the text must be only in Redis" % (
                  row["body"], row["mail"][:40]))
        check(row["recipient"] == b"test@example.com" and
              row["to"] == b"test@example.com" and
              row["from"] == b"a@b.c", "row %r" % row)
        check(row["message_id"] == ("%s.test@mx.test" % qid).encode(),
              "mid %r" % row["message_id"])
        d.stop()
    finally:
        rd.kill()


if __name__ == "__main__":
    run_all()
