#!/usr/bin/env python3
"""The SQL processor (PROC-40) against a real MariaDB that this file
starts once (mariadb-install-db + mariadbd on a loopback port and a unix
socket in tests/tmp) and shares across its tests: the stored row matches
the envelope, a hostile subject lands verbatim, an outage answers 451 and
the next message after a restart is stored without restarting guerrillad,
a unix-socket DSN works, and init failures are config errors.

The servers come from stores.py.  If MariaDB is not installed every test
FAILs naming the package."""
import os
import sys
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403
from stores import *  # noqa: E402,F401,F403

OUTAGE_451 = "451 4.3.0 Error: storage not available"
QUEUED = "250 2.0.0 OK: queued as "


def sql_daemon(chain="HeadersParser|Hasher|Header|sql", dsn=None, **bc):
    m = db()
    cfg = {"save_process": chain, "mail_table": "new_mail",
           "sql_driver": "mysql",
           "sql_dsn": dsn or "gm:%s@tcp(127.0.0.1:%d)/gmail?timeout=3s&"
           "readTimeout=10s" % (PASSWORD, m.port)}
    cfg.update(bc)
    return Daemon(overrides={"backend_config": cfg})


def send(d, body, rcpts=("<test@example.com>",), sender="<a@b.c>"):
    with d.client() as c:
        c.send("EHLO client.test\r\n")
        c.reply()
        r = c.transaction(body, sender=sender, rcpts=rcpts)
        c.expect("QUIT", "221 2.0.0 Bye")
    return r


def mark(s):
    """A unique subject tag so tests sharing the table find their rows."""
    return "%s-%d-%d" % (s, os.getpid(), time.monotonic_ns())


@test
def sql_row_matches_envelope():
    m = db()
    d = sql_daemon()
    tag = mark("row")
    body = ("To: Bob Smith <bob@example.com>\r\n"
            "Reply-To: \"Re Ply\" <reply@example.org>\r\n"
            "Sender: sender@example.net\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Subject: %s\r\n\r\nhello\r\nworld\r\n.\r\n" % tag)
    r = send(d, body, rcpts=("<test@example.com>", "<second@example.com>"))
    check(r.startswith(QUEUED), "reply %r" % r)
    rows = m.rows("subject = '%s'" % tag)
    check(len(rows) == 2, "want one row per recipient, got %d" % len(rows))
    for row, rcpt in zip(rows, ("test@example.com", "second@example.com")):
        check(row["to"] == b"bob@example.com", "to %r" % row["to"])
        check(row["from"] == b"a@b.c", "from %r" % row["from"])
        check(row["return_path"] == b"a@b.c", "rp %r" % row["return_path"])
        check(row["subject"] == tag.encode(), "subject %r" % row["subject"])
        check(row["body"] == b"", "body %r" % row["body"])
        check(row["recipient"] == rcpt.encode(), "rcpt %r" % row["recipient"])
        check(row["content_type"] == b"text/plain; charset=utf-8",
              "ctype %r" % row["content_type"])
        check(row["reply_to"] == b"reply@example.org", "reply_to %r" %
              row["reply_to"])
        check(row["sender"] == b"sender@example.net", "sender %r" %
              row["sender"])
        check(row["ip_addr"] == b"\x7f\x00\x00\x01", "ip %r" % row["ip_addr"])
        check(row["is_tls"] == b"0" and row["has_attach"] == b"0" and
              row["spam_score"] == b"0", "flags %r" % row)
        h = row["hash"].decode()
        check(len(h) == 32 and all(c in "0123456789abcdef" for c in h),
              "hash %r" % h)
        # no Message-Id header: <hash>.<rcpt user>@<primary_mail_host>
        check(row["message_id"] == ("%s.%s@mx.test" % (
            h, rcpt.split("@")[0])).encode(), "mid %r" % row["message_id"])
        # mail = delivery header + the message as received
        check(row["mail"].startswith(b"Delivered-To: test@mx.test\n"),
              "mail %r" % row["mail"][:80])
        # stored form: LF line ends (SMTP-47)
        check(row["mail"].endswith(body[:-3].replace("\r\n", "\n").encode()),
              "mail tail %r" % row["mail"][-80:])
        check(0 <= row["age"] < 60, "date %r s ago" % row["age"])
    d.stop()


@test
def sql_hostile_subject_lands_verbatim():
    m = db()
    d = sql_daemon()
    tag = mark("evil")
    evil = ("%s it's \\ \\\\' \"q\" `b` \x1a %%_ '); DROP TABLE new_mail; -- "
            "\\'); DELETE FROM new_mail; # \xe9t\xe9 nul:\x00:" % tag)
    text = "b \x00 '); DROP TABLE new_mail; -- \\\x1a\""
    body = ("Subject: %s\r\nMessage-Id: <x'y\\z@evil.example>\r\n"
            "To: \"'); DROP TABLE new_mail; --\" <to@example.com>\r\n\r\n"
            "%s\r\n.\r\n" % (evil, text))
    r = send(d, body.encode("utf-8"))
    check(r.startswith(QUEUED), "reply %r" % r)
    rows = m.rows("subject LIKE '%s%%'" % tag)
    check(len(rows) == 1, "rows %d" % len(rows))
    # the header parser (mime.c) drops a NUL from a header value; every
    # other byte reaches the column unchanged
    check(rows[0]["subject"] in (evil.encode("utf-8"),
                                 evil.replace("\x00", "").encode("utf-8")),
          "subject %r" % rows[0]["subject"])
    check(rows[0]["mail"].endswith(("%s\n" % text).encode()),
          "mail %r" % rows[0]["mail"][-60:])
    check(rows[0]["to"] == b"to@example.com", "to %r" % rows[0]["to"])
    check(int(m.root_sql("SELECT COUNT(*) FROM new_mail", db="gmail")) >= 1,
          "table gone")
    d.stop()


