/*
 * t_proc.c - the built-in processors driven through the chain API
 * (be_chain_new / be_chain_init / be_chain_run): HeadersParser, Header,
 * Hasher, Debugger and MailDir (PROC-10..16a).
 *
 * The clock is pinned (gd_ctx.fixed_time) and TZ=UTC, so headers and
 * hashes are byte-exact.  MailDir tests work in a mkdtemp(3) directory
 * under /tmp that is removed at the end.  Tests may run as root, where
 * permissions do not stop writes, so a write failure is made by putting a
 * regular file where tmp/ should be.
 */
#include "compat.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "backend.h"
#include "envelope.h"
#include "json.h"
#include "log.h"
#include "t.h"

#define FIXED_TIME	1700000000	/* Tue, 14 Nov 2023 22:13:20 UTC */
#define FIXED_DATE	"Tue, 14 Nov 2023 22:13:20 +0000"

static struct be_registry reg;
static struct gd_ctx ctx;
static char root[64];		/* the mkdtemp directory */

/* ---- helpers ---- */

static void
set_addr(struct gd_address *a, const char *local, const char *domain)
{
	memset(a, 0, sizeof(*a));
	gd_strlcpy(a->local, local, sizeof(a->local));
	gd_strlcpy(a->domain, domain, sizeof(a->domain));
	a->quoted = strchr(local, ' ') != NULL;
}

static void
add_rcpt(struct gd_envelope *e, const char *local, const char *domain)
{
	struct gd_address a;

	set_addr(&a, local, domain);
	CHECK(env_add_rcpt(e, &a) == 0);
}

/* mk_env - a message from alice@example.net to bob@example.org. */
static void
mk_env(struct gd_envelope *e, const char *data)
{
	struct gd_address a;

	env_init(e);
	gd_strlcpy(e->remote_ip, "192.0.2.7", sizeof(e->remote_ip));
	gd_strlcpy(e->helo, "evil\r\nX-Injected: 1", sizeof(e->helo));
	set_addr(&a, "alice", "example.net");
	env_set_from(e, &a);
	add_rcpt(e, "bob", "example.org");
	CHECK(env_data_append(e, data, strlen(data)) == 0);
}

/* run - build spec with config json, run task; returns init's result. */
static int
run(const char *spec, const char *json, struct gd_envelope *e,
    enum gd_task task, struct gd_result *res, char *err, size_t errlen)
{
	struct json_value *cfg;
	struct be_chain *c;
	int rc;

	err[0] = '\0';
	memset(res, 0, sizeof(*res));
	cfg = json_parse(json, strlen(json), 0, err, errlen);
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return -1;
	c = be_chain_new(&reg, spec, &ctx, err, errlen);
	CHECK(c != NULL);
	if (c == NULL) {
		json_free(cfg);
		return -1;
	}
	rc = be_chain_init(c, cfg, err, errlen);
	if (rc == 0 && e != NULL)
		be_chain_run(c, e, task, res);
	CHECK(be_chain_shutdown(c, err + strlen(err), errlen - strlen(err)) ==
	    0);
	be_chain_free(c);
	json_free(cfg);
	return rc;
}

/* A chain kept across several runs (init runs once). */
struct tc {
	struct json_value	*cfg;
	struct be_chain		*c;
};

/* tc_open_in - a chain of the daemon whose context is cx */
static int
tc_open_in(struct tc *t, const char *spec, const char *json,
    struct gd_ctx *cx)
{
	char err[256];

