/*
 * t_config.c - unit tests for config.c: loading, defaults, every type and
 * validation error, TLS checks, allowed_hosts (the GG oracles of CFG-06),
 * globs, durations, CIDR blocks, backend_config defaults, and the shipped
 * sample.conf and run.conf.  Runs from the repository root; temporary files
 * go under /tmp and are removed.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "log.h"
#include "t.h"

static char hostname[256];

/* load - cfg_load_string on a C string named "t.json". */
static int
load(const char *json, struct cfg_app *a, struct cfg_errors *e)
{
	return cfg_load_string(json, strlen(json), "t.json", a, e);
}

/* col - 1-based column of the first occurrence of needle in json. */
static int
col(const char *json, const char *needle)
{
	const char *p = strstr(json, needle);

	return p != NULL ? (int)(p - json) + 1 : -1;
}

/* has - does the error text contain want?  Prints the text if not. */
static int
has(const struct cfg_errors *e, const char *want)
{
	if (e->text != NULL && strstr(e->text, want) != NULL)
		return 1;
	printf("     errors: [%s]\n     missing: [%s]\n",
	    e->text ? e->text : "(none)", want);
	return 0;
}

/* one_error - load json, expect failure with exactly the message want
 * (formatted with the column of needle when want has %d). */
static void
one_error(const char *json, const char *needle, const char *want)
{
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };
	char exp[512];
	int n;

	n = snprintf(exp, sizeof(exp), want, col(json, needle));
	CHECK(n > 0 && (size_t)n < sizeof(exp));
	CHECK(load(json, &a, &e) == -1);
	CHECK(e.count == 1);
	CHECK_STR(e.text, exp);
	CHECK(a.servers == NULL && a.backend_config == NULL);
	cfg_errors_free(&e);
}

/* bad - load json, expect failure with an error containing want. */
static void
bad(const char *json, const char *want)
{
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };

	CHECK(load(json, &a, &e) == -1);
	CHECK(has(&e, want));
	CHECK(a.servers == NULL);
	cfg_errors_free(&e);
}

/* good - load json, expect success. */
static int
good(const char *json, struct cfg_app *a)
{
	struct cfg_errors e = { NULL, 0, 0 };
	int rc = load(json, a, &e);

	if (rc != 0)
		printf("     unexpected errors: [%s]\n", e.text ? e.text : "");
	cfg_errors_free(&e);
	return rc;
}

/* bstr / bint / bbool - backend_config members. */
static const char *
bstr(const struct cfg_app *a, const char *key)
{
	const struct json_value *v = json_get(a->backend_config, key);

	return v != NULL && v->type == JSON_STRING ? v->u.str.s : NULL;
}

static long long
bint(const struct cfg_app *a, const char *key)
{
	const struct json_value *v = json_get(a->backend_config, key);

	return v != NULL && v->type == JSON_NUMBER ? v->u.num.i : -999;
}

static int
bbool(const struct cfg_app *a, const char *key)
{
	const struct json_value *v = json_get(a->backend_config, key);

	return v == NULL ? -1 : v->type == JSON_TRUE ? 1 :
	    v->type == JSON_FALSE ? 0 : -2;
}

/* tmpfile_with - a file under /tmp holding text; path into buf. */
static int
tmpfile_with(char *buf, size_t size, const char *text)
{
	FILE *f;
	int fd;

	if ((size_t)snprintf(buf, size, "/tmp/t_config.XXXXXX") >= size)
		return -1;
	if ((fd = mkstemp(buf)) < 0)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	fputs(text, f);
	return fclose(f);
}

static void
test_gg_config(void)
{
	static const char *json =
	    "{\n"
	    "  \"log_file\": \"/tmp/gg.log\",\n"
	    "  \"log_level\": \"debug\",\n"
	    "  \"allowed_hosts\": [\"guerrillamail.com\", \"sharklasers.com\"],\n"
	    "  \"pid_file\": \"/tmp/go-guerrilla.pid\",\n"
	    "  \"backend_config\": {\n"
	    "    \"log_received_mails\": true,\n"
	    "    \"save_process\": \"HeadersParser|Header|Hasher|MailDir\",\n"
	    "    \"save_workers_size\": 3,\n"
	    "    \"primary_mail_host\": \"sharklasers.com\",\n"
	    "    \"maildir_path\": \"/tmp/mail/[user]\",\n"
	    "    \"maildir_user_map\": \"test=-1:-1\"\n"
	    "  },\n"
	    "  \"servers\": [\n"
	    "    {\n"
	    "      \"is_enabled\": true,\n"
	    "      \"host_name\": \"mail.test.com\",\n"
	    "      \"max_size\": 1000000,\n"
	    "      \"timeout\": 180,\n"
	    "      \"listen_interface\": \"127.0.0.1:2526\",\n"
	    "      \"max_clients\": 1000,\n"
	    "      \"log_file\": \"stderr\",\n"
	    "      \"xclient_on\": false,\n"
	    "      \"tls\": {\n"
	    "        \"start_tls_on\": false, \"tls_always_on\": false,\n"
	    "        \"private_key_file\": \"/nope/key.pem\",\n"
	    "        \"public_key_file\": \"/nope/cert.pem\",\n"
	    "        \"protocols\": [\"tls1.0\", \"tls1.2\"],\n"
	    "        \"ciphers\": [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"],\n"
	    "        \"curves\": [\"P256\", \"P384\", \"P521\", \"X25519\"],\n"
	    "        \"client_auth_type\": \"NoClientCert\"\n"
	    "      }\n"
	    "    },\n"
	    "    { \"is_enabled\": false, \"listen_interface\": \"[::1]:465\",\n"
	    "      \"unknown_key\": {\"x\": [1, 2]},\n"
	    "      \"tls\": { \"tls_always_on\": true } }\n"
	    "  ]\n"
	    "}\n";
	struct cfg_app a;
	const struct cfg_server *s;

	if (good(json, &a) != 0) {
		CHECK(!"GG config failed to load");
		return;
	}
	CHECK_STR(a.log_file, "/tmp/gg.log");
	CHECK(a.log_level == LOGL_DEBUG);
	CHECK_STR(a.pid_file, "/tmp/go-guerrilla.pid");
	CHECK(a.nallowed_hosts == 2);
	CHECK_STR(a.allowed_hosts[1], "sharklasers.com");
	CHECK(a.nservers == 2);
	s = &a.servers[0];
	CHECK(s->is_enabled == 1);
	CHECK_STR(s->host_name, "mail.test.com");
	CHECK_STR(s->listen_interface, "127.0.0.1:2526");
	CHECK(s->max_size == 1000000 && s->timeout == 180);
	CHECK(s->max_clients == 1000);
	CHECK_STR(s->log_file, "stderr");
	CHECK(s->tls.proto_min == 0x0301 && s->tls.proto_max == 0x0303);
	CHECK(s->tls.nciphers == 1 && s->tls.ncurves == 4);
	CHECK_STR(s->tls.curves[3], "X25519");
	CHECK_STR(s->tls.private_key_file, "/nope/key.pem");
	CHECK(s->tls.client_auth == CFG_NO_CLIENT_CERT);
	s = &a.servers[1];
	CHECK(s->is_enabled == 0 && s->tls.tls_always_on == 1);
	CHECK_STR(s->log_file, "/tmp/gg.log");	/* app log_file */
	CHECK(s->max_size == CFG_DEFAULT_MAX_SIZE);
	CHECK_STR(bstr(&a, "save_process"),
	    "HeadersParser|Header|Hasher|MailDir");
	CHECK(bint(&a, "save_workers_size") == 3);
	CHECK(bbool(&a, "log_received_mails") == 1);
	CHECK_STR(bstr(&a, "maildir_user_map"), "test=-1:-1");
	CHECK_STR(bstr(&a, "gw_save_timeout"), "30s");
	CHECK_STR(bstr(&a, "gw_val_rcpt_timeout"), "5s");
	cfg_free(&a);
	CHECK(a.servers == NULL && a.backend_config == NULL);
}

