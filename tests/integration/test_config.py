#!/usr/bin/env python3
"""Config loading and the command line (SPEC 7, 8.1, 8.2)."""
import json
import os
import re
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F401,F403

QUEUED_RE = r"250 2\.0\.0 OK: queued as [0-9a-f]{12}"


def cfg_text(mutate=None):
    """The default config as JSON text, on a free port."""
    tmp = make_tmpdir()
    cfg = default_config(tmp)
    cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % free_port()
    if mutate:
        mutate(cfg)
    return json.dumps(cfg, indent=2)


def check_cmd(text):
    tmp = make_tmpdir()
    path = os.path.join(tmp, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    return run_cmd(target_cmd([BINARY, "check", "-c", path]))


@test
def syntax_error_names_line_and_column():
    port = free_port()
    text = ('{\n'                                          # 1
            '  "log_level": "info",\n'                     # 2
            '  "allowed_hosts": ["example.com"],\n'        # 3
            '  "servers": [\n'                             # 4
            '    {\n'                                      # 5
            '      "is_enabled": true,\n'                  # 6
            '      "host_name": "mx.test" "oops",\n'       # 7
            '      "listen_interface": "127.0.0.1:%d"\n'   # 8
            '    }\n'
            '  ]\n'
            '}\n') % port
    rc, out = serve_fail(text)
    check(rc == 1, "serve exit %r: %s" % (rc, out))
    check("line 7 column" in out, "no position in: %s" % out)
    check("could not parse config file" in out, "CFG-01 text: %s" % out)
    rc, out = check_cmd(text)
    check(rc == 1 and "line 7 column" in out, "check %r: %s" % (rc, out))


@test
def check_sample_conf():
    path = os.path.join(ROOT, "sample.conf")
    check(os.path.isfile(path), "sample.conf is not shipped (SPEC 7.7)")
    rc, out = run_cmd(target_cmd([BINARY, "check", "-c",
                                  "sample.conf"]))
    check(rc == 0, "check sample.conf exit %r: %s" % (rc, out))


@test
def check_valid_and_two_errors():
    rc, out = check_cmd(cfg_text())
    check(rc == 0, "valid config: exit %r: %s" % (rc, out))

    def two(cfg):
        cfg["servers"][0]["listen_interface"] = ""
        cfg["log_level"] = "loud-and-clear"
    rc, out = check_cmd(cfg_text(two))
    check(rc == 1, "exit %r: %s" % (rc, out))
    check("listen interface not specified for server at index 0" in out,
          "first error missing: %s" % out)
    check("loud-and-clear" in out or "log_level" in out,
          "second error (log_level) missing: %s" % out)


@test
def type_and_range_errors():
    def typ(cfg):
        cfg["servers"][0]["max_size"] = "big"
    rc, out = check_cmd(cfg_text(typ))
    check(rc == 1, "exit %r: %s" % (rc, out))
    check('"max_size" must be a number' in out, "CFG-02: %s" % out)

    def neg(cfg):
        cfg["servers"][0]["max_clients"] = -1
    rc, out = check_cmd(cfg_text(neg))
    check(rc == 1, "negative max_clients: exit %r: %s" % (rc, out))

    def dup(cfg):
        cfg["servers"].append(dict(cfg["servers"][0]))
    rc, out = check_cmd(cfg_text(dup))
    check(rc == 1, "duplicate listen_interface: exit %r: %s" % (rc, out))

    def dur(cfg):
        cfg["backend_config"]["gw_save_timeout"] = "soon"
    rc, out = check_cmd(cfg_text(dur))
    check(rc == 1, "bad duration: exit %r: %s" % (rc, out))


@test
def start_errors():
    def none(cfg):
        cfg["servers"][0]["is_enabled"] = False
    rc, out = serve_fail(cfg_text(none))
    check(rc == 1, "no enabled server: exit %r: %s" % (rc, out))
    check("there are no servers that can start, please check your config"
          in out, "CFG-11 text: %s" % out)

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        def taken(cfg):
            cfg["servers"][0]["listen_interface"] = "127.0.0.1:%d" % port
        rc, out = serve_fail(cfg_text(taken))
    finally:
        busy.close()
    check(rc == 1, "port in use: exit %r: %s" % (rc, out))
    check("[127.0.0.1:%d] Cannot listen on port" % port in out,
          "CFG-11 text: %s" % out)

    rc, out = run_cmd(target_cmd([BINARY, "serve", "-c",
                                  "/nonexistent/x.conf", "-p",
                                  os.path.join(make_tmpdir(), "pid")]),
                      timeout=10)
    check(rc == 1, "missing config file: exit %r: %s" % (rc, out))


@test
def version_help_usage():
    rc, out = run_cmd(target_cmd([BINARY, "version"]))
    check(rc == 0 and out.startswith("guerrillad "), "version %r %r" %
          (rc, out))
    for h in ("--help", "-h"):
        rc, out = run_cmd(target_cmd([BINARY, h]))
        check(rc == 0, "%s exit %r" % (h, rc))
        for word in ("serve", "check", "SIGTERM", "--config", "--pidFile"):
            check(word in out, "%s does not mention %s" % (h, word))
    for args in (["--bogus"], [], ["frobnicate"], ["serve", "-c"],
                 ["serve", "extra", "args"]):
        rc, out = run_cmd(target_cmd([BINARY]) + args, timeout=10)
        check(rc == 2, "%r: exit %r (want 2): %s" % (args, rc, out))
        check("usage" in out.lower(), "%r: no usage text: %s" % (args, out))


@test
def comments_and_unknown_keys_allowed():
    tmp = make_tmpdir()
    port = free_port()
    text = """// guerrillad test config
{
  /* block comment */
  "log_level": "info",   // trailing comment
  "allowed_hosts": ["example.com"],
  "some_future_key": {"nested": [1, 2.5, "x\\u00e9\\ud83d\\ude00"]},
  "servers": [ { "is_enabled": true, "host_name": "mx.test",
                 "listen_interface": "127.0.0.1:%d", "unknown": 1 } ],
  "backend_config": { "save_process": "HeadersParser|Header|Hasher|MailDir",
    "primary_mail_host": "mx.test",
    "maildir_path": "%s/mail/[user]", "maildir_user_map": "test=-1:-1",
    "save_process": "HeadersParser|Header|MailDir" }
}
""" % (port, tmp)
    path = os.path.join(tmp, "c.conf")
    with open(path, "w") as f:
        f.write(text)
    rc, out = run_cmd(target_cmd([BINARY, "check", "-c", path]))
    check(rc == 0, "check exit %r: %s" % (rc, out))
    d = Daemon(config={}, port=port, start=False)
    d.conf = path
    d.start()
    with d.client() as c:
        r = c.transaction(b"Subject: dup keys\r\n\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
    # CFG-01: duplicate keys, last wins -> no Hasher -> "id unknown"
    msgs = read_maildir(os.path.join(tmp, "mail", "test"))
    check(len(msgs) == 1, "%d messages" % len(msgs))
    split_delivery(msgs[0][1], hashre="unknown", proto="SMTP")
    d.stop()


def gg_config(tmp, port):
    """A go-guerrilla style config, keys and layout as GG documents
    them, no comments, with keys the C port does not use."""
    return {
        "log_file": "stderr",
        "log_level": "info",
        "allowed_hosts": ["example.com", "guerrillamail.com"],
        "pid_file": os.path.join(tmp, "go-guerrilla.pid"),
        "backend_config": {
            "log_received_mails": True,
            "save_workers_size": 1,
            "save_process": "HeadersParser|Header|Hasher|MailDir",
            "primary_mail_host": "mail.example.com",
            "gw_save_timeout": "30s",
            "gw_val_rcpt_timeout": "3s",
            "maildir_path": os.path.join(tmp, "home", "[user]", "Maildir"),
            "maildir_user_map": "test=-1:-1",
            "redis_interface": "127.0.0.1:6379",
            "redis_expire_seconds": 7200,
            "mail_table": "new_mail",
            "sql_driver": "mysql",
            "sql_dsn": "root:ok@tcp(127.0.0.1:3306)/gmail_mail?readTimeout="
                       "10s&writeTimeout=10s",
        },
        "servers": [
            {
                "is_enabled": True,
                "host_name": "mail.test.com",
                "max_size": 1000000,
                "timeout": 180,
                "listen_interface": "127.0.0.1:%d" % port,
                "max_clients": 1000,
                "log_file": "stderr",
                "xclient_on": False,
                "tls": {
                    "start_tls_on": False,
                    "tls_always_on": False,
                    "private_key_file": "/path/to/pem/file/test.com.pem",
                    "public_key_file": "/path/to/pem/file/test.com.crt",
                    "protocols": ["tls1.0", "tls1.2"],
                    "ciphers": ["TLS_FALLBACK_SCSV",
                                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                    "curves": ["P256", "P384", "P521", "X25519"],
                    "client_auth_type": "NoClientCert",
                },
            },
            {
                "is_enabled": False,
                "host_name": "mail.test.com",
                "max_size": 1000000,
                "timeout": 180,
                "listen_interface": "127.0.0.1:%d" % free_port(),
                "max_clients": 500,
                "log_file": "stderr",
                "tls": {
                    "private_key_file": "/path/to/pem/file/test.com.pem",
                    "public_key_file": "/path/to/pem/file/test.com.crt",
                    "start_tls_on": False,
                    "tls_always_on": True,
                },
            },
        ],
    }


@test
def go_guerrilla_config_unchanged():
    port = free_port()
    d = Daemon(config={}, port=port, start=False, use_p=False)
    cfg = gg_config(d.dir, port)
    with open(d.conf, "w") as f:
        json.dump(cfg, f, indent=4)
    d.start()
    pid_path = cfg["pid_file"]
    check(wait_for(lambda: os.path.exists(pid_path), 3),
          "pid_file from the config not written")
    with d.client() as c:
        check(c.greeting.startswith("220 mail.test.com SMTP Guerrilla("),
              "greeting %r" % c.greeting)
        c.send("EHLO client.example\r\n")
        r = c.reply()
        check("250-SIZE 1000000" in r, "EHLO %r" % r)
        r = c.transaction(b"Subject: gg\r\n\r\nfrom a GG config\r\n.\r\n")
        check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        c.expect("QUIT", "221 2.0.0 Bye")
    msgs = read_maildir(os.path.join(d.dir, "home", "test", "Maildir"))
    check(len(msgs) == 1, "%d messages" % len(msgs))
    # "HeadersParser|Header|Hasher|...": Header runs before Hasher
    body = split_delivery(msgs[0][1], host="mail.example.com",
                          hashre="unknown")
    check(body == b"Subject: gg\n\nfrom a GG config\n", "stored %r" % body)
    d.stop()
    check(not os.path.exists(pid_path), "pid file left after exit")


@test
def pid_file_lifecycle():
    d = Daemon()
    with open(d.pidfile) as f:
        content = f.read()
    check(re.fullmatch(r"\d+\n?", content), "pid file content %r" % content)
    check(int(content) == d.pid, "pid file %r, pid %d" % (content, d.pid))
    d.stop()
    check(not os.path.exists(d.pidfile), "pid file left after SIGTERM")


@test
def verbose_logs_commands_escaped():
    d = Daemon(extra_args=["-v"])
    with d.client() as c:
        c.expect("NOOP", "250 2.0.0 OK")
        c.send("NOOP x\rINJECTED level=error msg=forged\r\n")
        c.reply1()
        c.expect("QUIT", "221 2.0.0 Bye")
        c.expect_eof()
    d.stop()
    log = d.log_text()
    check("NOOP" in log, "-v: commands not logged at debug level")
    for line in re.split(r"[\r\n]", log):
        check(not line.startswith("INJECTED"),
              "client CR reached the log unescaped (LOG-05)")


if os.geteuid() == 0:   # only root can drop privileges; CI runs as root
    @test
    def user_and_group_drop_privileges():
        import pwd
        nobody = pwd.getpwnam("nobody")
        tmp = make_tmpdir()
        os.chmod(tmp, 0o777)
        mail = os.path.join(tmp, "mail")
        os.mkdir(mail)
        os.chmod(mail, 0o777)
        d = Daemon(overrides={"user": "nobody", "backend_config": {
            "maildir_path": mail + "/[user]"}})
        rc, out = run_cmd(["ps", "-o", "uid=", "-p", str(d.pid)])
        check(out.strip() == str(nobody.pw_uid),
              "daemon runs as uid %r, want nobody" % out.strip())
        with d.client() as c:
            r = c.transaction(b"Subject: p\r\n\r\nunprivileged\r\n.\r\n")
            check(re.fullmatch(QUEUED_RE, r), "DATA %r" % r)
        files = os.listdir(os.path.join(mail, "test", "new"))
        check(len(files) == 1, "stored %r" % files)
        st = os.stat(os.path.join(mail, "test", "new", files[0]))
        check(st.st_uid == nobody.pw_uid, "file owner %d" % st.st_uid)
        d.stop()

    @test
    def unknown_user_refuses_to_start():
        rc, out = serve_fail(cfg_text(lambda c: c.update(
            {"user": "no-such-user-here"})))
        check(rc == 1 and 'unknown user "no-such-user-here"' in out,
              "exit %r: %s" % (rc, out))


if __name__ == "__main__":
    run_all()
