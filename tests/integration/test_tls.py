#!/usr/bin/env python3
"""TLS: STARTTLS and SMTPS with BearSSL (SMTP-09, SMTP-52..55, TLS-01..05).

Keys and certificates are made at test time with the openssl command in
the test's temporary folder; no private key is committed.  Clients: python3
smtplib / ssl, openssl s_client, swaks, curl.
"""
import atexit
import json
import os
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

if shutil.which("openssl") is None:
    print("FAIL tls_tools: the openssl command is missing "
          "(apt-get install openssl)")
    sys.exit(1)

MSG = b"From: a@b.c\r\nTo: test@example.com\r\nSubject: tls\r\n\r\nhello\r\n"


# ---------------------------------------------------------------- certs

def openssl(*args):
    rc, out = run_cmd(["openssl"] + list(args), timeout=60)
    check(rc == 0, "openssl %s: %s" % (" ".join(args), out))


def make_key(path, kind):
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", path)


def self_signed(dir, name, kind="rsa", cn="mx.test"):
    """(key, cert) paths of a new self-signed certificate."""
    key = os.path.join(dir, name + ".key")
    crt = os.path.join(dir, name + ".crt")
    make_key(key, kind)
    openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2",
            "-subj", "/CN=" + cn)
    return key, crt


def signed_by(dir, name, ca_key, ca_crt, kind="rsa", cn="client.test"):
    key = os.path.join(dir, name + ".key")
    csr = os.path.join(dir, name + ".csr")
    crt = os.path.join(dir, name + ".crt")
    make_key(key, kind)
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2")
    return key, crt


def make_ca(dir, name="ca"):
    key = os.path.join(dir, name + ".key")
    crt = os.path.join(dir, name + ".crt")
    make_key(key, "rsa")
    openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2",
            "-subj", "/CN=Test CA " + name, "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign")
    return key, crt


_cache = {}


def certs(kind="rsa"):
    """One server key pair per kind for the whole run (RSA keygen is
    slow); lives in its own folder under tests/tmp."""
    if kind not in _cache:
        os.makedirs(TMPROOT_TLS, exist_ok=True)
        _cache[kind] = self_signed(TMPROOT_TLS, "server-" + kind, kind)
    return _cache[kind]


TMPROOT_TLS = os.path.join(ROOT, "tests", "tmp", "tls-certs-%d" % os.getpid())


def tls_daemon(kind="rsa", timeout=30, max_clients=100, **tls):
    key, crt = certs(kind)
    t = {"private_key_file": key, "public_key_file": crt}
    t.update(tls)
    if "start_tls_on" not in t and "tls_always_on" not in t:
        t["start_tls_on"] = True
    return Daemon({"servers": [server_cfg(tls=t, timeout=timeout,
                                          max_clients=max_clients)]})


