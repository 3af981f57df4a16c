#!/usr/bin/env python3
"""Hot reload of the config file on SIGHUP (OPS-01, OPS-08, OPS-12,
SPEC 8.4).

Every test rewrites the config file of a running `guerrillad serve -c
FILE`, sends SIGHUP and waits (bounded) for the log line that says how
the reload ended: `Configuration reloaded` on success, `Could not reload
config` when the new file was rejected and nothing changed.  Then it
asserts on what clients observe (greetings, reply codes, refused
connections) and on the stored bytes.
"""
import copy
import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"
RELOADED = "Configuration reloaded"
NOT_RELOADED = "Could not reload config"
SAYONARA = ("421 4.3.0 Server is shutting down. Please try again later. "
            "Sayonara!")
RELOAD_WAIT = 8.0


# ---------------------------------------------------------------- helpers

def iface(port):
    return "127.0.0.1:%d" % port


def write_text(d, text):
    """Replace the daemon's config file atomically (a half-written file
    must never be what a reload reads)."""
    tmp = d.conf + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, d.conf)


def write_config(d, cfg, remember=True):
    """Write cfg; with remember, it becomes what new_config() copies."""
    write_text(d, json.dumps(cfg, indent=2) + "\n")
    if remember:
        d.config = cfg


def new_config(d):
    """A copy of the config the daemon runs, to be changed and reloaded."""
    return copy.deepcopy(d.config)


def unescaped(text):
    """The log with LOG-05 escapes undone, for matching error texts that
    contain quotes or were joined with newlines."""
    return (text.replace('\\"', '"').replace("\\n", "\n")
            .replace("\\\\", "\\"))


def sighup(d, want_ok=True, what=""):
    """Send SIGHUP and wait for the reload to end; check it ended as
    wanted.  Returns the log text written since the signal."""
    before = d.log_text()
    n_ok, n_bad = before.count(RELOADED), before.count(NOT_RELOADED)
    d.send_signal(signal.SIGHUP)

    def ended():
        t = d.log_text()
        return t.count(RELOADED) > n_ok or t.count(NOT_RELOADED) > n_bad
    check(wait_for(ended, RELOAD_WAIT),
          "%s: neither %r nor %r logged %ss after SIGHUP; log:\n%s" % (
              what, RELOADED, NOT_RELOADED, RELOAD_WAIT, d.log_tail()))
    check(d.proc.poll() is None, "%s: daemon exited on SIGHUP (%r); log:\n%s"
          % (what, d.proc.returncode, d.log_tail()))
    t = d.log_text()
    ok = t.count(RELOADED) > n_ok
    bad = t.count(NOT_RELOADED) > n_bad
    if want_ok:
        check(ok and not bad, "%s: reload did not succeed; log:\n%s" %
              (what, d.log_tail()))
    else:
        check(bad and not ok, "%s: broken config was not refused; log:\n%s"
              % (what, d.log_tail()))
    return t[len(before):] if t.startswith(before) else t


def reload(d, cfg, want_ok=True, what=""):
    """Write cfg and SIGHUP; a config meant to be refused is not
    remembered, so the next new_config() starts from the running one."""
    write_config(d, cfg, remember=want_ok)
    return sighup(d, want_ok, what)


def greeting(port, timeout=3.0):
    """The greeting line of a new session on port, or None (refused,
    closed, or not a 220)."""
    try:
        c = Client(port, greet=False, timeout=timeout)
    except OSError:
        return None
    try:
        line = c.readline(timeout)
    except (OSError, EOFError):
        return None
    finally:
        c.close()
    return line if line.startswith("220 ") else None