	t->c = NULL;
	t->cfg = json_parse(json, strlen(json), 0, err, sizeof(err));
	if (t->cfg != NULL)
		t->c = be_chain_new(&reg, spec, cx, err, sizeof(err));
	if (t->c == NULL || be_chain_init(t->c, t->cfg, err, sizeof(err)) != 0) {
		printf("     tc_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int
tc_open(struct tc *t, const char *spec, const char *json)
{
	return tc_open_in(t, spec, json, &ctx);
}

static void
tc_close(struct tc *t)
{
	char err[256];

	if (t->c != NULL) {
		CHECK(be_chain_shutdown(t->c, err, sizeof(err)) == 0);
		be_chain_free(t->c);
	}
	json_free(t->cfg);
}

static void
md5_hex(br_md5_context *md, char out[33])
{
	unsigned char sum[16];
	int i;

	br_md5_out(md, sum);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

/* read_file - whole file into a malloc'd buffer. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* list_dir - the number of entries (not . and ..); the last name is
 * copied to name. */
static int
list_dir(const char *path, char *name, size_t size)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (name != NULL)
			gd_strlcpy(name, de->d_name, size);
		n++;
	}
	closedir(d);
	return n;
}

static void
rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char sub[1024];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static int
is_dir(const char *path, mode_t *mode)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (mode != NULL)
		*mode = st.st_mode & 07777;
	return 1;
}

/* ---- Header (PROC-11) ---- */

static void
check_header(int esmtp, int tls, const char *proto)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], want[512];

	mk_env(&e, "Subject: hi\n\nbody\n");
	e.esmtp = esmtp;
	e.tls = tls;
	CHECK(run("HeadersParser|Header", "{\"primary_mail_host\":"
	    "\"mx.example.com\"}", &e, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	snprintf(want, sizeof(want), "Delivered-To: bob@mx.example.com\n"
	    "Received: from 192.0.2.7 ([192.0.2.7])\n"
	    "\tby example.org with %s id unknown@example.org;\n"
	    "\t" FIXED_DATE "\n", proto);
	CHECK_STR(e.delivery_header, want);
	env_free(&e);
}

/* One Header instance formats the date once per second: the next second
 * shows in the next message's header. */
static void
test_header_date_follows_time(void)
{
	struct tc t;
	struct gd_envelope e;
	struct gd_result res;
	int i;

	if (tc_open(&t, "Header", "{\"primary_mail_host\":\"mx.example.com\"}")
	    != 0) {
		CHECK(0);
		tc_close(&t);
		return;
	}
	for (i = 0; i < 3; i++) {
		static const char *const want[] = {
			"\tTue, 14 Nov 2023 22:13:20 +0000\n",
			"\tTue, 14 Nov 2023 22:13:20 +0000\n",
			"\tTue, 14 Nov 2023 22:13:21 +0000\n"
		};
		const char *h;

		ctx.fixed_time = FIXED_TIME + (i == 2);
		mk_env(&e, "Subject: hi\n\nbody\n");
		memset(&res, 0, sizeof(res));
		be_chain_run(t.c, &e, GD_TASK_SAVE, &res);
		CHECK(res.status == GD_STATUS_OK && e.delivery_header != NULL);
		h = e.delivery_header != NULL ?
		    strrchr(e.delivery_header, ';') : NULL;
		CHECK(h != NULL && strcmp(h + 2, want[i]) == 0);
		env_free(&e);
	}
	ctx.fixed_time = FIXED_TIME;
	tc_close(&t);
}

static void
test_header_protocols(void)
{
	check_header(0, 0, "SMTP");
	check_header(1, 0, "ESMTP");
	check_header(0, 1, "SMTPS");
	check_header(1, 1, "ESMTPS");
}

static void
test_header_with_hash_and_trim(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], want[512];

	mk_env(&e, "Subject: hi\n\nbody\n");
	gd_strlcpy(e.rcpt[0].local, "  spaced ", sizeof(e.rcpt[0].local));
	e.esmtp = 1;
	CHECK(gd_env_add_hash(&e, "0123456789abcdef0123456789abcdef") == 0);
	CHECK(run("Header", "{\"primary_mail_host\":\"mx\"}", &e,
	    GD_TASK_SAVE, &res, err, sizeof(err)) == 0);
	snprintf(want, sizeof(want), "Delivered-To: spaced@mx\n"
	    "Received: from 192.0.2.7 ([192.0.2.7])\n"
	    "\tby example.org with ESMTP id "
	    "0123456789abcdef0123456789abcdef@example.org;\n"
	    "\t" FIXED_DATE "\n");
	CHECK_STR(e.delivery_header, want);
	env_free(&e);
}