def client_ctx(cafile=None, cert=None, key=None, minv=None, maxv=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


def starttls_send(d, ctx=None, rcpt="test@example.com"):
    s = smtplib.SMTP("127.0.0.1", d.port, local_hostname="client.example",
                     timeout=SOCK_TIMEOUT)
    try:
        s.ehlo()
        check(s.has_extn("starttls"), "STARTTLS not advertised: %r" %
              s.esmtp_features)
        code, text = s.starttls(context=ctx or client_ctx())
        check(code == 220 and text == b"2.0.0 Ready to start TLS",
              "STARTTLS %r %r" % (code, text))
        s.ehlo()
        check(not s.has_extn("starttls"),
              "STARTTLS still advertised after TLS: %r" % s.esmtp_features)
        s.sendmail("a@b.c", [rcpt], MSG)
        s.quit()
    finally:
        s.close()


def stored(d, n=1):
    msgs = wait_for(lambda: len(d.messages()) >= n and d.messages(), 5)
    check(msgs and len(msgs) == n, "expected %d stored, found %r" %
          (n, len(msgs or [])))
    return msgs


# ---------------------------------------------------------------- tests

@test
def starttls_smtplib_rsa_esmtps_header():
    d = tls_daemon("rsa")
    key, crt = certs("rsa")
    starttls_send(d, client_ctx(cafile=crt))   # our certificate is served
    data = stored(d)[0][1]
    split_delivery(data, proto="ESMTPS", ip="127.0.0.1")
    check("TLS session: TLS1.2" in d.log_text(), "no TLS log line")


@test
def starttls_twice_503_and_state_reset():
    d = tls_daemon("rsa")
    c = d.client()
    c.send("EHLO client\r\n")
    lines = c.reply()
    check("250-STARTTLS" in lines, "EHLO %r" % lines)
    c.expect("MAIL FROM:<a@b.c>", "250 2.1.0 OK")
    c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
    tls = client_ctx().wrap_socket(c.sock, server_hostname="mx.test")
    tls.settimeout(SOCK_TIMEOUT)
    f = tls.makefile("rwb")
    # SMTP-53: the transaction is forgotten (no "nested MAIL")
    f.write(b"MAIL FROM:<a@b.c>\r\n")
    f.flush()
    r = f.readline()
    check(r == b"250 2.1.0 OK\r\n", "MAIL after TLS (was the "
          "transaction reset?): %r" % r)
    f.write(b"EHLO client\r\n")
    f.flush()
    lines = []
    while True:
        line = f.readline()
        lines.append(line)
        if line[3:4] == b" ":
            break
    check(not any(b"STARTTLS" in x for x in lines), "EHLO %r" % lines)
    f.write(b"STARTTLS\r\n")
    f.flush()
    r = f.readline()
    check(r == b"503 5.5.1 Error: TLS already active\r\n", "%r" % r)
    f.write(b"QUIT\r\n")
    f.flush()
    check(f.readline().startswith(b"221"), "QUIT")
    tls.close()


@test
def starttls_injection_discarded():
    """CVE-2011-0411: commands sent with STARTTLS in one write are never
    answered."""
    d = tls_daemon("rsa")
    c = d.client()
    c.send("EHLO client\r\n")
    c.reply()
    c.send("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.y>\r\n")
    r = c.reply1()
    check(r == "220 2.0.0 Ready to start TLS", "STARTTLS %r" % r)
    check(c.buf == b"", "plaintext after 220: %r" % c.buf)
    tls = client_ctx().wrap_socket(c.sock, server_hostname="mx.test")
    tls.settimeout(0.7)
    try:
        extra = tls.recv(4096)
    except socket.timeout:
        extra = b""
    check(extra == b"", "injected commands answered over TLS: %r" % extra)
    tls.settimeout(SOCK_TIMEOUT)
    tls.sendall(b"NOOP\r\n")
    r = tls.recv(4096)
    check(r == b"250 2.0.0 OK\r\n", "NOOP %r" % r)
    tls.close()


@test
def starttls_handshake_failure_closes():
    d = tls_daemon("rsa")
    c = d.client()
    c.send("EHLO client\r\n")
    c.reply()
    c.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
    c.send("this is not a ClientHello\r\nQUIT\r\n")
    c.expect_eof(timeout=5)
    check(wait_for(lambda: "TLS handshake failed" in d.log_text(), 3),
          "no handshake failure logged: %s" % d.log_tail())
    # other sessions carry on
    starttls_send(d)


@test
def smtps_smtplib_ecdsa():
    d = tls_daemon("ec", tls_always_on=True, start_tls_on=False)
    key, crt = certs("ec")
    s = smtplib.SMTP_SSL("127.0.0.1", d.port, local_hostname="client.example",
                         timeout=SOCK_TIMEOUT,
                         context=client_ctx(cafile=crt))
    try:
        s.ehlo()
        check(not s.has_extn("starttls"), "STARTTLS on SMTPS")
        check("ECDSA" in s.sock.cipher()[0], "cipher %r" % (s.sock.cipher(),))
        s.sendmail("a@b.c", ["test@example.com"], MSG)
        s.quit()
    finally:
        s.close()
    split_delivery(stored(d)[0][1], proto="ESMTPS")


@test
def smtps_greeting_only_after_handshake():
    d = tls_daemon("rsa", tls_always_on=True, start_tls_on=False)
    s = socket.create_connection(("127.0.0.1", d.port), timeout=1)
    try:
        s.recv(100)
        raise AssertionError("plaintext sent before the handshake")
    except socket.timeout:
        pass
    tls = client_ctx().wrap_socket(s, server_hostname="mx.test")
    tls.settimeout(SOCK_TIMEOUT)
    g = tls.recv(1000)
    check(g.startswith(b"220 mx.test SMTP Guerrilla("), "greeting %r" % g)
    tls.close()


@test
def smtps_with_proxy_header():
    key, crt = certs("rsa")
    d = Daemon({"servers": [server_cfg(proxyon=True, tls={
        "tls_always_on": True, "private_key_file": key,
        "public_key_file": crt})]})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=SOCK_TIMEOUT)
    s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n")
    tls = client_ctx().wrap_socket(s, server_hostname="mx.test")
    g = tls.recv(1000)
    check(g.startswith(b"220 "), "greeting %r" % g)
    tls.sendall(b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<test@example.com>"
                b"\r\nDATA\r\n")
    buf = b""
    while b"354" not in buf:
        buf += tls.recv(4096)
    tls.sendall(b"Subject: x\r\n\r\nproxied\r\n.\r\nQUIT\r\n")
    while b"221" not in buf:
        buf += tls.recv(4096)
    tls.close()
    split_delivery(stored(d)[0][1], proto="ESMTPS", ip="192.0.2.7")