def refused(port):
    """True when a TCP connect to port is refused (nobody listens)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()
    return False


def open_rcpt(c, rcpt="<test@example.com>"):
    c.send("EHLO client.example\r\n")
    r = c.reply()
    check(r[-1].startswith("250 "), "EHLO %r" % r)
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:" + rcpt, "250 2.1.5 OK")


def finish_data(c, body):
    c.expect("DATA", DATA_REPLY_354)
    c.send(body)
    return c.reply1(timeout=15)


def token(tag):
    return "%s-%d-%x" % (tag, os.getpid(), int(time.time() * 1e6))


def stored_with(msgs, tok):
    return [m for m in msgs if tok.encode() in m[1]]


class LogsDaemon(Daemon):
    """A Daemon whose log_text also reads extra log files (per-server
    logs), so that start() and sighup() find their lines there too."""
    extra_logs = ()

    def log_text(self):
        text = Daemon.log_text(self)
        for path in self.extra_logs:
            try:
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text


def two_servers(port_b, **b):
    srv_b = server_cfg(listen_interface=iface(port_b), host_name="mx-b.test")
    srv_b.update(b)
    return {"servers": [server_cfg(), srv_b]}


# ---------------------------------------------------------------- tests

@test
def sighup_adds_server_while_session_stays_open():
    d = Daemon()
    a = d.client()
    open_rcpt(a)
    pb = free_port()
    check(refused(pb), "port %d taken before the reload" % pb)
    cfg = new_config(d)
    cfg["servers"].append(server_cfg(listen_interface=iface(pb),
                                     host_name="mx-b.test"))
    reload(d, cfg, what="add server B")
    g = wait_for(lambda: greeting(pb), 3)
    check(g is not None and g.startswith("220 mx-b.test SMTP Guerrilla("),
          "new server B greeting %r" % g)
    check("Listening on TCP %s" % iface(pb) in d.log_text(),
          "LOG-04 line for B missing")
    # the session opened on A before the reload goes on
    tok_a = token("on-a")
    r = finish_data(a, b"Subject: a\r\n\r\n%s\r\n.\r\n" % tok_a.encode())
    check(re.fullmatch(QUEUED_RE, r), "A after the reload: %r" % r)
    a.expect("QUIT", "221 2.0.0 Bye")
    a.close()
    # and B takes mail into the same store
    tok_b = token("on-b")
    with Client(pb) as b:
        check(b.greeting.startswith("220 mx-b.test "), b.greeting)
        r = b.transaction(b"Subject: b\r\n\r\n%s\r\n.\r\n" % tok_b.encode())
        check(re.fullmatch(QUEUED_RE, r), "B: %r" % r)
    msgs = d.messages()
    check(len(stored_with(msgs, tok_a)) == 1, "A's message stored %d times" %
          len(stored_with(msgs, tok_a)))
    check(len(stored_with(msgs, tok_b)) == 1, "B's message stored %d times" %
          len(stored_with(msgs, tok_b)))
    body = split_delivery(stored_with(msgs, tok_a)[0][1])
    check(body == b"Subject: a\n\n%s\n" % tok_a.encode(), "stored %r" % body)
    d.stop()


@test
def sighup_removes_server():
    pb = free_port()
    d = Daemon(overrides=two_servers(pb))
    check(wait_for(lambda: greeting(pb), 3), "B not serving at start")
    a = d.client()
    a.expect("NOOP", "250 2.0.0 OK")
    b = Client(pb)
    b.expect("NOOP", "250 2.0.0 OK")
    cfg = new_config(d)
    cfg["servers"] = cfg["servers"][:1]
    t0 = time.monotonic()
    reload(d, cfg, what="remove server B")
    check(wait_for(lambda: refused(pb), 3),
          "port %d of the removed server still accepts" % pb)
    check(time.monotonic() - t0 < 5, "B closed only after %.1fs" %
          (time.monotonic() - t0))
    # B's idle session is shut down as in SMTP-61
    r = b.readline(timeout=5)
    check(r == SAYONARA, "idle session on the removed server got %r" % r)
    b.expect_eof()
    b.close()
    check(wait_for(lambda: "shutdown completed for [%s]" % iface(pb) in
                   d.log_text(), 5),
          "removed server B: no 'shutdown completed for [%s]' (LOG-04; GG's "
          "Server.Shutdown logs it when a reload removes a server)" %
          iface(pb))
    # A: the existing session and a new one both work
    tok1, tok2 = token("old-session"), token("new-session")
    a.expect("NOOP", "250 2.0.0 OK")
    r = a.transaction(b"Subject: 1\r\n\r\n%s\r\n.\r\n" % tok1.encode())
    check(re.fullmatch(QUEUED_RE, r), "existing session on A: %r" % r)
    a.close()
    with d.client() as c:
        check(c.greeting.startswith("220 mx.test "), c.greeting)
        r = c.transaction(b"Subject: 2\r\n\r\n%s\r\n.\r\n" % tok2.encode())
        check(re.fullmatch(QUEUED_RE, r), "new session on A: %r" % r)
    msgs = d.messages()
    for tok in (tok1, tok2):
        check(len(stored_with(msgs, tok)) == 1, "%s stored %d times" %
              (tok, len(stored_with(msgs, tok))))
    check(refused(pb), "B came back")
    d.stop()


@test
def sighup_disable_enable_server():
    pb = free_port()
    d = Daemon(overrides=two_servers(pb))
    check(wait_for(lambda: greeting(pb), 3), "B not serving at start")
    a = d.client()
    a.expect("NOOP", "250 2.0.0 OK")
    cfg = new_config(d)
    cfg["servers"][1]["is_enabled"] = False
    reload(d, cfg, what="disable B")
    check(wait_for(lambda: refused(pb), 3), "disabled server still accepts")
    check(greeting(d.port) is not None, "A stopped serving")
    a.expect("NOOP", "250 2.0.0 OK")
    cfg = new_config(d)
    cfg["servers"][1]["is_enabled"] = True
    reload(d, cfg, what="enable B")
    g = wait_for(lambda: greeting(pb), 3)
    check(g is not None and g.startswith("220 mx-b.test "),
          "re-enabled server greeting %r" % g)
    a.expect("NOOP", "250 2.0.0 OK")
    with Client(pb) as b:
        r = b.transaction(b"Subject: b\r\n\r\nback\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "B after re-enable: %r" % r)
    a.close()
    check(len(d.messages()) == 1, "%d messages" % len(d.messages()))
    d.stop()


@test
def sighup_broken_config_changes_nothing():
    d = Daemon()
    live = d.client()
    live.expect("NOOP", "250 2.0.0 OK")
    pb = free_port()

    def still_old(what):
        g = greeting(d.port)
        check(g is not None and g.startswith("220 mx.test SMTP Guerrilla("),
              "%s: greeting after the refused reload: %r" % (what, g))
        check(refused(pb), "%s: server B of the refused config listens" %
              what)
        live.expect("NOOP", "250 2.0.0 OK")
        with d.client() as c:
            r = c.transaction(b"Subject: s\r\n\r\nstill serving\r\n.\r\n")
            check(re.fullmatch(QUEUED_RE, r), "%s: DATA %r" % (what, r))

    def wait_log(what, *wants):
        for w in wants:
            check(wait_for(lambda: w in unescaped(d.log_text()), 3),
                  "%s: log lacks %r; log:\n%s" % (what, w, d.log_tail()))

    # 1. invalid JSON: the error names file, line and column (CFG-01)
    cfg = new_config(d)
    cfg["servers"][0]["host_name"] = "changed.test"
    cfg["servers"].append(server_cfg(listen_interface=iface(pb)))
    lines = json.dumps(cfg, indent=2).split("\n")
    i = next(n for n, ln in enumerate(lines) if '"changed.test"' in ln)
    col = lines[i].index('"changed.test"') + len('"changed.test"') + 2
    lines[i] = lines[i].replace('"changed.test"', '"changed.test" "oops"')
    write_text(d, "\n".join(lines) + "\n")
    sighup(d, want_ok=False, what="invalid JSON")
    wait_log("invalid JSON", "%s: could not parse config file" % d.conf,
             "at line %d column %d" % (i + 1, col))
    still_old("invalid JSON")

    # 2. valid JSON, a value of the wrong type (CFG-02)
    cfg = new_config(d)
    cfg["servers"][0]["host_name"] = "changed.test"
    cfg["servers"][0]["max_size"] = "x"
    cfg["servers"].append(server_cfg(listen_interface=iface(pb)))
    reload(d, cfg, want_ok=False, what="max_size \"x\"")
    wait_log("max_size", '"max_size" must be a number')
    still_old("max_size")

    # 3. a TLS server whose key and certificate are garbage (TLS-01)
    junk_key = os.path.join(d.dir, "junk.key")
    junk_crt = os.path.join(d.dir, "junk.crt")
    for p in (junk_key, junk_crt):
        with open(p, "w") as f:
            f.write("-----BEGIN GARBAGE-----\nnot a pem\n")
    cfg = new_config(d)
    cfg["servers"][0]["host_name"] = "changed.test"
    cfg["servers"].append(server_cfg(listen_interface=iface(pb), tls={
        "start_tls_on": True, "private_key_file": junk_key,
        "public_key_file": junk_crt}))
    reload(d, cfg, want_ok=False, what="garbage certificate")
    wait_log("garbage certificate",
             "cannot use TLS config for [%s]" % iface(pb))
    still_old("garbage certificate")

    # the same change without the error is applied: the checks above can
    # see a reload that did happen
    cfg = new_config(d)
    cfg["servers"][0]["host_name"] = "changed.test"
    reload(d, cfg, what="host_name only")
    g = greeting(d.port)
    check(g is not None and g.startswith("220 changed.test SMTP Guerrilla("),
          "greeting after the good reload: %r" % g)
    live.expect("NOOP", "250 2.0.0 OK")
    live.close()
    d.stop()


def slow_upload(port, i, tok, lines, pause, results, go):
    """One client: open DATA, then send lines slowly; the reload happens
    meanwhile.  results[i] = final reply line or an error text."""
    try:
        c = Client(port, timeout=15)
        try:
            open_rcpt(c)
            c.expect("DATA", DATA_REPLY_354)
            c.send(b"Subject: slow %d\r\n\r\n" % i)
            go.wait(10)
            for n in range(lines):
                c.send(b"%s line %d\r\n" % (tok.encode(), n))
                time.sleep(pause)
            c.send(b".\r\n")
            results[i] = c.reply1(timeout=15)
            c.expect("QUIT", "221 2.0.0 Bye")
        finally:
            c.close()
    except Exception as e:      # reported by the main thread
        results[i] = "error: %s: %s" % (type(e).__name__, e)


@test
def sighup_save_process_change_takes_effect_next_message_none_lost():
    # the old chain is slow (Debugger sleeps 2 s per message; 1 would be
    # its fault hook, PROC-14), so one message is still being saved by an
    # old worker during the swap
    d = Daemon(overrides={"backend_config": {
        "save_process": "HeadersParser|Debugger|MailDir",
        "sleep_seconds": 2,
        "maildir_path": "TMPDIR/mail1/[user]"}})
    p1 = os.path.join(d.dir, "mail1", "test")
    p2 = os.path.join(d.dir, "mail2", "test")
    n = 8
    toks = [token("slow%d" % i) for i in range(n)]
    results = [None] * n
    go = threading.Event()
    threads = [threading.Thread(target=slow_upload, daemon=True,
                                args=(d.port, i, toks[i], 12, 0.12, results,
                                      go))
               for i in range(n)]
    for t in threads:
        t.start()
    # a message stored by the old chain before the reload
    tok_old = token("before")
    with d.client() as c:
        r = c.transaction(b"Subject: before\r\n\r\n%s\r\n.\r\n" %
                          tok_old.encode())
        check(re.fullmatch(QUEUED_RE, r), "before the reload: %r" % r)
    go.set()
    # one message complete and in an old worker when the reload comes
    tok_fly = token("in-flight")
    fly = d.client()
    open_rcpt(fly)
    fly.expect("DATA", DATA_REPLY_354)
    fly.send(b"Subject: fly\r\n\r\n%s\r\n.\r\n" % tok_fly.encode())
    time.sleep(0.4)             # every slow client is now mid-DATA
    cfg = new_config(d)
    cfg["backend_config"].pop("sleep_seconds")
    cfg["backend_config"]["save_process"] = \
        "HeadersParser|Hasher|Header|MailDir"
    cfg["backend_config"]["maildir_path"] = os.path.join(d.dir, "mail2",
                                                         "[user]")
    reload(d, cfg, what="new save_process and maildir_path")
    # the old backend drains: the message it was saving is stored by it
    r = fly.reply1(timeout=15)
    check(re.fullmatch(QUEUED_RE, r), "in-flight message: %r" % r)
    fly.close()
    log = d.log_text()      # the scenario happened: saving began before
    check(0 <= log.find("Subject: fly") < log.find(RELOADED),
          "the in-flight message was not in a worker before the reload")
    for t in threads:
        t.join(40)
    check(not any(t.is_alive() for t in threads), "a client hung")
    # a message sent after the reload goes through the new chain
    tok_new = token("after")
    with d.client() as c:
        r = c.transaction(b"Subject: after\r\n\r\n%s\r\n.\r\n" %
                          tok_new.encode())
        check(re.fullmatch(QUEUED_RE, r), "after the reload: %r" % r)
    old = read_maildir(p1, d.pid)
    new = read_maildir(p2, d.pid)
    check(len(stored_with(old, tok_old)) == 1 and
          not stored_with(new, tok_old), "the message before the reload")
    check(stored_with(old, tok_old)[0][1] ==
          b"Subject: before\n\n%s\n" % tok_old.encode(),
          "old chain stored %r" % stored_with(old, tok_old)[0][1])
    check(len(stored_with(old, tok_fly)) == 1 and
          not stored_with(new, tok_fly),
          "the message saved across the swap is not (only) in the old "
          "Maildir")
    check(stored_with(old, tok_fly)[0][1] ==
          b"Subject: fly\n\n%s\n" % tok_fly.encode(),
          "in-flight message stored as %r" % stored_with(old, tok_fly)[0][1])
    check(len(stored_with(new, tok_new)) == 1 and
          not stored_with(old, tok_new),
          "the message after the reload is not (only) in the new Maildir")
    body = split_delivery(stored_with(new, tok_new)[0][1],  # Header ran
                          proto="SMTP")
    check(body == b"Subject: after\n\n%s\n" % tok_new.encode(),
          "new chain stored %r" % body)
    # the uploads in flight: 250 only when stored (DESIGN rule 5), exactly
    # once, and by one chain or the other, never a mix of the two; the
    # backend swap is atomic (8.4 [DEV], GAP-19), so none may fail
    for i, (tok, r) in enumerate(zip(toks, results)):
        check(r is not None and re.fullmatch(QUEUED_RE, r),
              "upload %d across the reload got %r" % (i, r))
        in_old, in_new = stored_with(old, tok), stored_with(new, tok)
        check(len(in_old) + len(in_new) == 1, "upload %d stored %d+%d times"
              % (i, len(in_old), len(in_new)))
        want = b"Subject: slow %d\n\n" % i + b"".join(
            b"%s line %d\n" % (tok.encode(), k) for k in range(12))
        if in_old:
            check(in_old[0][1] == want, "upload %d in the old Maildir: %r" %
                  (i, in_old[0][1][:200]))
        else:
            check(split_delivery(in_new[0][1]) == want,
                  "upload %d in the new Maildir differs" % i)
    d.stop()


@test
def sighup_timeout_applies_to_live_sessions():
    pb = free_port()
    d = Daemon(overrides=two_servers(pb))
    a = d.client()
    a.expect("NOOP", "250 2.0.0 OK")
    b = Client(pb)
    b.expect("NOOP", "250 2.0.0 OK")
    cfg = new_config(d)
    cfg["servers"][0]["timeout"] = 2
    reload(d, cfg, what="timeout 30 -> 2 on A")
    # the live session uses the new timeout from its next wait
    a.expect("NOOP", "250 2.0.0 OK")
    t0 = time.monotonic()
    try:
        r = a.readline(timeout=8)
    except (EOFError, ConnectionResetError) as e:
        raise AssertionError("closed without the 421: %s" % e)
    el = time.monotonic() - t0
    check(r == "421 4.4.2 mx.test Error: timeout exceeded",
          "live session on A got %r" % r)
    check(1.5 <= el <= 4.0, "421 after %.2fs with timeout 2" % el)
    a.expect_eof()
    a.close()
    # a new session on A too
    with d.client() as c:
        t0 = time.monotonic()
        r = c.readline(timeout=8)
        el = time.monotonic() - t0
        check(r == "421 4.4.2 mx.test Error: timeout exceeded",
              "new session on A got %r" % r)
        check(1.5 <= el <= 4.0, "421 after %.2fs" % el)
    # [DEV] only that server: B keeps its 30 s
    check(not b.is_closed(timeout=1.0), "B's session was cut")
    b.expect("NOOP", "250 2.0.0 OK")
    b.close()
    d.stop()


@test
def sighup_allowed_hosts_next_rcpt():
    d = Daemon()
    c = d.client()
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("RCPT TO:<test@example.com>", "250 2.1.5 OK")
    c.expect("RCPT TO:<x@newdomain.test>",
             "454 4.1.1 Error: Relay access denied: newdomain.test")
    cfg = new_config(d)
    cfg["allowed_hosts"] = ["newdomain.test"]
    reload(d, cfg, what="allowed_hosts")
    # the same transaction, next RCPT: the new list
    c.expect("RCPT TO:<x@newdomain.test>", "250 2.1.5 OK")
    c.expect("RCPT TO:<other@example.com>",
             "454 4.1.1 Error: Relay access denied: example.com")
    tok = token("hosts")
    r = finish_data(c, b"Subject: h\r\n\r\n%s\r\n.\r\n" % tok.encode())
    check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    c.close()
    # a new session sees it too
    with d.client() as c2:
        c2.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
        c2.expect("RCPT TO:<test@example.com>",
                  "454 4.1.1 Error: Relay access denied: example.com")
    got = [m for m in d.messages("x") if tok.encode() in m[1]]
    check(len(got) == 1, "x@newdomain.test got %d copies" % len(got))
    d.stop()


@test
def sighup_log_level_change():
    d = LogsDaemon(start=False)
    main_log = os.path.join(d.dir, "main.log")
    srv_log = os.path.join(d.dir, "server.log")
    cfg = new_config(d)
    cfg["log_file"] = main_log
    cfg["servers"][0]["log_file"] = srv_log
    write_config(d, cfg)
    d.cfg_log = main_log
    d.extra_logs = (srv_log,)
    d.start()

    def srv_text():
        try:
            with open(srv_log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
    old = d.client()
    old.expect("NOOP info-level", "250 2.0.0 OK")
    check(wait_for(lambda: "Handle client" in srv_text(), 3),
          "server log %s not written" % srv_log)
    cfg = new_config(d)
    cfg["log_level"] = "debug"
    reload(d, cfg, what="log_level debug")
    old.expect("NOOP old-session-debug", "250 2.0.0 OK")
    with d.client() as c:
        c.expect("NOOP new-session-debug", "250 2.0.0 OK")
    # 8.4 [DEV] "level changes everywhere": sessions that were open
    # before the reload included
    for w, who in (("new-session-debug", "a session opened after"),
                   ("old-session-debug", "a session opened before")):
        check(wait_for(lambda: "Client sent: NOOP %s" % w in srv_text(), 3),
              "log_level debug: %s the reload logs no 'Client sent' line "
              "in the server log" % who)
    text = srv_text() + open(main_log).read()
    check("info-level" not in text, "a command was logged at info level")
    # [DEV] destinations kept: the server's lines stay in its own file
    check("Client sent" not in open(main_log).read(),
          "session lines moved to the main log (GG's bug)")
    # and back
    cfg = new_config(d)
    cfg["log_level"] = "info"
    reload(d, cfg, what="log_level info")
    old.expect("NOOP back-to-info", "250 2.0.0 OK")
    old.close()
    time.sleep(0.3)
    check("back-to-info" not in srv_text(), "still logging at debug")
    d.stop()


@test
def sighup_max_clients():
    d = Daemon()
    cs = [d.client() for _ in range(3)]
    cfg = new_config(d)
    cfg["servers"][0]["max_clients"] = 2
    reload(d, cfg, what="max_clients 100 -> 2")
    # the sessions already admitted go on
    for c in cs:
        c.expect("NOOP", "250 2.0.0 OK")
    c4 = d.client(greet=False)
    r = c4.readline()
    check(r == "421 4.7.0 mx.test Error: too many connections, try again "
          "later", "fourth client got %r" % r)
    c4.expect_eof()
    c4.close()
    for c in cs[:2]:
        c.expect("QUIT", "221 2.0.0 Bye")
        c.close()
    # one left: a new one fits under the new limit, a second does not
    def admitted():
        c = d.client(greet=False)
        try:
            if c.readline().startswith("220 "):
                return c
        except (OSError, EOFError):
            pass
        c.close()
        return None
    c5 = wait_for(admitted, 3, 0.1)
    check(c5, "no session admitted with 1 of 2 slots used")
    c6 = d.client(greet=False)
    r = c6.readline()
    check(r.startswith("421 4.7.0 "), "third of 2 got %r" % r)
    for c in (c5, c6, cs[2]):
        c.close()
    d.stop()


@test
def sighup_with_v_flag_keeps_debug():
    d = Daemon(extra_args=["-v"])
    with d.client() as c:
        c.expect("NOOP before-reload", "250 2.0.0 OK")
    check(wait_for(lambda: "Client sent: NOOP before-reload" in
                   d.log_text(), 3), "-v: no debug line before the reload")
    cfg = new_config(d)
    cfg["log_level"] = "warning"
    cfg["servers"][0]["host_name"] = "mx2.test"     # proof it reloaded
    reload(d, cfg, what="log_level warning under -v")
    with d.client() as c:
        check(c.greeting.startswith("220 mx2.test "), c.greeting)
        c.expect("NOOP after-reload", "250 2.0.0 OK")
    check(wait_for(lambda: "Client sent: NOOP after-reload" in
                   d.log_text(), 3), "-v lost on reload (OPS-01)")
    d.stop()


@test
def sighup_server_log_file_change():
    # 8.4 [DEV]: a server's new log_file replaces only that server's log
    d = LogsDaemon(start=False)
    main_log = os.path.join(d.dir, "main.log")
    s1 = os.path.join(d.dir, "s1.log")
    s2 = os.path.join(d.dir, "s2.log")
    cfg = new_config(d)
    cfg["log_file"] = main_log
    cfg["servers"][0]["log_file"] = s1
    write_config(d, cfg)
    d.cfg_log = main_log
    d.extra_logs = (s1, s2)
    d.start()

    def text(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""
    with d.client() as c:
        c.expect("QUIT", "221 2.0.0 Bye")
    check(wait_for(lambda: "Handle client" in text(s1), 3), "s1.log unused")
    n1 = text(s1).count("Handle client")
    cfg = new_config(d)
    cfg["servers"][0]["log_file"] = s2
    reload(d, cfg, what="server log_file")
    with d.client() as c:
        c.expect("QUIT", "221 2.0.0 Bye")
    check(wait_for(lambda: "Handle client" in text(s2), 3),
          "the server does not log into its new file")
    check(text(s1).count("Handle client") == n1, "still logging into s1.log")
    check("Handle client" not in text(main_log), "session lines in the "
          "main log")
    check(RELOADED in text(main_log), "main log replaced (GG's bug)")
    d.stop()
    check("Shutdown completed, exiting." in text(main_log),
          "the main log lost its entries after the reload")


@test
def sighup_pid_file_moves():
    # 8.4: the pid is written to the new path; [DEV] the old file removed
    d = Daemon(start=False, use_p=False)
    old_pid = os.path.join(d.dir, "old.pid")
    new_pid = os.path.join(d.dir, "new.pid")
    cfg = new_config(d)
    cfg["pid_file"] = old_pid
    write_config(d, cfg)
    d.start()
    check(wait_for(lambda: os.path.exists(old_pid), 3), "pid file not written")
    cfg = new_config(d)
    cfg["pid_file"] = new_pid
    reload(d, cfg, what="pid_file")
    check(wait_for(lambda: os.path.exists(new_pid), 3),
          "new pid file not written")
    with open(new_pid) as f:
        check(f.read().strip() == str(d.pid), "new pid file content")
    check(not os.path.exists(old_pid), "old pid file left behind")
    d.stop()
    check(not os.path.exists(new_pid), "pid file left after exit")


@test
def sighup_keeps_p_override():
    # OPS-02: -p wins over pid_file, also after a reload that changes it
    d = Daemon()
    other = os.path.join(d.dir, "from-config.pid")
    cfg = new_config(d)
    cfg["pid_file"] = other
    cfg["servers"][0]["host_name"] = "mx2.test"     # proof it reloaded
    reload(d, cfg, what="pid_file under -p")
    check((greeting(d.port) or "").startswith("220 mx2.test "),
          "not reloaded")
    time.sleep(0.3)
    check(not os.path.exists(other), "pid_file of the config written "
          "although -p was given")
    with open(d.pidfile) as f:
        check(f.read().strip() == str(d.pid), "the -p pid file changed")
    d.stop()


if __name__ == "__main__":
    run_all()