static void
test_header_config_required(void)
{
	struct gd_result res;
	char err[256];

	CHECK(run("Header", "{}", NULL, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == -1);
	CHECK_STR(err, "failed to load backend config (missing/invalid: "
	    "'primary_mail_host' of type: string)");
}

static void
test_header_ignores_validate(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256];

	mk_env(&e, "");
	CHECK(run("Header|Hasher|HeadersParser|Debugger", "{\"primary_mail_host"
	    "\":\"mx\",\"log_received_mails\":true,\"sleep_seconds\":1}", &e,
	    GD_TASK_VALIDATE, &res, err, sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	CHECK(e.delivery_header == NULL && e.nhashes == 0 && !e.headers_parsed);
	env_free(&e);
}

/* ---- Hasher (PROC-12) ---- */

/* gd_cat and gd_hex build the Header processor's text and the queued id
 * instead of snprintf: exact bytes, cut like strlcpy when too long. */
static void
test_cat_and_hex(void)
{
	char b[8], big[64], *p;

	CHECK(gd_cat(big, sizeof(big), "ab", "", "cde", (char *)NULL) == 5);
	CHECK_STR(big, "abcde");
	CHECK(gd_cat(big, sizeof(big), (char *)NULL) == 0 && big[0] == '\0');
	CHECK(gd_cat(b, sizeof(b), "1234", "5678", "9", (char *)NULL) == 9);
	CHECK_STR(b, "1234567");		/* cut, NUL-terminated */
	CHECK(gd_cat(b, 1, "x", (char *)NULL) == 1 && b[0] == '\0');
	p = gd_hex(big, 0);
	p = gd_hex(p, 0x1f);
	p = gd_hex(p, 0xffffffffffffffffULL);
	p = gd_hex(p, 0x5ca1ab1e0ULL);
	*p = '\0';
	CHECK_STR(big, "01fffffffffffffffff5ca1ab1e0");
	p = gd_dec(big, 0);
	*p++ = ' ';
	p = gd_dec(p, 9);
	*p++ = ' ';
	p = gd_dec(p, 10);
	*p++ = ' ';
	p = gd_dec(p, 0xffffffffffffffffULL);
	*p = '\0';
	CHECK_STR(big, "0 9 10 18446744073709551615");
}

static void
test_ipv4_text(void)
{
	static const unsigned char a[][4] = {
		{ 0, 0, 0, 0 }, { 255, 255, 255, 255 }, { 10, 0, 12, 1 },
		{ 192, 168, 100, 9 }
	};
	char want[16], got[16];
	size_t i;

	for (i = 0; i < NELEM(a); i++) {	/* as inet_ntop writes it */
		snprintf(want, sizeof(want), "%u.%u.%u.%u", a[i][0], a[i][1],
		    a[i][2], a[i][3]);
		memset(got, 'x', sizeof(got));
		gd_ipv4_text(a[i], got);
		CHECK_STR(got, want);
	}
}

/* gd_rfc3339 keeps the last second: the next second, and a zone set by
 * tzset() within the same second, are formatted afresh. */
static void
test_rfc3339_cache(void)
{
	time_t t = 1717675200;	/* 2024-06-06T12:00:00Z */
	char b[GD_RFC3339_LEN];

	setenv("TZ", "UTC", 1);
	tzset();
	gd_rfc3339(t, b, sizeof(b));
	CHECK_STR(b, "2024-06-06T12:00:00Z");
	gd_rfc3339(t, b, sizeof(b));
	CHECK_STR(b, "2024-06-06T12:00:00Z");
	gd_rfc3339(t + 61, b, sizeof(b));
	CHECK_STR(b, "2024-06-06T12:01:01Z");
	setenv("TZ", "XYZ-2", 1);
	tzset();
	gd_rfc3339(t + 61, b, sizeof(b));
	CHECK_STR(b, "2024-06-06T14:01:01+02:00");
	setenv("TZ", "ABC+5:30", 1);
	tzset();
	gd_rfc3339(t - 86400 * 366, b, sizeof(b));
	CHECK_STR(b, "2023-06-06T06:30:00-05:30");
	gd_rfc3339(t, b, 11);			/* cut, NUL-terminated */
	CHECK_STR(b, "2024-06-06");
	setenv("TZ", "UTC", 1);
	tzset();
	gd_rfc3339(0, b, sizeof(b));
	CHECK_STR(b, "1970-01-01T00:00:00Z");
}

static void
test_hasher_value(void)
{
	struct gd_envelope e;
	struct gd_result res;
	br_md5_context md;
	char err[256], h0[33], h1[33], want[512];
	struct gd_address a;

	mk_env(&e, "Subject: =?utf-8?Q?caf=C3=A9?=\n\nbody\n");
	set_addr(&a, "a b", "example.net");	/* printed quoted */
	env_set_from(&e, &a);
	add_rcpt(&e, "carol", "example.org");
	CHECK(run("HeadersParser|Hasher|Header", "{\"primary_mail_host\":"
	    "\"mx\"}", &e, GD_TASK_SAVE, &res, err, sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);

	/* sender printed ‖ decoded subject ‖ ns time ‖ rcpt0 ‖ rcpt1 */
	br_md5_init(&md);
	br_md5_update(&md, "\"a b\"@example.net", 17);
	br_md5_update(&md, "caf\xc3\xa9", 5);
	br_md5_update(&md, "1700000000000000000", 19);
	br_md5_update(&md, "bob@example.org", 15);
	md5_hex(&md, h0);
	br_md5_update(&md, "carol@example.org", 17);
	md5_hex(&md, h1);
	CHECK(e.nhashes == 2);
	if (e.nhashes == 2) {
		CHECK_STR(e.hashes[0], h0);
		CHECK_STR(e.hashes[1], h1);
		CHECK(strlen(e.hashes[0]) == 32);
	}
	snprintf(want, sizeof(want), "Delivered-To: bob@mx\n"
	    "Received: from 192.0.2.7 ([192.0.2.7])\n"
	    "\tby example.org with SMTP id %s@example.org;\n"
	    "\t" FIXED_DATE "\n", h0);
	CHECK_STR(e.delivery_header, want);
	env_free(&e);
}

static void
test_hasher_reproducible(void)
{
	struct gd_envelope e1, e2;
	struct gd_result res;
	char err[256];

	mk_env(&e1, "Subject: x\n\n");
	mk_env(&e2, "Subject: x\n\n");
	CHECK(run("HeadersParser|Hasher", "{}", &e1, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(run("HeadersParser|Hasher", "{}", &e2, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(e1.nhashes == 1 && e2.nhashes == 1);
	if (e1.nhashes == 1 && e2.nhashes == 1)
		CHECK_STR(e1.hashes[0], e2.hashes[0]);
	env_free(&e1);
	env_free(&e2);
}

/* ---- Debugger (PROC-14) ---- */

static void
test_debugger_log_and_fault(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], path[128];
	struct logger *saved = ctx.log;
	char *text;
	size_t len;
	time_t t0;

	snprintf(path, sizeof(path), "%s/debug.log", root);
	ctx.log = log_open(path, LOGL_INFO, err, sizeof(err));
	CHECK(ctx.log != NULL);
	mk_env(&e, "Subject: caf\xc3\xa9\r\nX-Evil: \"quote\"\n\nbody\n");
	CHECK(run("HeadersParser|Debugger", "{\"log_received_mails\":true}",
	    &e, GD_TASK_SAVE, &res, err, sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	log_close(ctx.log);
	ctx.log = saved;
	text = read_file(path, &len);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(strstr(text, "level=info") != NULL);
		CHECK(strstr(text, "Mail from: alice@example.net") != NULL);
		CHECK(strstr(text, "Rcpt to: bob@example.org") != NULL);
		CHECK(strstr(text, "Header: X-Evil: \\\"quote\\\"") != NULL);
		CHECK(strstr(text, "Subject: caf\\xc3\\xa9") != NULL);
		CHECK(strstr(text, "body") == NULL);
	}
	free(text);
	env_free(&e);

	/* sleep_seconds 1: sleeps, then reports a fault (BE-07) */
	mk_env(&e, "Subject: x\n\n");
	t0 = time(NULL);
	CHECK(run("Debugger|Hasher", "{\"log_received_mails\":false,"
	    "\"sleep_seconds\":1}", &e, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(time(NULL) - t0 >= 1);
	CHECK(res.status == GD_STATUS_PERMFAIL);
	CHECK_STR(res.text, "storage failed");
	CHECK(e.nhashes == 0);		/* the chain stopped */
	env_free(&e);

	CHECK(run("Debugger", "{}", NULL, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == -1);
	CHECK_STR(err, "failed to load backend config (missing/invalid: "
	    "'log_received_mails' of type: bool)");
	CHECK(run("Debugger", "{\"log_received_mails\":true,\"sleep_seconds\":"
	    "\"1\"}", NULL, GD_TASK_SAVE, &res, err, sizeof(err)) == -1);
	CHECK(strstr(err, "'sleep_seconds' of expected type: int") != NULL);
}

/* ---- MailDir (PROC-16, PROC-16a) ---- */

static void
maildir_cfg(char *buf, size_t size, const char *path, const char *map)
{
	snprintf(buf, size, "{\"primary_mail_host\":\"mx\",\"maildir_path\":"
	    "\"%s\",\"maildir_user_map\":\"%s\"}", path, map);
}

/* check_one_mail - dir/new holds exactly one message whose name carries
 * ",S=<size>" and whose bytes are delivery header + data. */
static void
check_one_mail(const char *dir, const struct gd_envelope *e)
{
	char p[512], name[256], want[4096];
	const char *s;
	char *body;
	size_t len;
	struct stat st;

	snprintf(p, sizeof(p), "%s/new", dir);
	CHECK(list_dir(p, name, sizeof(name)) == 1);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	CHECK(list_dir(p, NULL, 0) == 0);
	snprintf(p, sizeof(p), "%s/new/%s", dir, name);
	CHECK(stat(p, &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);
	s = strstr(name, ",S=");
	CHECK(s != NULL);
	if (s != NULL)
		CHECK(strtol(s + 3, NULL, 10) == (long)st.st_size);
	/* <unix>.M<usec>P<pid>_<n>.<host> with '/' and ':' escaped */
	snprintf(want, sizeof(want), "P%ld_", (long)getpid());
	CHECK(strstr(name, want) != NULL);
	CHECK(strstr(name, ".M") != NULL);
	CHECK(strstr(name, ".my\\057host\\072x,S=") != NULL);
	snprintf(want, sizeof(want), "%s%.*s", e->delivery_header,
	    (int)e->data.len, e->data.p);
	body = read_file(p, &len);
	CHECK(body != NULL && len == strlen(want) &&
	    memcmp(body, want, len) == 0);
	free(body);
}

static void
test_maildir_save(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], cfg[512], tmpl[256], p[512];
	mode_t mode = 0;

	snprintf(tmpl, sizeof(tmpl), "%s/mail/[user]/Maildir", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, " bob=-1:-1 , Carol=-1:-1,");
	mk_env(&e, "Subject: hello\n\nline 1\nline 2\n");
	add_rcpt(&e, "BOB", "other.example");	/* same mailbox: one copy */
	add_rcpt(&e, "dave", "example.org");	/* no mailbox: skipped */
	add_rcpt(&e, "carol", "example.org");
	CHECK(run("HeadersParser|Header|Hasher|MailDir", cfg, &e,
	    GD_TASK_SAVE, &res, err, sizeof(err)) == 0);
	CHECK_STR(err, "");
	CHECK(res.status == GD_STATUS_OK && res.text[0] == '\0');
	snprintf(p, sizeof(p), "%s/mail/bob/Maildir", root);
	CHECK(is_dir(p, &mode) && mode == 0700);
	snprintf(p, sizeof(p), "%s/mail/bob/Maildir/cur", root);
	CHECK(is_dir(p, &mode) && mode == 0700);
	snprintf(p, sizeof(p), "%s/mail/bob/Maildir", root);
	check_one_mail(p, &e);
	snprintf(p, sizeof(p), "%s/mail/carol/Maildir", root);
	check_one_mail(p, &e);
	snprintf(p, sizeof(p), "%s/mail/dave", root);
	CHECK(!is_dir(p, NULL));
	CHECK(strstr(e.delivery_header, "id unknown@example.org") != NULL);
	env_free(&e);

	/* only unknown recipients: nothing written, chain continues */
	mk_env(&e, "x\n");
	gd_strlcpy(e.rcpt[0].local, "nobody", sizeof(e.rcpt[0].local));
	CHECK(run("MailDir", cfg, &e, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	env_free(&e);
}

/* tmp_file - dir/name with mtime and atime age seconds ago. */
static void
tmp_file(const char *dir, const char *name, long age)
{
	struct timespec ts[2];
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	CHECK((f = fopen(p, "w")) != NULL);
	if (f == NULL)
		return;
	fputs("half a message\n", f);
	fclose(f);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static int
exists(const char *dir, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* Files a crash left in tmp/ go once untouched for 36 hours, when the
 * mailbox gets mail (at most once an hour), and never younger ones. */
static void
test_maildir_tmp_stale_removed(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char cfg[512], tmpl[256], p[512], tmp[512];
	struct tc t;
	int i;

	snprintf(tmpl, sizeof(tmpl), "%s/stale/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "*=-1:-1");
	snprintf(p, sizeof(p), "%s/stale", root);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/stale/bob", root);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(tmp, sizeof(tmp), "%s/stale/bob/tmp", root);
	CHECK(mkdir(tmp, 0700) == 0);
	for (i = 0; i < 21; i++) {	/* what 21 kill -9 left behind */
		char name[32];
		snprintf(name, sizeof(name), "170000%04d.M1P%d_1.host", i, i);
		tmp_file(tmp, name, 40L * 3600);
	}
	tmp_file(tmp, "young", 35L * 3600);
	tmp_file(tmp, ".hidden", 40L * 3600);
	if (tc_open(&t, "MailDir", cfg) != 0) {
		CHECK(0);
		tc_close(&t);
		return;
	}
	mk_env(&e, "Subject: hi\n\nbody\n");
	memset(&res, 0, sizeof(res));
	be_chain_run(t.c, &e, GD_TASK_SAVE, &res);
	CHECK(res.status == GD_STATUS_OK);
	env_free(&e);
	snprintf(p, sizeof(p), "%s/stale/bob/new", root);
	CHECK(list_dir(p, NULL, 0) == 1);	/* the message itself */
	CHECK(list_dir(tmp, NULL, 0) == 2);	/* young and .hidden */
	CHECK(exists(tmp, "young") && exists(tmp, ".hidden"));
	/* swept at most once an hour per mailbox: a stale file that shows
	 * up now waits for the next sweep */
	tmp_file(tmp, "later", 40L * 3600);
	mk_env(&e, "Subject: hi\n\nagain\n");
	memset(&res, 0, sizeof(res));
	be_chain_run(t.c, &e, GD_TASK_SAVE, &res);
	CHECK(res.status == GD_STATUS_OK);
	env_free(&e);
	CHECK(exists(tmp, "later"));
	tc_close(&t);
}

static void
test_maildir_validate(void)
{
	static const struct {
		const char	*local;
		const char	*want;	/* "" = accepted */
	} cases[] = {
		{ "bob", "" }, { "BoB", "" }, { "dave", "no such user" },
		{ "../x", "no such user" }, { ".x", "no such user" },
		{ "", "no such user" }, { "a/b", "no such user" },
		{ "carol", "storage not available" }
	};
	struct gd_envelope e;
	struct gd_result res;
	struct tc t;
	char cfg[512], tmpl[256], p[512];
	size_t i;

	snprintf(tmpl, sizeof(tmpl), "%s/v/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "bob=-1:-1,carol=-1:-1");
	CHECK(tc_open(&t, "MailDir", cfg) == 0);
	snprintf(p, sizeof(p), "%s/v/carol", root);
	rm_rf(p);
	for (i = 0; i < NELEM(cases) && t.c != NULL; i++) {
		mk_env(&e, "");
		add_rcpt(&e, cases[i].local, "example.org");
		be_chain_run(t.c, &e, GD_TASK_VALIDATE, &res);
		CHECK_STR(res.text, cases[i].want);
		CHECK((res.status == GD_STATUS_OK) == (cases[i].want[0] == '\0'));
		env_free(&e);
	}
	tc_close(&t);
	/* "../x" never touched the file system */
	snprintf(p, sizeof(p), "%s/x", root);
	CHECK(!is_dir(p, NULL));
}

static void
test_maildir_catch_all(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], cfg[512], tmpl[256], p[512];
	const char *bad[] = { "../x", ".x", "a/b", "" };
	size_t i;

	snprintf(tmpl, sizeof(tmpl), "%s/any/[user]/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "*=-1:-1");
	mk_env(&e, "");
	gd_strlcpy(e.rcpt[0].local, "Anyone", sizeof(e.rcpt[0].local));
	CHECK(run("MailDir", cfg, &e, GD_TASK_VALIDATE, &res, err,
	    sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK && res.text[0] == '\0');
	env_free(&e);
	snprintf(p, sizeof(p), "%s/any", root);
	CHECK(!is_dir(p, NULL));	/* made lazily, at save */
	for (i = 0; i < NELEM(bad); i++) {
		mk_env(&e, "");
		gd_strlcpy(e.rcpt[0].local, bad[i], sizeof(e.rcpt[0].local));
		run("MailDir", cfg, &e, GD_TASK_VALIDATE, &res, err,
		    sizeof(err));
		CHECK_STR(res.text, "no such user");
		env_free(&e);
	}
	mk_env(&e, "Subject: s\n\nhi\n");
	gd_strlcpy(e.rcpt[0].local, "Anyone", sizeof(e.rcpt[0].local));
	add_rcpt(&e, "anyone", "x.example");
	add_rcpt(&e, "../escape", "x.example");	/* skipped */
	CHECK(run("Header|MailDir", cfg, &e, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	snprintf(p, sizeof(p), "%s/any/anyone/anyone", root);
	check_one_mail(p, &e);
	snprintf(p, sizeof(p), "%s/any/escape", root);
	CHECK(!is_dir(p, NULL));
	env_free(&e);
}

static void
test_maildir_bad_map(void)
{
	static const char *const maps[] = {
		"bob=1", "bob=x:1", "=1:2", "bob=1:2:3", "bob", "../evil=1:1",
		".hidden=-1:-1", "bob=-2:1", "bob=1:99999999999", "bob=1 :2"
	};
	struct gd_result res;
	char err[256], cfg[512], tmpl[256];
	size_t i;

	snprintf(tmpl, sizeof(tmpl), "%s/bad/[user]", root);
	for (i = 0; i < NELEM(maps); i++) {
		maildir_cfg(cfg, sizeof(cfg), tmpl, maps[i]);
		CHECK(run("MailDir", cfg, NULL, GD_TASK_SAVE, &res, err,
		    sizeof(err)) == -1);
		CHECK(strstr(err, "malformed record") != NULL);
		CHECK(strstr(err, maps[i]) != NULL);
	}
	CHECK(run("MailDir", "{\"maildir_path\":\"/x\"}", NULL, GD_TASK_SAVE,
	    &res, err, sizeof(err)) == -1);
	CHECK_STR(err, "failed to load backend config (missing/invalid: "
	    "'maildir_user_map' of type: string)");
}

static void
test_maildir_write_error(void)
{
	struct gd_envelope e;
	struct gd_result res;
	struct tc t;
	char cfg[512], tmpl[256], p[512];
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/werr/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "bob=-1:-1");
	if (tc_open(&t, "MailDir|Hasher", cfg) != 0) {
		CHECK(!"tc_open");
		tc_close(&t);
		return;
	}
	/* root ignores modes: replace tmp/ by a regular file */
	snprintf(p, sizeof(p), "%s/werr/bob/tmp", root);
	rm_rf(p);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	mk_env(&e, "Subject: s\n\nhi\n");
	be_chain_run(t.c, &e, GD_TASK_SAVE, &res);
	CHECK_STR(res.text, "451 4.3.0 Error: could not save email for [bob]");
	CHECK(res.status != GD_STATUS_OK);
	CHECK(strstr(res.detail, "werr/bob/tmp/") != NULL);
	CHECK(e.nhashes == 0);	/* the chain stopped */
	tc_close(&t);
	snprintf(p, sizeof(p), "%s/werr/bob/new", root);
	CHECK(list_dir(p, NULL, 0) == 0);
	env_free(&e);

	/* rename fails (new/ is a file): 451 and the tmp file is gone */
	snprintf(p, sizeof(p), "%s/werr/bob/tmp", root);
	rm_rf(p);
	CHECK(tc_open(&t, "MailDir", cfg) == 0);
	snprintf(p, sizeof(p), "%s/werr/bob/new", root);
	rm_rf(p);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	mk_env(&e, "Subject: s\n\nhi\n");
	if (t.c != NULL)
		be_chain_run(t.c, &e, GD_TASK_SAVE, &res);
	CHECK_STR(res.text, "451 4.3.0 Error: could not save email for [bob]");
	snprintf(p, sizeof(p), "%s/werr/bob/tmp", root);
	CHECK(list_dir(p, NULL, 0) == 0);
	tc_close(&t);
	env_free(&e);
}

static void
test_maildir_home_and_chown(void)
{
	struct gd_envelope e;
	struct gd_result res;
	char err[256], cfg[512], p[512], *home;
	struct stat st;

	home = getenv("HOME");
	if (home != NULL && (home = gd_strdup(home)) == NULL)
		return;
	setenv("HOME", root, 1);
	maildir_cfg(cfg, sizeof(cfg), "~/h/[user]",
	    geteuid() == 0 ? "bob=1234:1235" : "bob=-1:-1");
	mk_env(&e, "Subject: s\n\nhi\n");
	CHECK(run("MailDir", cfg, &e, GD_TASK_SAVE, &res, err,
	    sizeof(err)) == 0);
	CHECK(res.status == GD_STATUS_OK);
	snprintf(p, sizeof(p), "%s/h/bob/new", root);
	CHECK(list_dir(p, NULL, 0) == 1);
	if (geteuid() == 0) {
		CHECK(stat(p, &st) == 0 && st.st_uid == 1234 &&
		    st.st_gid == 1235);
		snprintf(p, sizeof(p), "%s/h/bob", root);
		CHECK(stat(p, &st) == 0 && st.st_uid == 1234 &&
		    st.st_gid == 1235);
	}
	env_free(&e);
	if (home != NULL) {
		setenv("HOME", home, 1);
		free(home);
	} else
		unsetenv("HOME");
}

/*
 * Many workers on one Maildir at once (as backend workers are): each has
 * its own MailDir instance, all share the daemon's ctx.  Every message
 * must land exactly once with its own bytes: two instances picking the
 * same file name in the same microsecond made a rename silently replace
 * another message.  Half the threads write to a catch-all Maildir that
 * does not exist yet (made concurrently on first delivery).
 */
#define MT_THREADS	8
#define MT_MSGS		100

struct mt {
	struct tc	t;
	int		id;
	int		failed;		/* deliveries not answered ok */
	pthread_mutex_t	*mu;		/* the start gate */
	pthread_cond_t	*cv;
	int		*go;
};

static void *
mt_main(void *arg)
{
	struct mt *w = arg;
	struct gd_envelope e;
	struct gd_result res;
	char data[128];
	int i;

	pthread_mutex_lock(w->mu);
	while (!*w->go)
		pthread_cond_wait(w->cv, w->mu);
	pthread_mutex_unlock(w->mu);
	for (i = 0; i < MT_MSGS; i++) {
		snprintf(data, sizeof(data), "Subject: t%d m%d\n\nw%d-%d\n",
		    w->id, i, w->id, i);
		mk_env(&e, data);
		gd_strlcpy(e.rcpt[0].local, w->id % 2 ? "Pool" : "Fresh",
		    sizeof(e.rcpt[0].local));
		memset(&res, 0, sizeof(res));
		be_chain_run(w->t.c, &e, GD_TASK_SAVE, &res);
		if (res.status != GD_STATUS_OK)
			w->failed++;
		env_free(&e);
	}
	return NULL;
}

/* mt_count - check every file of dir/new: name shape, S= size, bytes
 * "Subject: t<id> m<i>\n\nw<id>-<i>\n"; seen[id][i] counts them. */
static int
mt_count(const char *dir, int seen[MT_THREADS][MT_MSGS])
{
	char p[512], want[128];
	DIR *d;
	struct dirent *de;
	int n = 0, id, i;

	snprintf(p, sizeof(p), "%s/new", dir);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *body, *s;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(p, sizeof(p), "%s/new/%s", dir, de->d_name);
		body = read_file(p, &len);
		CHECK(body != NULL);
		if (body == NULL)
			continue;
		s = strstr(de->d_name, ",S=");
		CHECK(s != NULL && strtoul(s + 3, NULL, 10) == len);
		CHECK(strstr(de->d_name, ".my\\057host\\072x,S=") != NULL);
		if (sscanf(body, "Subject: t%d m%d", &id, &i) == 2 &&
		    id >= 0 && id < MT_THREADS && i >= 0 && i < MT_MSGS) {
			snprintf(want, sizeof(want), "Subject: t%d m%d\n\nw%d-%d"
			    "\n", id, i, id, i);
			CHECK(len == strlen(want) && memcmp(body, want, len) == 0);
			seen[id][i]++;
		} else
			CHECK(!"unexpected message body");
		free(body);
	}
	closedir(d);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	CHECK(list_dir(p, NULL, 0) == 0);
	return n;
}

static void
test_maildir_concurrent(void)
{
	static int seen[MT_THREADS][MT_MSGS];
	struct mt w[MT_THREADS];
	pthread_t th[MT_THREADS];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct gd_ctx c2;
	struct tc other;
	char cfg[512], tmpl[256], p[512];
	int i, j, go = 0, started = 0, failed = 0, n;

	snprintf(tmpl, sizeof(tmpl), "%s/mt/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "pool=-1:-1,*=-1:-1");
	CHECK(ctx.shared == NULL);
	for (i = 0; i < MT_THREADS; i++) {
		w[i].id = i;
		w[i].failed = 0;
		w[i].mu = &mu;
		w[i].cv = &cv;
		w[i].go = &go;
		CHECK(tc_open(&w[i].t, "MailDir", cfg) == 0);
	}
	/* one shared state per daemon (ctx), none leaks into another */
	CHECK(ctx.shared != NULL);
	c2 = ctx;
	c2.shared = NULL;
	other.c = be_chain_new(&reg, "MailDir", &c2, p, sizeof(p));
	CHECK(other.c != NULL && c2.shared != NULL &&
	    c2.shared != ctx.shared);
	be_chain_free(other.c);
	CHECK(c2.shared == NULL);

	for (i = 0; i < MT_THREADS; i++) {
		if (w[i].t.c == NULL ||
		    pthread_create(&th[i], NULL, mt_main, &w[i]) != 0)
			break;
		started++;
	}
	CHECK(started == MT_THREADS);
	pthread_mutex_lock(&mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		failed += w[i].failed;
	}
	for (i = 0; i < MT_THREADS; i++)
		tc_close(&w[i].t);
	CHECK(ctx.shared == NULL);	/* the last one freed it */
	CHECK(failed == 0);

	memset(seen, 0, sizeof(seen));
	snprintf(p, sizeof(p), "%s/mt/pool", root);
	n = mt_count(p, seen);
	snprintf(p, sizeof(p), "%s/mt/fresh", root);
	n += mt_count(p, seen);
	CHECK(n == started * MT_MSGS);
	for (i = 0; i < started; i++)
		for (j = 0; j < MT_MSGS; j++)
			if (seen[i][j] != 1) {
				printf("     t%d m%d stored %d times\n", i, j,
				    seen[i][j]);
				CHECK(seen[i][j] == 1);
				i = started;	/* one line is enough */
				break;
			}
}

/* Two daemons in one process (ARCH-01) writing one Maildir with the clock
 * pinned: file names still differ (<n> is per process, as <pid> is), so
 * neither rename replaces the other's message. */
static void
test_maildir_two_daemons(void)
{
	static int seen[MT_THREADS][MT_MSGS];
	struct gd_envelope e;
	struct gd_result res;
	struct gd_ctx c2 = ctx;
	struct tc t[2];
	char cfg[512], tmpl[256], p[512], data[128];
	int i;

	c2.shared = NULL;
	snprintf(tmpl, sizeof(tmpl), "%s/two/[user]", root);
	maildir_cfg(cfg, sizeof(cfg), tmpl, "pool=-1:-1");
	CHECK(tc_open(&t[0], "MailDir", cfg) == 0);
	CHECK(tc_open_in(&t[1], "MailDir", cfg, &c2) == 0);
	CHECK(c2.shared != ctx.shared);
	for (i = 0; i < 4 && t[0].c != NULL && t[1].c != NULL; i++) {
		/* same length each time: same S= in the name */
		snprintf(data, sizeof(data), "Subject: t%d m%d\n\nw%d-%d\n",
		    i % 2, i, i % 2, i);
		mk_env(&e, data);
		gd_strlcpy(e.rcpt[0].local, "pool", sizeof(e.rcpt[0].local));
		memset(&res, 0, sizeof(res));
		be_chain_run(t[i % 2].c, &e, GD_TASK_SAVE, &res);
		CHECK(res.status == GD_STATUS_OK);
		env_free(&e);
	}
	tc_close(&t[1]);
	tc_close(&t[0]);
	memset(seen, 0, sizeof(seen));
	snprintf(p, sizeof(p), "%s/two/pool", root);
	CHECK(mt_count(p, seen) == 4);
	for (i = 0; i < 4; i++)
		CHECK(seen[i % 2][i] == 1);
}

int
main(void)
{
	char err[128];
	int rc;

	setenv("TZ", "UTC", 1);
	tzset();
	memset(&ctx, 0, sizeof(ctx));
	ctx.fixed_time = FIXED_TIME;
	gd_strlcpy(ctx.hostname, "my/host:x", sizeof(ctx.hostname));
	ctx.log = log_open("off", LOGL_INFO, err, sizeof(err));
	gd_strlcpy(root, "/tmp/t_proc.XXXXXX", sizeof(root));
	if (mkdtemp(root) == NULL || be_registry_init(&reg) != 0) {
		printf("FAIL setup: mkdtemp or registry\n");
		return 1;
	}
	RUN(test_cat_and_hex);
	RUN(test_ipv4_text);
	RUN(test_rfc3339_cache);
	RUN(test_header_protocols);
	RUN(test_header_date_follows_time);
	RUN(test_header_with_hash_and_trim);
	RUN(test_header_config_required);
	RUN(test_header_ignores_validate);
	RUN(test_hasher_value);
	RUN(test_hasher_reproducible);
	RUN(test_debugger_log_and_fault);
	RUN(test_maildir_save);
	RUN(test_maildir_tmp_stale_removed);
	RUN(test_maildir_validate);
	RUN(test_maildir_catch_all);
	RUN(test_maildir_bad_map);
	RUN(test_maildir_write_error);
	RUN(test_maildir_home_and_chown);
	RUN(test_maildir_concurrent);
	RUN(test_maildir_two_daemons);
	rc = T_DONE();
	be_registry_free(&reg);
	log_close(ctx.log);
	rm_rf(root);
	return rc;
}