/* check_default_app - what "{}" and cfg_default must give (7.2, 7.3). */
static void
check_default_app(const struct cfg_app *a)
{
	const struct cfg_server *s = &a->servers[0];

	CHECK(a->nservers == 1);
	CHECK_STR(a->log_file, "stderr");
	CHECK(a->log_level == LOGL_INFO);
	CHECK_STR(a->pid_file, "");
	CHECK(a->io_threads == 0);
	CHECK(a->user == NULL && a->group == NULL);
	CHECK(a->nallowed_hosts == 1);
	CHECK_STR(a->allowed_hosts[0], hostname);
	CHECK(s->is_enabled == 1);
	CHECK_STR(s->listen_interface, CFG_DEFAULT_IFACE);
	CHECK_STR(s->host_name, hostname);
	CHECK(s->max_size == 10485760 && s->timeout == 30);
	CHECK(s->max_clients == 100);
	CHECK_STR(s->log_file, "stderr");
	CHECK(s->xclient_on == 0 && s->proxyon == 0);
	CHECK(s->bare_lf == CFG_BARE_LF_NORMALIZE);
	CHECK(s->greeting == NULL);
	CHECK(s->nxclient_trusted == 2 && s->nproxy_trusted == 2);
	CHECK(s->tls.start_tls_on == 0 && s->tls.tls_always_on == 0);
	CHECK(s->tls.client_auth == CFG_NO_CLIENT_CERT);
	CHECK(s->tls.proto_min == 0 && s->tls.proto_max == 0);
	CHECK(s->tls.private_key_file == NULL);
	CHECK(bint(a, "save_workers_size") == 1);
	CHECK_STR(bstr(a, "save_process"), "HeadersParser|Header|Debugger");
	CHECK_STR(bstr(a, "primary_mail_host"), hostname);
	CHECK(bbool(a, "log_received_mails") == 1);
	CHECK_STR(bstr(a, "gw_save_timeout"), "30s");
	CHECK_STR(bstr(a, "gw_val_rcpt_timeout"), "5s");
}

static void
test_defaults(void)
{
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };
	const struct cfg_server *s;

	CHECK(good("{}", &a) == 0);
	if (a.nservers == 1)
		check_default_app(&a);
	cfg_free(&a);
	CHECK(cfg_default(&a, &e) == 0 && e.count == 0);
	if (a.nservers == 1)
		check_default_app(&a);
	cfg_free(&a);
	/* null is an absent key, as in GG */
	CHECK(good("{\"servers\": null, \"log_file\": null, "
	    "\"backend_config\": null, \"allowed_hosts\": null}", &a) == 0);
	if (a.nservers == 1)
		check_default_app(&a);
	cfg_free(&a);

	/* A listed server is off by default; zeros mean the defaults. */
	CHECK(good("{\"log_file\": \"\", \"log_level\": \"\", \"servers\": ["
	    "{\"listen_interface\": \":25\", \"host_name\": \"\", "
	    "\"max_size\": 0, \"timeout\": 0, \"max_clients\": 0, "
	    "\"greeting\": \"\", \"log_file\": \"\"}]}", &a) == 0);
	CHECK(a.nservers == 1);
	if (a.nservers == 1) {
		s = &a.servers[0];
		CHECK(s->is_enabled == 0);
		CHECK_STR(s->host_name, hostname);
		CHECK(s->max_size == CFG_DEFAULT_MAX_SIZE);
		CHECK(s->timeout == CFG_DEFAULT_TIMEOUT);
		CHECK(s->max_clients == CFG_DEFAULT_MAX_CLIENTS);
		CHECK(s->greeting == NULL);
		CHECK_STR(s->log_file, "stderr");
	}
	CHECK_STR(a.log_file, "stderr");
	CHECK(a.log_level == LOGL_INFO);
	cfg_free(&a);

	/* An empty list is no servers (gd_start refuses that, CFG-11). */
	CHECK(good("{\"servers\": [], \"allowed_hosts\": []}", &a) == 0);
	CHECK(a.nservers == 0 && a.nallowed_hosts == 0);
	cfg_free(&a);

	/* C-only keys */
	CHECK(good("{\"io_threads\": 4, \"user\": \"nobody\", \"group\": "
	    "\"nogroup\", \"log_level\": \"WARN\", \"servers\": [{"
	    "\"listen_interface\": \"0.0.0.0:25\", \"bare_lf\": \"reject\", "
	    "\"greeting\": \"%h ESMTP\", \"xclient_on\": true, \"proxyon\": true,"
	    " \"xclient_trusted\": [\"10.0.0.0/8\", \"192.0.2.7\"], "
	    "\"proxy_trusted\": []}]}", &a) == 0);
	CHECK(a.io_threads == 4 && a.log_level == LOGL_WARN);
	CHECK_STR(a.user, "nobody");
	CHECK_STR(a.group, "nogroup");
	if (a.nservers == 1) {
		s = &a.servers[0];
		CHECK(s->bare_lf == CFG_BARE_LF_REJECT);
		CHECK_STR(s->greeting, "%h ESMTP");
		CHECK(s->xclient_on == 1 && s->proxyon == 1);
		CHECK(s->nxclient_trusted == 2 && s->nproxy_trusted == 0);
		CHECK(s->xclient_trusted[0].family == 4 &&
		    s->xclient_trusted[0].bits == 8);
		CHECK(s->xclient_trusted[1].bits == 32);
	}
	cfg_free(&a);
}