@test
def openssl_s_client_starttls_and_smtps():
    d = tls_daemon("rsa")
    rc, out = run_cmd(["openssl", "s_client", "-starttls", "smtp",
                       "-connect", "127.0.0.1:%d" % d.port, "-quiet"],
                      input=b"EHLO x\r\nQUIT\r\n", timeout=20)
    check("250-mx.test Hello" in out and "221 2.0.0 Bye" in out,
          "s_client -starttls: %s" % out)
    d2 = tls_daemon("ec", tls_always_on=True, start_tls_on=False)
    rc, out = run_cmd(["openssl", "s_client", "-connect",
                       "127.0.0.1:%d" % d2.port, "-quiet"],
                      input=b"EHLO x\r\nQUIT\r\n", timeout=20)
    check("220 mx.test" in out and "221 2.0.0 Bye" in out,
          "s_client SMTPS: %s" % out)
    # sessions resume from the server's cache (full handshake once)
    rc, out = run_cmd(["openssl", "s_client", "-connect",
                       "127.0.0.1:%d" % d2.port, "-reconnect", "-tls1_2"],
                      input=b"QUIT\r\n", timeout=30)
    check(out.count("\nReused, TLSv1.2") >= 4, "no resumption: %s" % out)


@test
def swaks_tls_and_tlsc():
    rc, out = run_cmd(["perl", "-MIO::Socket::SSL", "-e", "1"])
    check(rc == 0, "swaks needs IO::Socket::SSL: apt-get install "
          "libio-socket-ssl-perl")
    d = tls_daemon("rsa")
    rc, out = run_cmd(["swaks", "--server", "127.0.0.1:%d" % d.port,
                       "--to", "test@example.com", "--from", "a@b.c",
                       "--tls", "--helo", "client.example"], timeout=30)
    check(rc == 0 and "250 2.0.0 OK: queued as" in out, "swaks --tls: %s" % out)
    d2 = tls_daemon("ec", tls_always_on=True, start_tls_on=False)
    rc, out = run_cmd(["swaks", "--server", "127.0.0.1:%d" % d2.port,
                       "--to", "test@example.com", "--from", "a@b.c",
                       "--tlsc", "--helo", "client.example"], timeout=30)
    check(rc == 0 and "250 2.0.0 OK: queued as" in out,
          "swaks --tlsc: %s" % out)
    stored(d)
    split_delivery(stored(d2)[0][1], proto="ESMTPS")