@test
def sql_compressor_marks_gzip():
    m = db()
    d = sql_daemon(chain="HeadersParser|Hasher|Header|Compressor|sql")
    tag = mark("gz")
    body = "Subject: %s\r\n\r\n%s\r\n.\r\n" % (tag, "zzz " * 500)
    r = send(d, body)
    check(r.startswith(QUEUED), "reply %r" % r)
    rows = m.rows("subject = '%s'" % tag)
    check(len(rows) == 1, "rows %d" % len(rows))
    check(rows[0]["body"] == b"gzip", "body %r" % rows[0]["body"])
    text = zlib.decompress(rows[0]["mail"])
    check(text.startswith(b"Delivered-To: ") and text.endswith(
        body[:-3].replace("\r\n", "\n").encode()),
        "decompressed %r" % text[:60])
    d.stop()


@test
def sql_after_redis_marks_redis_and_stores_no_mail():
    m = db()
    rd = Redis()
    port = rd.port
    try:
        d = sql_daemon(chain="HeadersParser|Hasher|Header|Redis|sql",
                       redis_interface="127.0.0.1:%d" % port,
                       redis_expire_seconds=60)
        tag = mark("redis")
        r = send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag)
        check(r.startswith(QUEUED), "reply %r" % r)
        rows = m.rows("subject = '%s'" % tag)
        check(len(rows) == 1, "rows %d" % len(rows))
        check(rows[0]["body"] == b"redis" and rows[0]["mail"] == b"",
              "body %r mail %r" % (rows[0]["body"], rows[0]["mail"][:40]))
        d.stop()
    finally:
        rd.kill()


@test
def sql_outage_451_then_recovers_without_restart():
    m = db()
    d = sql_daemon(save_workers_size=1)
    tag = mark("before")
    check(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag).startswith(QUEUED),
          "first message not stored")
    m.kill()
    try:
        for i in range(2):
            r = send(d, "Subject: down\r\n\r\nx\r\n.\r\n")
            check(r == OUTAGE_451, "while down (%d): %r" % (i, r))
    finally:
        m.start()
    tag = mark("after")
    r = send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag)
    check(r.startswith(QUEUED), "after restart: %r" % r)
    check(len(m.rows("subject = '%s'" % tag)) == 1, "row after restart")
    check("storage not available" not in d.log_text() or
          "sql:" in d.log_text(), "outage not logged")
    d.stop()


@test
def sql_server_error_451_then_recovers():
    m = db()
    d = sql_daemon(save_workers_size=1)
    tag = mark("pre")
    check(send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag).startswith(QUEUED),
          "first message not stored")
    m.root_sql("RENAME TABLE new_mail TO new_mail_away", db="gmail")
    try:
        r = send(d, "Subject: gone\r\n\r\nx\r\n.\r\n",
                 rcpts=("<a@example.com>", "<b@example.com>"))
        check(r == OUTAGE_451, "table missing: %r" % r)
    finally:
        m.root_sql("RENAME TABLE new_mail_away TO new_mail", db="gmail")
    tag = mark("post")
    r = send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag)
    check(r.startswith(QUEUED), "after the table is back: %r" % r)
    check(len(m.rows("subject = '%s'" % tag)) == 1, "row after")
    check("doesn't exist" in d.log_text(), "server error not logged: %s" %
          d.log_tail())
    d.stop()


@test
def sql_unix_socket_dsn():
    m = db()
    d = sql_daemon(dsn="gm:%s@unix(%s)/gmail" % (PASSWORD, m.sock),
                   sql_max_conn_lifetime="1ms")
    for i in range(2):   # the second one reconnects (lifetime 1 ms)
        tag = mark("unix%d" % i)
        r = send(d, "Subject: %s\r\n\r\nx\r\n.\r\n" % tag)
        check(r.startswith(QUEUED), "reply %r" % r)
        check(len(m.rows("subject = '%s'" % tag)) == 1, "row %d" % i)
    d.stop()


@test
def sql_init_failures_are_config_errors():
    m = db()
    base = default_config("/nonexistent")
    for bc, want in (
            ({"sql_driver": "postgres"}, "sql_driver 'postgres'"),
            ({"sql_dsn": "gm:wrong@tcp(127.0.0.1:%d)/gmail" % m.port},
             "Access denied"),
            ({"mail_table": "no_such_table"}, "no_such_table"),
            ({"sql_dsn": "gm:x@tcp(127.0.0.1:%d)/gmail" % free_port()},
             "Connection refused"),
            ({"sql_dsn": None}, "sql_dsn")):
        cfg = deep_merge(base, {"backend_config": deep_merge({
            "save_process": "HeadersParser|Hasher|sql",
            "mail_table": "new_mail", "sql_driver": "mysql",
            "sql_dsn": "gm:%s@tcp(127.0.0.1:%d)/gmail" % (PASSWORD,
                                                           m.port)}, bc)})
        cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % free_port()
        import json
        rc, out = serve_fail(json.dumps(cfg))
        check(rc not in (0, "running"), "%r started (rc %r)" % (bc, rc))
        check(want in out, "%r: %r not in %r" % (bc, want, out[-400:]))
        check(PASSWORD not in out, "password leaked into the log")


if __name__ == "__main__":
    run_all()