static void
test_log_levels(void)
{
	static const struct {
		const char	*name;
		int		level;
	} t[] = {
		{ "debug", LOGL_DEBUG }, { "info", LOGL_INFO },
		{ "warning", LOGL_WARN }, { "warn", LOGL_WARN },
		{ "error", LOGL_ERROR }, { "fatal", LOGL_FATAL },
		{ "panic", LOGL_PANIC }, { "Debug", LOGL_DEBUG }
	};
	char json[128];
	struct cfg_app a;
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		snprintf(json, sizeof(json), "{\"log_level\": \"%s\"}", t[i].name);
		CHECK(good(json, &a) == 0);
		CHECK(a.log_level == t[i].level);
		cfg_free(&a);
	}
	one_error("{\"log_level\": \"verbose\"}", "\"verbose",
	    "t.json: unknown log_level \"verbose\" (want debug, info, warning, "
	    "error, fatal or panic) at line 1 column %d");
}

static void
test_type_errors(void)
{
	static const struct {
		const char	*json;
		const char	*at;
		const char	*want;
	} t[] = {
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"max_size\":\"10\"}]}",
		  "\"10\"", "\"max_size\" must be a number" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"timeout\":true}]}",
		  "true", "\"timeout\" must be a number" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"max_clients\":[]}]}",
		  "[]", "\"max_clients\" must be a number" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"max_size\":1.5}]}",
		  "1.5", "\"max_size\" must be an integer" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"timeout\":3e1}]}",
		  "3e1", "\"timeout\" must be an integer" },
		{ "{\"io_threads\": 2.5}", "2.5", "\"io_threads\" must be an integer" },
		{ "{\"io_threads\": \"2\"}", "\"2\"", "\"io_threads\" must be a number" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"is_enabled\":1}]}",
		  "1}", "\"is_enabled\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"xclient_on\":\"y\"}]}",
		  "\"y\"", "\"xclient_on\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"proxyon\":0}]}",
		  "0}", "\"proxyon\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"host_name\":7}]}",
		  "7}", "\"host_name\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":25}]}",
		  "25}", "\"listen_interface\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"log_file\":{}}]}",
		  "{}", "\"log_file\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"greeting\":false}]}",
		  "false", "\"greeting\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"bare_lf\":1}]}",
		  "1}", "\"bare_lf\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":true}]}",
		  "true", "\"tls\" must be an object" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"start_tls_on\":\"yes\"}}]}",
		  "\"yes\"", "\"start_tls_on\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"tls_always_on\":1}}]}",
		  "1}", "\"tls_always_on\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"private_key_file\":1}}]}",
		  "1}", "\"private_key_file\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"protocols\":\"tls1.2\"}}]}",
		  "\"tls1.2\"", "\"protocols\" must be an array" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"ciphers\":[1]}}]}",
		  "1]", "\"ciphers\" must be an array of strings" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"client_auth_type\":0}}]}",
		  "0}", "\"client_auth_type\" must be a string" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"tls\":{\"prefer_server_cipher_suites\":\"t\"}}]}",
		  "\"t\"", "\"prefer_server_cipher_suites\" must be a boolean" },
		{ "{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":\"127.0.0.1\"}]}",
		  "\"127", "\"xclient_trusted\" must be an array" },
		{ "{\"servers\":{}}", "{}}", "\"servers\" must be an array" },
		{ "{\"servers\":[1]}", "1]", "\"servers\" must be an array of objects" },
		{ "{\"allowed_hosts\":\"a.com\"}", "\"a.com\"",
		  "\"allowed_hosts\" must be an array" },
		{ "{\"allowed_hosts\":[\"a.com\", null]}", "null",
		  "\"allowed_hosts\" must be an array of strings" },
		{ "{\"pid_file\":1}", "1}", "\"pid_file\" must be a string" },
		{ "{\"log_file\":[]}", "[]", "\"log_file\" must be a string" },
		{ "{\"log_level\":3}", "3}", "\"log_level\" must be a string" },
		{ "{\"user\":0}", "0}", "\"user\" must be a string" },
		{ "{\"group\":false}", "false", "\"group\" must be a string" },
		{ "{\"backend_config\":[]}", "[]", "\"backend_config\" must be an object" },
		{ "{\"backend_config\":{\"gw_save_timeout\":30}}", "30}",
		  "\"gw_save_timeout\" must be a string" },
		{ "[]", "[]", "the config must be an object" },
	};
	char want[256];
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		snprintf(want, sizeof(want), "t.json: could not parse config "
		    "file: %s at line 1 column %%d", t[i].want);
		one_error(t[i].json, t[i].at, want);
	}
	/* range errors are not type errors */
	one_error("{\"servers\":[{\"listen_interface\":\":25\",\"max_size\":1e300}]}",
	    "1e300", "t.json: \"max_size\" is out of range at line 1 column %d");
	one_error("{\"servers\":[{\"listen_interface\":\":25\","
	    "\"max_clients\":99999999999}]}", "999",
	    "t.json: \"max_clients\" is too large (99999999999, at most "
	    "2147483647) at line 1 column %d");
	one_error("{\"servers\":[{\"listen_interface\":\":25\",\"timeout\":"
	    "3000000}]}", "3000000",
	    "t.json: \"timeout\" is too large (3000000, at most 2147483) at "
	    "line 1 column %d");
	one_error("{\"pid_file\":\"a\\u0000b\"}", "\"a",
	    "t.json: \"pid_file\" must not contain NUL characters at line 1 "
	    "column %d");
}

static void
test_syntax_errors(void)
{
	static const char *json =
	    "{\n"
	    "  // a comment\n"
	    "  \"log_file\": \"stderr\",\n"
	    "  /* a block\n"
	    "     comment */\n"
	    "  \"servers\": [\n"
	    "    { \"listen_interface\" \":25\" }\n"
	    "  ]\n"
	    "}\n";
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };

	CHECK(cfg_load_string(json, strlen(json), "conf.json", &a, &e) == -1);
	CHECK(e.count == 1);
	CHECK(has(&e, "conf.json: could not parse config file: "));
	CHECK(has(&e, "at line 7 column"));
	CHECK(a.servers == NULL);
	cfg_errors_free(&e);
	bad("{\"a\": 1,}", "t.json: could not parse config file: ");
	bad("", "t.json: could not parse config file: ");
	bad("{\"a\": 1} x", "at line 1 column");
}