@test
def curl_ssl_reqd_and_smtps():
    d = tls_daemon("rsa")
    mail = os.path.join(d.dir, "mail.txt")
    with open(mail, "wb") as f:
        f.write(MSG)
    rc, out = run_cmd(["curl", "-sS", "-k", "--ssl-reqd",
                       "smtp://127.0.0.1:%d" % d.port, "--mail-from",
                       "a@b.c", "--mail-rcpt", "test@example.com",
                       "-T", mail], timeout=30)
    check(rc == 0, "curl --ssl-reqd: %s" % out)
    split_delivery(stored(d)[0][1], proto="ESMTPS")
    d2 = tls_daemon("rsa", tls_always_on=True, start_tls_on=False)
    rc, out = run_cmd(["curl", "-sS", "-k", "smtps://127.0.0.1:%d" % d2.port,
                       "--mail-from", "a@b.c", "--mail-rcpt",
                       "test@example.com", "-T", mail], timeout=30)
    check(rc == 0, "curl smtps: %s" % out)
    stored(d2)


def s_client_ok(port, *args):
    rc, out = run_cmd(["openssl", "s_client", "-connect",
                       "127.0.0.1:%d" % port, "-quiet"] + list(args),
                      input=b"QUIT\r\n", timeout=20)
    return "221 2.0.0 Bye" in out, out


@test
def protocols_tls12_only():
    d = tls_daemon("rsa", tls_always_on=True, start_tls_on=False,
                   protocols=["tls1.2", "tls1.3"])
    ok, out = s_client_ok(d.port, "-tls1_2")
    check(ok, "TLS 1.2 refused: %s" % out)
    check("TLS 1.3 is not available (BearSSL): protocols max is tls1.2" in
          d.log_text(), "no TLS-02 warning: %s" % d.log_tail())
    ok, out = s_client_ok(d.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    check(not ok, "TLS 1.1 accepted: %s" % out)
    # TLS 1.0 only, when this openssl can still speak it
    d2 = tls_daemon("rsa", tls_always_on=True, start_tls_on=False,
                    protocols=["tls1.0", "tls1.0"])
    ok, out = s_client_ok(d2.port, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
    if "no protocols available" not in out and "unsupported" not in out:
        check(ok, "TLS 1.0 refused by a tls1.0 server: %s" % out)
    ok, out = s_client_ok(d2.port, "-tls1_2")
    check(not ok, "TLS 1.2 accepted by a tls1.0-only server")


@test
def ciphers_mapped_unknown_warned():
    d = tls_daemon("rsa", tls_always_on=True, start_tls_on=False,
                   ciphers=["TLS_RSA_WITH_RC4_128_SHA", "TLS_NO_SUCH_SUITE",
                            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
                   curves=["P384"])
    log = d.log_text()
    check("TLS cipher suite TLS_NO_SUCH_SUITE is unknown, skipped" in log and
          "TLS_RSA_WITH_RC4_128_SHA is not supported by BearSSL" in log,
          "warnings: %s" % log)
    ok, out = s_client_ok(d.port, "-cipher", "ECDHE-RSA-AES256-GCM-SHA384",
                          "-tls1_2")
    check(ok, "configured suite refused: %s" % out)
    ok, out = s_client_ok(d.port, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                          "-tls1_2")
    check(not ok, "suite outside the list accepted: %s" % out)
    # curves: P384 only
    ok, out = s_client_ok(d.port, "-tls1_2", "-curves", "P-256")
    check(not ok, "P-256 accepted with curves [P384]: %s" % out)
    ok, out = s_client_ok(d.port, "-tls1_2", "-curves", "P-384")
    check(ok, "P-384 refused: %s" % out)
    # prefer_server_cipher_suites: our order wins over the client's
    for prefer, want in ((True, "ECDHE-RSA-AES256-GCM-SHA384"),
                         (False, "ECDHE-RSA-AES128-GCM-SHA256")):
        d2 = tls_daemon("rsa", tls_always_on=True, start_tls_on=False,
                        prefer_server_cipher_suites=prefer,
                        ciphers=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                 "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        rc, out = run_cmd(["openssl", "s_client", "-connect",
                           "127.0.0.1:%d" % d2.port, "-tls1_2", "-cipher",
                           "ECDHE-RSA-AES128-GCM-SHA256:"
                           "ECDHE-RSA-AES256-GCM-SHA384"],
                          input=b"QUIT\r\n", timeout=20)
        check("Cipher is %s" % want in out, "prefer=%s: want %s: %s" %
              (prefer, want, out))


@test
def bad_tls_files_refused_at_start():
    tmp = make_tmpdir()
    key, crt = certs("rsa")
    ekey, ecrt = certs("ec")
    junk = os.path.join(tmp, "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n!!!notbase64\n")
    cases = [
        ({"private_key_file": ekey, "public_key_file": crt},
         "private key does not match public key"),
        ({"private_key_file": key, "public_key_file": key},
         "no certificate found"),
        ({"private_key_file": crt, "public_key_file": crt},
         "no private key found"),
        ({"private_key_file": key, "public_key_file": junk}, "PEM"),
        ({"private_key_file": key, "public_key_file": crt,
          "ciphers": ["TLS_NOPE"]}, "no usable cipher suite"),
        ({"private_key_file": key, "public_key_file": crt,
          "ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]},
         "works with an RSA key"),
    ]
    for t, want in cases:
        t = dict(t, start_tls_on=True)
        cfg = default_config(tmp)
        cfg["servers"] = [server_cfg(listen_interface="127.0.0.1:%d" %
                                     free_port(), tls=t)]
        rc, out = serve_fail(json.dumps(cfg))
        check(rc not in (0, "running"), "started with %r" % t)
        check("cannot use TLS config for [127.0.0.1:" in out and want in out,
              "want %r: %s" % (want, out))


@test
def client_cert_require_and_verify():
    d0 = make_tmpdir()
    ca_key, ca_crt = make_ca(d0, "ca")
    ok_key, ok_crt = signed_by(d0, "good", ca_key, ca_crt)
    other_key, other_crt = make_ca(d0, "other")
    bad_key, bad_crt = signed_by(d0, "bad", other_key, other_crt)
    d = tls_daemon("rsa", root_cas_file=ca_crt,
                   client_auth_type="RequireAndVerifyClientCert")
    starttls_send(d, client_ctx(cert=ok_crt, key=ok_key))
    stored(d)
    for args in ((bad_crt, bad_key), (None, None)):
        try:
            starttls_send(d, client_ctx(cert=args[0], key=args[1]))
            raise AssertionError("session with client cert %r accepted" %
                                 (args[0],))
        except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
            if isinstance(e, AssertionError):
                raise
    check(len(d.messages()) == 1, "messages %d" % len(d.messages()))
    # VerifyClientCertIfGiven: none is fine, a bad one is refused
    d2 = tls_daemon("rsa", root_cas_file=ca_crt,
                    client_auth_type="VerifyClientCertIfGiven")
    starttls_send(d2)
    starttls_send(d2, client_ctx(cert=ok_crt, key=ok_key))
    try:
        starttls_send(d2, client_ctx(cert=bad_crt, key=bad_key))
        raise AssertionError("untrusted client cert accepted")
    except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
        if isinstance(e, AssertionError):
            raise
    check(len(d2.messages()) == 2, "messages %d" % len(d2.messages()))


@test
def client_cert_request_and_require_any():
    d0 = make_tmpdir()
    key, crt = self_signed(d0, "anyclient", "ec", cn="anyclient")
    # RequireAnyClientCert: any certificate, unchecked; none is refused
    d = tls_daemon("rsa", client_auth_type="RequireAnyClientCert")
    starttls_send(d, client_ctx(cert=crt, key=key))
    try:
        starttls_send(d)
        raise AssertionError("session without a client cert accepted")
    except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
        if isinstance(e, AssertionError):
            raise
    check(len(d.messages()) == 1, "messages %d" % len(d.messages()))
    # RequestClientCert: asked for, never required or checked
    d2 = tls_daemon("rsa", client_auth_type="RequestClientCert")
    starttls_send(d2)
    starttls_send(d2, client_ctx(cert=crt, key=key))
    check(len(stored(d2, 2)) == 2, "messages")


@test
def concurrent_tls_sessions_200():
    n = 200
    d = tls_daemon("ec", timeout=30, max_clients=n + 10)
    errors = []

    def one(i):
        try:
            starttls_send(d)
        except Exception as e:  # noqa
            errors.append("%d: %r" % (i, e))

    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join(max(0.1, t0 + 60 - time.monotonic()))
    alive = sum(1 for t in ths if t.is_alive())
    check(not alive, "%d of %d sessions still running after %.1fs "
          "(%d failed so far, first: %s)" % (alive, n, time.monotonic() - t0,
                                             len(errors), errors[:3]))
    check(not errors, "%d of %d sessions failed, first: %s" %
          (len(errors), n, errors[:3]))
    msgs = wait_for(lambda: len(d.messages()) >= n and d.messages(), 10)
    check(len(msgs or []) == n, "stored %d of %d" % (len(msgs or []), n))
    took = time.monotonic() - t0
    check(took < 60, "too slow: %d sessions took %.1fs (limit 60s)" %
          (n, took))


def smtps_socket(d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=SOCK_TIMEOUT)
    tls = client_ctx().wrap_socket(s, server_hostname="mx.test")
    tls.settimeout(SOCK_TIMEOUT)
    return tls


def read_until(tls, want, limit=10 * 1024 * 1024):
    buf = b""
    while want not in buf:
        chunk = tls.recv(65536)
        check(chunk, "closed; have %r" % buf[-200:])
        buf += chunk
        check(len(buf) < limit, "too much")
    return buf


@test
def tls_pipelining_flood_all_answered():
    """3000 pipelined NOOPs (18 KB in, 42 KB of replies) through the
    engine's buffers: every one is answered, none is lost."""
    d = tls_daemon("rsa", tls_always_on=True, start_tls_on=False)
    tls = smtps_socket(d)
    read_until(tls, b"\r\n")
    n = 3000
    # One thread, non-blocking: an SSL object must not be read and written
    # from two threads at once (OpenSSL does not allow it).
    data = memoryview(b"NOOP\r\n" * n + b"QUIT\r\n")
    buf = b""
    tls.setblocking(False)
    deadline = time.monotonic() + 30
    while not buf.endswith(b"221 2.0.0 Bye\r\n"):
        check(time.monotonic() < deadline, "stuck: sent %d left, got %d"
              % (len(data), len(buf)))
        w = [tls] if len(data) else []
        select.select([tls], w, [], 0.5)
        try:
            if len(data):
                k = tls.send(data[:16384])
                data = data[k:]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        try:
            chunk = tls.recv(65536)
            check(chunk != b"", "closed; have %r" % buf[-200:])
            buf += chunk
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
    out = buf.split(b"\r\n")
    check(out.count(b"250 2.0.0 OK") == n, "NOOP replies %d" %
          out.count(b"250 2.0.0 OK"))
    tls.close()


@test
def tls_large_message_exact():
    d = tls_daemon("ec")
    body = b"".join(b"line %07d " % i + b"x" * 60 + b"\r\n"
                    for i in range(60000))      # about 4.4 MB
    msg = b"Subject: big\r\n\r\n" + body
    s = smtplib.SMTP("127.0.0.1", d.port, timeout=30)
    s.starttls(context=client_ctx())
    s.ehlo()
    s.sendmail("a@b.c", ["test@example.com"], msg)
    s.quit()
    data = split_delivery(stored(d)[0][1], proto="ESMTPS")
    want = msg.replace(b"\r\n", b"\n")     # MailDir stores LF lines
    check(data == want, "stored %d octets, want %d" % (len(data), len(want)))


@test
def tls_shutdown_sends_421_over_tls():
    d = tls_daemon("rsa", tls_always_on=True, start_tls_on=False)
    tls = smtps_socket(d)
    read_until(tls, b"\r\n")
    tls.sendall(b"EHLO c\r\n")
    read_until(tls, b"250 HELP\r\n")
    d.stop()
    buf = read_until(tls, b"\r\n")
    check(buf.startswith(b"421 4.3.0 Server is shutting down"), "%r" % buf)


@test
def stalled_handshake_closed_at_deadline():
    d = tls_daemon("rsa", timeout=2, tls_always_on=True, start_tls_on=False)
    t0 = time.monotonic()
    stall = socket.create_connection(("127.0.0.1", d.port), timeout=6)
    stall.sendall(b"\x16\x03\x01\x00\x50\x01")   # half a ClientHello
    # others are served meanwhile
    s = smtplib.SMTP_SSL("127.0.0.1", d.port, timeout=SOCK_TIMEOUT,
                         context=client_ctx())
    s.ehlo()
    s.sendmail("a@b.c", ["test@example.com"], MSG)
    s.quit()
    try:
        data = stall.recv(100)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - t0
    check(data == b"", "stalled client got %r" % data)
    check(1.5 <= took < 5, "closed after %.1fs" % took)
    check("TLS handshake timeout" in d.log_text(), d.log_tail())
    stored(d)


@test
def sighup_reloads_changed_certificate():
    # TLS-07: new files on disk + SIGHUP -> new sessions get the new
    # certificate, a session opened before keeps working; a broken pair
    # keeps the previous certificate.
    tmp = make_tmpdir()
    key, crt = self_signed(tmp, "first", "ec", cn="first.test")
    d = Daemon({"servers": [server_cfg(tls={
        "private_key_file": key, "public_key_file": crt,
        "tls_always_on": True})]})

    def peer_cn():
        t = smtps_socket(d)
        try:
            der = t.getpeercert(binary_form=True)
            t.recv(1000)
        finally:
            t.close()
        p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                            "-subject"], input=der, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return p.stdout.decode()

    check("first.test" in peer_cn(), "first certificate not served")
    live = smtps_socket(d)
    check(live.recv(1000).startswith(b"220 "), "no greeting")
    k2, c2 = self_signed(tmp, "second", "ec", cn="second.test")
    time.sleep(1.1)     # a new mtime even on coarse file systems
    os.replace(k2, key)
    os.replace(c2, crt)
    d.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "TLS certificate reloaded" in d.log_text()),
          "no reload logged: %s" % d.log_tail())
    check("second.test" in peer_cn(), "new certificate not served")
    live.sendall(b"NOOP\r\n")
    check(read_until(live, b"\r\n").startswith(b"250 "), "live session")
    live.close()
    time.sleep(1.1)
    with open(crt, "w") as f:   # a broken pair: the old one stays
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
    d.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "keeping the old certificate" in d.log_text()),
          "broken pair not reported: %s" % d.log_tail())
    check("second.test" in peer_cn(), "broken pair replaced the old one")
    d.stop()


atexit.register(shutil.rmtree, TMPROOT_TLS, True)
run_all()