static void
test_comments(void)
{
	static const char *json =
	    "// guerrillad config\n"
	    "{\n"
	    "  /* the listeners */\n"
	    "  \"servers\": [ // one\n"
	    "    { \"is_enabled\": true, \"listen_interface\": \"127.0.0.1:2525\" }\n"
	    "  ], \"log_level\": \"error\" /* quiet */\n"
	    "}\n"
	    "// trailing\n";
	struct cfg_app a;

	CHECK(good(json, &a) == 0);
	CHECK(a.nservers == 1 && a.log_level == LOGL_ERROR);
	cfg_free(&a);
}

static void
test_multiple_errors(void)
{
	static const char *json =
	    "{ \"log_level\": \"loud\",\n"
	    "  \"servers\": [\n"
	    "    { \"max_size\": -1, \"timeout\": \"x\" },\n"
	    "    { \"listen_interface\": \"1.2.3.4:99999\", \"max_clients\": -5 },\n"
	    "    { \"listen_interface\": \":25\" }, { \"listen_interface\": \":25\" }\n"
	    "  ],\n"
	    "  \"backend_config\": { \"gw_val_rcpt_timeout\": \"5 s\" }\n"
	    "}\n";
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };

	CHECK(load(json, &a, &e) == -1);
	CHECK(e.count == 8);
	CHECK(has(&e, "t.json: unknown log_level \"loud\""));
	CHECK(has(&e, "t.json: \"max_size\" must not be negative (-1) at line 3 "
	    "column 19"));
	CHECK(has(&e, "t.json: could not parse config file: \"timeout\" must be a "
	    "number at line 3 column 34"));
	CHECK(has(&e, "t.json: listen interface not specified for server at "
	    "index 0"));
	CHECK(has(&e, "t.json: invalid listen interface \"1.2.3.4:99999\" for "
	    "server at index 1 (want host:port, [ipv6]:port or :port) at line 4"));
	CHECK(has(&e, "t.json: \"max_clients\" must not be negative (-5)"));
	CHECK(has(&e, "t.json: duplicate listen interface \":25\" for servers at "
	    "index 2 and 3"));
	CHECK(has(&e, "t.json: invalid duration \"5 s\" for \"gw_val_rcpt_timeout\""));
	/* one line per error, no trailing newline */
	CHECK(e.text != NULL && e.text[e.len - 1] != '\n');
	CHECK(a.servers == NULL && a.backend_config == NULL);
	cfg_errors_free(&e);
	CHECK(e.text == NULL && e.count == 0);
}

static void
test_server_validation(void)
{
	static const char *ok[] = {
		"127.0.0.1:25", ":25", "localhost:2525", "[::1]:25", "[::]:0",
		"0.0.0.0:65535", "mail.example.com:587"
	};
	static const char *ko[] = {
		"127.0.0.1", "127.0.0.1:", ":", "::1:25", "[::1]25", "[::1]:",
		"[zz]:25", "a b:25", "1.2.3.4:65536", "1.2.3.4:-1", ":123456",
		"[]:25", "host:2x"
	};
	char json[256];
	struct cfg_app a;
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		snprintf(json, sizeof(json), "{\"servers\":[{\"listen_interface\":"
		    "\"%s\"}]}", ok[i]);
		CHECK(good(json, &a) == 0);
		cfg_free(&a);
	}
	for (i = 0; i < NELEM(ko); i++) {
		snprintf(json, sizeof(json), "{\"servers\":[{\"listen_interface\":"
		    "\"%s\"}]}", ko[i]);
		bad(json, "invalid listen interface");
	}
	one_error("{\"servers\":[{\"listen_interface\":\"\"}]}", "",
	    "t.json: listen interface not specified for server at index 0");
	bad("{\"servers\":[{\"is_enabled\":true},{\"is_enabled\":false}]}",
	    "t.json: listen interface not specified for server at index 0\n"
	    "t.json: listen interface not specified for server at index 1");
	one_error("{\"servers\":[{\"listen_interface\":\":25\",\"timeout\":-30}]}",
	    "-30", "t.json: \"timeout\" must not be negative (-30) at line 1 "
	    "column %d");
	one_error("{\"io_threads\":-1}", "-1",
	    "t.json: \"io_threads\" must not be negative (-1) at line 1 "
	    "column %d");
	one_error("{\"servers\":[{\"listen_interface\":\":25\",\"bare_lf\":"
	    "\"strip\"}]}", "\"strip",
	    "t.json: \"bare_lf\" must be \"normalize\" or \"reject\", not "
	    "\"strip\" at line 1 column %d");
	/* duplicates count disabled servers too: they are reload identities */
	one_error("{\"servers\":[{\"listen_interface\":\"127.0.0.1:25\"},"
	    "{\"listen_interface\":\"127.0.0.1:26\"},"
	    "{\"listen_interface\":\"127.0.0.1:25\",\"is_enabled\":true}]}", "",
	    "t.json: duplicate listen interface \"127.0.0.1:25\" for servers at "
	    "index 0 and 2");
	one_error("{\"servers\":[{\"listen_interface\":\":25\",\"proxy_trusted\":"
	    "[\"10.0.0.0/33\"]}]}", "\"10.",
	    "t.json: invalid CIDR \"10.0.0.0/33\" in \"proxy_trusted\" (want "
	    "a.b.c.d/n, ipv6/n or one address) at line 1 column %d");
	bad("{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":"
	    "[\"::1/129\"]}]}", "invalid CIDR \"::1/129\"");
	bad("{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":"
	    "[\"example.com\"]}]}", "invalid CIDR \"example.com\"");
	bad("{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":"
	    "[\"10.0.0.0/\"]}]}", "invalid CIDR");
	bad("{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":"
	    "[\"10.0.0.0/8x\"]}]}", "invalid CIDR");
	bad("{\"servers\":[{\"listen_interface\":\":25\",\"xclient_trusted\":"
	    "[\"\"]}]}", "invalid CIDR");
}

static void
test_tls(void)
{
	char key[64], crt[64], ca[64], json[1024];
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };

	CHECK(tmpfile_with(key, sizeof(key), "KEY\n") == 0);
	CHECK(tmpfile_with(crt, sizeof(crt), "CERT\n") == 0);
	CHECK(tmpfile_with(ca, sizeof(ca), "CA\n") == 0);

	/* Good files load (their content is checked by tls.c at start). */
	snprintf(json, sizeof(json), "{\"servers\":[{\"is_enabled\":true,"
	    "\"listen_interface\":\"127.0.0.1:2525\",\"tls\":{\"start_tls_on\":"
	    "true,\"private_key_file\":\"%s\",\"public_key_file\":\"%s\"}}]}",
	    key, crt);
	CHECK(cfg_tls_supported() == 1);
	CHECK(good(json, &a) == 0);
	cfg_free(&a);
	/* The same on a disabled server: no TLS checks (TLS-01). */
	snprintf(json, sizeof(json), "{\"servers\":[{\"is_enabled\":false,"
	    "\"listen_interface\":\"127.0.0.1:465\",\"tls\":{\"tls_always_on\":"
	    "true,\"client_auth_type\":\"RequireAndVerifyClientCert\"}}]}");
	CHECK(good(json, &a) == 0);
	CHECK(a.nservers == 1 &&
	    a.servers[0].tls.client_auth == CFG_REQUIRE_AND_VERIFY_CLIENT_CERT);
	cfg_free(&a);

	/* Empty names (GG's messages). */
	CHECK(load("{\"servers\":[{\"is_enabled\":true,\"listen_interface\":"
	    "\":465\",\"tls\":{\"tls_always_on\":true,\"private_key_file\":\"\""
	    "}}]}", &a, &e) == -1);
	CHECK(has(&e, "t.json: PublicKeyFile is empty\n"
	    "t.json: PrivateKeyFile is empty"));
	CHECK(e.count == 2);
	cfg_errors_free(&e);

	/* Missing files name the interface and the file. */
	snprintf(json, sizeof(json), "{\"servers\":[{\"is_enabled\":true,"
	    "\"listen_interface\":\"[::1]:25\",\"tls\":{\"start_tls_on\":true,"
	    "\"private_key_file\":\"/nonexistent/k.pem\",\"public_key_file\":"
	    "\"%s\",\"root_cas_file\":\"/tmp\"}}]}", crt);
	CHECK(load(json, &a, &e) == -1);
	CHECK(has(&e, "t.json: cannot use TLS config for [[::1]:25], open "
	    "/nonexistent/k.pem: No such file or directory"));
	CHECK(has(&e, "t.json: cannot use TLS config for [[::1]:25], open "
	    "/tmp: not a regular file"));
	CHECK(e.count == 2);
	cfg_errors_free(&e);

	/* TLS-04: verifying modes need root_cas_file. */
	snprintf(json, sizeof(json), "{\"servers\":[{\"is_enabled\":true,"
	    "\"listen_interface\":\":25\",\"tls\":{\"start_tls_on\":true,"
	    "\"private_key_file\":\"%s\",\"public_key_file\":\"%s\","
	    "\"client_auth_type\":\"VerifyClientCertIfGiven\"}}]}", key, crt);
	CHECK(load(json, &a, &e) == -1);
	CHECK(has(&e, "t.json: cannot use TLS config for [:25], client_auth_type "
	    "VerifyClientCertIfGiven needs root_cas_file to verify client "
	    "certificates"));
	cfg_errors_free(&e);
	snprintf(json, sizeof(json), "{\"servers\":[{\"is_enabled\":true,"
	    "\"listen_interface\":\":25\",\"tls\":{\"start_tls_on\":true,"
	    "\"private_key_file\":\"%s\",\"public_key_file\":\"%s\","
	    "\"root_cas_file\":\"%s\",\"client_auth_type\":"
	    "\"RequireAndVerifyClientCert\"}}]}", key, crt, ca);
	CHECK(good(json, &a) == 0);
	cfg_free(&a);
	unlink(key);
	unlink(crt);
	unlink(ca);
}

/* tls_server - a disabled server whose tls object is tls. */
static int
tls_try(const char *tls, struct cfg_app *a, struct cfg_errors *e)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"servers\":[{\"listen_interface\":"
	    "\":25\",\"tls\":%s}]}", tls);
	return load(json, a, e);
}

static void
test_tls_names(void)
{
	static const struct {
		const char	*tls;
		int		min, max;
	} ok[] = {
		{ "{\"protocols\":[\"tls1.0\",\"tls1.2\"]}", 0x0301, 0x0303 },
		{ "{\"protocols\":[\"tls1.2\",\"tls1.2\"]}", 0x0303, 0x0303 },
		{ "{\"protocols\":[\"tls1.1\",\"tls1.3\"]}", 0x0302, 0x0303 },
		{ "{\"protocols\":[\"tls1.1\"]}", 0x0302, 0 },
		{ "{\"protocols\":[]}", 0, 0 },
	};
	static const struct {
		const char	*tls;
		const char	*want;
	} ko[] = {
		{ "{\"protocols\":[\"tls1.3\",\"tls1.3\"]}",
		  "TLS protocol \"tls1.3\" cannot be the minimum: only TLS 1.0 "
		  "to 1.2 are implemented" },
		{ "{\"protocols\":[\"ssl3.0\",\"tls1.2\"]}",
		  "TLS protocol \"ssl3.0\" is not supported" },
		{ "{\"protocols\":[\"tls1.0\",\"ssl3.0\"]}",
		  "TLS protocol \"ssl3.0\" is not supported" },
		{ "{\"protocols\":[\"tls1.2\",\"tls1.0\"]}",
		  "TLS protocol minimum \"tls1.2\" is above the maximum" },
		{ "{\"protocols\":[\"TLS1.2\",\"tls1.2\"]}",
		  "unknown TLS protocol \"TLS1.2\" (want tls1.0, tls1.1, tls1.2 "
		  "or tls1.3)" },
		{ "{\"protocols\":[\"tls1.0\",\"tls1.1\",\"tls1.2\"]}",
		  "\"protocols\" must be [min, max]" },
		{ "{\"curves\":[\"P256\",\"P-384\"]}",
		  "unknown curve \"P-384\" (want P256, P384, P521 or X25519)" },
		{ "{\"curves\":[\"x25519\"]}", "unknown curve \"x25519\"" },
		{ "{\"client_auth_type\":\"VerifyClientCert\"}",
		  "unknown client_auth_type \"VerifyClientCert\"" },
	};
	static const char *auth[] = {
		"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
		"VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
	};
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };
	char tls[128];
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		CHECK(tls_try(ok[i].tls, &a, &e) == 0);
		CHECK(a.nservers == 1 && a.servers[0].tls.proto_min == ok[i].min &&
		    a.servers[0].tls.proto_max == ok[i].max);
		cfg_free(&a);
	}
	CHECK(e.count == 0);
	for (i = 0; i < NELEM(ko); i++) {
		CHECK(tls_try(ko[i].tls, &a, &e) == -1);
		CHECK(e.count == 1 && has(&e, ko[i].want));
		cfg_errors_free(&e);
	}
	for (i = 0; i < NELEM(auth); i++) {
		snprintf(tls, sizeof(tls), "{\"client_auth_type\":\"%s\"}", auth[i]);
		CHECK(tls_try(tls, &a, &e) == 0);
		CHECK(a.nservers == 1 &&
		    (size_t)a.servers[0].tls.client_auth == i);
		cfg_free(&a);
	}
	CHECK(e.count == 0);
}

static void
test_allowed_hosts(void)
{
	static char *gg[] = {
		"spam4.me", "grr.la", "newhost.com", "example.*", "*.test",
		"wild*.card", "multiple*wild*cards.*", "[::FFFF:C0A8:1]",
		"1.1.1.1", "lit?ral", "br[a]ck"
	};
	static char *all[] = { "*" };
	static char *dot[] = { "." };
	static char *dot2[] = { ".", "example.com" };
	static char *dotglob[] = { ".", "*.nothing" };
	static char *v6[] = { "[2001:db8::1]", "[notanip]", "[::1]" };
	static const struct {
		const char	*dom;
		int		is_ip, want;
	} t[] = {
		{ "spam4.me", 0, 1 }, { "SPAM4.ME", 0, 1 }, { "grr.la", 0, 1 },
		{ "grr.lab", 0, 0 }, { "x.grr.la", 0, 0 },
		{ "example.com", 0, 1 }, { "Example.COM", 0, 1 },
		{ "another.example.com", 0, 0 },
		{ "anything.test", 0, 1 }, { "a.b.test", 0, 1 },
		{ "test", 0, 0 },
		{ "wild.card", 0, 1 }, { "wildXYZ.card", 0, 1 },
		{ "wild.card.com", 0, 0 },
		{ "multipleXwildXcards.com", 0, 1 },
		{ "multiplewildcards.org", 0, 1 },
		{ "multipleXwildXcard.com", 0, 0 },
		{ "192.168.0.1", 1, 1 }, { "::ffff:192.168.0.1", 1, 1 },
		{ "192.168.0.1", 0, 0 }, { "192.168.0.2", 1, 0 },
		{ "1.1.1.1", 1, 0 }, { "1.1.1.1", 0, 1 },
		{ "lit?ral", 0, 1 }, { "literal", 0, 0 },
		{ "br[a]ck", 0, 1 }, { "brack", 0, 0 },
		{ "newhost.com", 1, 0 },
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		int got = cfg_host_allowed(gg, NELEM(gg), t[i].dom, t[i].is_ip);
		if (got != t[i].want)
			printf("     allowed_hosts: %s is_ip=%d got %d\n",
			    t[i].dom, t[i].is_ip, got);
		CHECK(got == t[i].want);
	}
	CHECK(cfg_host_allowed(all, 1, "anything.at.all", 0));
	CHECK(cfg_host_allowed(all, 1, "10.0.0.1", 1));
	CHECK(cfg_host_allowed(dot, 1, "whatever.org", 0));
	CHECK(cfg_host_allowed(dot, 1, "10.0.0.1", 1));
	CHECK(!cfg_host_allowed(dot2, 2, "whatever.org", 0));
	CHECK(cfg_host_allowed(dot2, 2, "example.com", 0));
	CHECK(cfg_host_allowed(dotglob, 2, "whatever.org", 0));
	CHECK(!cfg_host_allowed(NULL, 0, "example.com", 0));
	CHECK(cfg_host_allowed(v6, 3, "2001:DB8:0:0::1", 1));
	CHECK(!cfg_host_allowed(v6, 3, "2001:db8::2", 1));
	CHECK(!cfg_host_allowed(v6, 3, "::1", 1));	/* "[::1]" is 5 bytes */
	CHECK(cfg_host_allowed(v6, 3, "[::1]", 0));
	CHECK(!cfg_host_allowed(v6, 3, "[notanip]", 0));	/* dropped, as GG */
}

static void
test_glob(void)
{
	static const struct {
		const char	*pat, *s;
		int		want;
	} t[] = {
		{ "*", "", 1 }, { "*", "a.b.c", 1 }, { "", "", 1 }, { "", "a", 0 },
		{ "a*", "A", 1 }, { "*a", "bbA", 1 }, { "a*b*c", "aXbYc", 1 },
		{ "a*b*c", "aXbY", 0 }, { "**x", "yyx", 1 },
		{ "?.com", "a.com", 1 }, { "?.com", "ab.com", 0 },
		{ "?.com", "\xc3\xa9.com", 1 },
		{ "[a-c]*", "Bee", 1 }, { "[a-c]*", "dee", 0 },
		{ "[!a-c]*", "dee", 1 }, { "[^a-c]*", "bee", 0 },
		{ "[abc]x", "cx", 1 }, { "[]x", "]x", 0 }, { "[a", "a", 0 },
		{ "[a-]x", "ax", 0 }, { "*[", "x", 0 }, { "a\\*b", "a*b", 1 },
		{ "a\\*b", "axb", 0 }, { "a\\", "a", 0 }, { "[\\]]", "]", 1 },
		{ "*.example.*", "mail.example.org", 1 },
		{ "*ab", "aaab", 1 }, { "a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	size_t i;

	for (i = 0; i < NELEM(t); i++) {
		int got = cfg_glob(t[i].pat, t[i].s);
		if (got != t[i].want)
			printf("     glob %s %s got %d\n", t[i].pat, t[i].s, got);
		CHECK(got == t[i].want);
	}
}

static void
test_duration(void)
{
	static const struct {
		const char	*s;
		int64_t		ns;
	} ok[] = {
		{ "0", 0 }, { "0s", 0 }, { "5s", 5000000000LL },
		{ "30s", 30000000000LL }, { "2.5s", 2500000000LL },
		{ ".5s", 500000000LL }, { "1.s", 1000000000LL },
		{ "300ms", 300000000LL }, { "10us", 10000 },
		{ "5\xc2\xb5s", 5000 }, { "5\xce\xbcs", 5000 }, { "7ns", 7 },
		{ "1m", 60000000000LL }, { "1h30m", 5400000000000LL },
		{ "1h1m1s1ms1us1ns", 3661001001001LL },
		{ "1.5h", 5400000000000LL }, { "0.1s", 100000000LL },
		{ "2562047h", 2562047LL * 3600000000000LL },
		{ "9223372036854775807ns", INT64_MAX },
		{ "1.0000000000000000000000001s", 1000000000LL },
	};
	static const char *ko[] = {
		"", "s", "5", "10", "-5s", "+5s", "5x", "5 s", " 5s", "5s ",
		".s", "1..5s", "5sec", "1hh", "2562048h",
		"9223372036854775808ns", "99999999999999999999s", "1e3s",
		"5S", "1h-30m"
	};
	int64_t ns;
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		ns = -1;
		if (cfg_duration(ok[i].s, &ns) != 0 || ns != ok[i].ns)
			printf("     duration %s gave %lld\n", ok[i].s,
			    (long long)ns);
		CHECK(cfg_duration(ok[i].s, &ns) == 0 && ns == ok[i].ns);
	}
	for (i = 0; i < NELEM(ko); i++) {
		if (cfg_duration(ko[i], &ns) != -1)
			printf("     duration %s accepted\n", ko[i]);
		CHECK(cfg_duration(ko[i], &ns) == -1);
	}
	CHECK(cfg_duration(NULL, &ns) == -1);
}

static void
test_ip_cidr(void)
{
	unsigned char a[16];
	int fam;
	struct cfg_app app;
	const struct cfg_server *s;

	CHECK(cfg_parse_ip("192.168.0.1", &fam, a) == 0 && fam == 4 &&
	    a[0] == 192 && a[3] == 1);
	CHECK(cfg_parse_ip("::FFFF:C0A8:1", &fam, a) == 0 && fam == 4 &&
	    a[0] == 192 && a[1] == 168 && a[2] == 0 && a[3] == 1 && a[4] == 0);
	CHECK(cfg_parse_ip("::ffff:10.1.2.3", &fam, a) == 0 && fam == 4 &&
	    a[0] == 10);
	CHECK(cfg_parse_ip("2001:db8::1", &fam, a) == 0 && fam == 6 &&
	    a[0] == 0x20 && a[15] == 1);
	CHECK(cfg_parse_ip("::1", &fam, a) == 0 && fam == 6);
	CHECK(cfg_parse_ip("1.2.3", &fam, a) == -1);
	CHECK(cfg_parse_ip("example.com", &fam, a) == -1);
	CHECK(cfg_parse_ip("", &fam, a) == -1);
	CHECK(cfg_parse_ip("fe80::1%eth0", &fam, a) == -1);

	CHECK(good("{\"servers\":[{\"listen_interface\":\":25\","
	    "\"xclient_trusted\":[\"10.1.2.3/8\", \"192.168.7.0/23\", "
	    "\"2001:db8::/33\", \"203.0.113.9\", \"::ffff:198.51.100.0/120\", "
	    "\"0.0.0.0/0\"]}]}", &app) == 0);
	if (app.nservers != 1) {
		cfg_free(&app);
		return;
	}
	s = &app.servers[0];
	CHECK(s->nxclient_trusted == 6);
	/* host bits are cleared, mapped blocks become IPv4 */
	CHECK(s->xclient_trusted[0].addr[1] == 0);
	CHECK(s->xclient_trusted[4].family == 4 && s->xclient_trusted[4].bits == 24);
	cfg_parse_ip("10.200.0.1", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted, 1, fam, a));
	cfg_parse_ip("11.0.0.1", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted, 1, fam, a));
	cfg_parse_ip("192.168.6.255", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted + 1, 1, fam, a));
	cfg_parse_ip("192.168.5.255", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted + 1, 1, fam, a));
	cfg_parse_ip("2001:db8:7fff::1", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted, 3, fam, a));
	cfg_parse_ip("2001:db8:8000::1", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted, 3, fam, a));
	cfg_parse_ip("203.0.113.9", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted + 3, 1, fam, a));
	cfg_parse_ip("203.0.113.8", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted + 3, 1, fam, a));
	cfg_parse_ip("::ffff:198.51.100.77", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted + 4, 1, fam, a));
	cfg_parse_ip("1.2.3.4", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted, 5, fam, a));
	CHECK(cfg_cidr_match(s->xclient_trusted, 6, fam, a));	/* /0 */
	cfg_parse_ip("::2", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted, 6, fam, a));	/* v4 /0 */
	cfg_free(&app);

	/* default: loopback only */
	CHECK(good("{}", &app) == 0);
	s = &app.servers[0];
	cfg_parse_ip("127.1.2.3", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted, s->nxclient_trusted, fam, a));
	CHECK(cfg_cidr_match(s->proxy_trusted, s->nproxy_trusted, fam, a));
	cfg_parse_ip("::1", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted, s->nxclient_trusted, fam, a));
	cfg_parse_ip("::ffff:127.0.0.1", &fam, a);
	CHECK(cfg_cidr_match(s->xclient_trusted, s->nxclient_trusted, fam, a));
	cfg_parse_ip("10.0.0.1", &fam, a);
	CHECK(!cfg_cidr_match(s->xclient_trusted, s->nxclient_trusted, fam, a));
	cfg_parse_ip("::2", &fam, a);
	CHECK(!cfg_cidr_match(s->proxy_trusted, s->nproxy_trusted, fam, a));
	cfg_free(&app);
}

static void
test_backend_config(void)
{
	struct cfg_app a;

	/* empty object: the full CFG-09 defaults, log_received_mails true */
	CHECK(good("{\"backend_config\": {}}", &a) == 0);
	CHECK(bint(&a, "save_workers_size") == 1);
	CHECK_STR(bstr(&a, "save_process"), "HeadersParser|Header|Debugger");
	CHECK_STR(bstr(&a, "primary_mail_host"), hostname);
	CHECK(bbool(&a, "log_received_mails") == 1);
	cfg_free(&a);

	/* present: only the missing keys, log_received_mails false */
	CHECK(good("{\"backend_config\": {\"validate_process\": \"\", "
	    "\"sleep_seconds\": 2, \"save_process\": null}}", &a) == 0);
	CHECK(bint(&a, "save_workers_size") == 1);
	CHECK_STR(bstr(&a, "save_process"), "HeadersParser|Header|Debugger");
	CHECK_STR(bstr(&a, "primary_mail_host"), hostname);
	CHECK(bbool(&a, "log_received_mails") == 0);
	CHECK_STR(bstr(&a, "validate_process"), "");
	CHECK(bint(&a, "sleep_seconds") == 2);
	CHECK_STR(bstr(&a, "gw_save_timeout"), "30s");
	cfg_free(&a);

	/* present values are kept as written */
	CHECK(good("{\"backend_config\": {\"save_workers_size\": 4, "
	    "\"save_process\": \"HeadersParser|Debugger\", "
	    "\"primary_mail_host\": \"mx.example.org\", "
	    "\"log_received_mails\": true, \"gw_save_timeout\": \"1m30s\", "
	    "\"gw_val_rcpt_timeout\": \"500ms\", \"sql_max_conn_lifetime\": "
	    "\"1h\", \"redis_sql_batch_timeout\": \"2.5s\"}}", &a) == 0);
	CHECK(bint(&a, "save_workers_size") == 4);
	CHECK_STR(bstr(&a, "save_process"), "HeadersParser|Debugger");
	CHECK_STR(bstr(&a, "primary_mail_host"), "mx.example.org");
	CHECK(bbool(&a, "log_received_mails") == 1);
	CHECK_STR(bstr(&a, "gw_save_timeout"), "1m30s");
	CHECK_STR(bstr(&a, "gw_val_rcpt_timeout"), "500ms");
	cfg_free(&a);

	/* BE-06 [DEV]: malformed durations are load errors */
	one_error("{\"backend_config\": {\"gw_save_timeout\": \"30\"}}", "\"30\"",
	    "t.json: invalid duration \"30\" for \"gw_save_timeout\" (want e.g. "
	    "\"30s\", \"1m30s\", \"500ms\") at line 1 column %d");
	bad("{\"backend_config\": {\"sql_max_conn_lifetime\": \"forever\"}}",
	    "invalid duration \"forever\" for \"sql_max_conn_lifetime\"");
	bad("{\"backend_config\": {\"redis_sql_batch_timeout\": \"-1s\"}}",
	    "invalid duration \"-1s\" for \"redis_sql_batch_timeout\"");
	bad("{\"backend_config\": {\"gw_val_rcpt_timeout\": 5}}",
	    "\"gw_val_rcpt_timeout\" must be a string");
}

static void
test_files(void)
{
	struct cfg_app a;
	struct cfg_errors e = { NULL, 0, 0 };
	char path[64];
	FILE *f;
	long i;

	/* the shipped configs load */
	CHECK(cfg_load_file("sample.conf", &a, &e) == 0);
	if (e.text != NULL)
		printf("     sample.conf: %s\n", e.text);
	CHECK(a.nservers == 2 && a.log_level == LOGL_INFO);
	if (a.nservers == 2) {
		CHECK(a.servers[0].is_enabled && !a.servers[0].tls.start_tls_on);
		CHECK(!a.servers[1].is_enabled && a.servers[1].tls.tls_always_on);
		CHECK(a.servers[0].tls.proto_min == 0x0303);
	}
	CHECK_STR(bstr(&a, "gw_val_rcpt_timeout"), "3s");
	cfg_free(&a);
	cfg_errors_free(&e);

	CHECK(cfg_load_file("run.conf", &a, &e) == 0);
	if (e.text != NULL)
		printf("     run.conf: %s\n", e.text);
	CHECK(a.nservers == 1 && a.nallowed_hosts == 2);
	if (a.nservers == 1) {
		CHECK(a.servers[0].is_enabled);
		CHECK_STR(a.servers[0].listen_interface, "127.0.0.1:2525");
		CHECK_STR(a.servers[0].host_name, "localhost");
	}
	CHECK_STR(a.log_file, "stderr");
	CHECK_STR(a.pid_file, "guerrillad.pid");
	CHECK_STR(bstr(&a, "save_process"),
	    "HeadersParser|Hasher|Header|Debugger|MailDir");
	CHECK_STR(bstr(&a, "validate_process"), "MailDir");
	CHECK(bint(&a, "save_workers_size") == 2);
	cfg_free(&a);
	cfg_errors_free(&e);

	/* errors name the file */
	CHECK(cfg_load_file("/nonexistent/gg.conf", &a, &e) == -1);
	CHECK_STR(e.text, "/nonexistent/gg.conf: could not read config file: "
	    "No such file or directory");
	cfg_errors_free(&e);

	CHECK(tmpfile_with(path, sizeof(path), "{\n\"servers\": [\n"
	    "{\"listen_interface\": \":25\", \"max_size\": \"big\"}]}\n") == 0);
	CHECK(cfg_load_file(path, &a, &e) == -1);
	CHECK(e.text != NULL && strncmp(e.text, path, strlen(path)) == 0);
	CHECK(has(&e, ": could not parse config file: \"max_size\" must be a "
	    "number at line 3 column 41"));
	cfg_errors_free(&e);

	/* bounded: more than 16 MiB is refused */
	if ((f = fopen(path, "w")) != NULL) {
		fputs("{\"pid_file\": \"", f);
		for (i = 0; i < 16L * 1024 * 1024; i += 16)
			fputs("xxxxxxxxxxxxxxxx", f);
		fputs("\"}", f);
		fclose(f);
		CHECK(cfg_load_file(path, &a, &e) == -1);
		CHECK(has(&e, ": config file is too large (more than 16777216 "
		    "bytes)"));
		cfg_errors_free(&e);
	}
	unlink(path);
	/* a directory reads as an error, not a crash */
	CHECK(cfg_load_file("/tmp", &a, &e) == -1 && e.count == 1);
	cfg_errors_free(&e);
	/* NULL errs is allowed */
	CHECK(cfg_load_string("{", 1, NULL, &a, NULL) == -1);
}

static void
test_errors_api(void)
{
	struct cfg_errors e = { NULL, 0, 0 };

	cfg_errors_add(&e, "one %d", 1);
	cfg_errors_add(&e, "%s", "two");
	CHECK(e.count == 2);
	CHECK_STR(e.text, "one 1\ntwo");
	CHECK(e.len == strlen("one 1\ntwo"));
	cfg_errors_free(&e);
	CHECK(e.text == NULL && e.len == 0 && e.count == 0);
	cfg_errors_free(&e);
}

int
main(void)
{
	gd_hostname(hostname, sizeof(hostname));
	RUN(test_gg_config);
	RUN(test_defaults);
	RUN(test_log_levels);
	RUN(test_type_errors);
	RUN(test_syntax_errors);
	RUN(test_comments);
	RUN(test_multiple_errors);
	RUN(test_server_validation);
	RUN(test_tls);
	RUN(test_tls_names);
	RUN(test_allowed_hosts);
	RUN(test_glob);
	RUN(test_duration);
	RUN(test_ip_cidr);
	RUN(test_backend_config);
	RUN(test_files);
	RUN(test_errors_api);
	return T_DONE();
}
