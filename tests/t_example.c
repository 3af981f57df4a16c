/*
 * t_example.c - examples/stamp.c, a processor written against guerrilla.h
 * alone, stores the same bytes as the built-ins it stands for: for each
 * message, the Maildir file written by HeadersParser|Stamp|MailDir equals
 * the one written by HeadersParser|Hasher|Header|MailDir, byte for byte,
 * with the clock pinned (both read it through gd_ctx_time_ns).  Also: the
 * example includes no header of the project but guerrilla.h.
 */
#include "compat.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "envelope.h"
#include "json.h"
#include "t.h"

extern const struct gd_processor stamp_processor;

static struct be_registry reg;
static struct gd_ctx ctx;
static char root[64];

/* read_new - the bytes of the one file in dir/new (NULL if not one). */
static char *
read_new(const char *dir, size_t *len)
{
	char p[512], name[256];
	struct dirent *de;
	DIR *d;
	FILE *f;
	char *buf = NULL;
	long n;
	int count = 0;

	*len = 0;
	snprintf(p, sizeof(p), "%s/new", dir);
	if ((d = opendir(p)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		gd_strlcpy(name, de->d_name, sizeof(name));
		count++;
	}
	closedir(d);
	if (count != 1)
		return NULL;
	snprintf(p, sizeof(p), "%s/new/%s", dir, name);
	if ((f = fopen(p, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL)
		*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

/* save - run spec over one message into the Maildir root/<tag>/<n>/[user];
 * 0 when the chain said OK. */
static int
save(const char *spec, const char *tag, int n, const char *from,
    const char *const *rcpt, int esmtp, int tls, const char *data,
    struct gd_envelope *e)
{
	char json[1024], err[256];
	struct json_value *cfg;
	struct be_chain *c;
	struct gd_result res;
	struct gd_address a;
	size_t i;
	int rc = -1;

	env_init(e);
	gd_strlcpy(e->remote_ip, "192.0.2.7", sizeof(e->remote_ip));
	e->esmtp = esmtp;
	e->tls = tls;
	memset(&a, 0, sizeof(a));
	if (from[0] == '\0')
		a.null_path = 1;
	else {
		const char *at = strchr(from, '@');
		snprintf(a.local, sizeof(a.local), "%.*s", (int)(at - from),
		    from);
		gd_strlcpy(a.domain, at + 1, sizeof(a.domain));
	}
	CHECK(env_set_from(e, &a) == 0);
	for (i = 0; rcpt[i] != NULL; i++) {
		const char *at = strchr(rcpt[i], '@');
		memset(&a, 0, sizeof(a));
		snprintf(a.local, sizeof(a.local), "%.*s", (int)(at - rcpt[i]),
		    rcpt[i]);
		gd_strlcpy(a.domain, at + 1, sizeof(a.domain));
		a.quoted = strchr(a.local, ' ') != NULL;
		CHECK(env_add_rcpt(e, &a) == 0);
	}
	CHECK(env_data_append(e, data, strlen(data)) == 0);
	snprintf(json, sizeof(json), "{\"primary_mail_host\": \"mx.example.com\","
	    " \"maildir_path\": \"%s/%s/%d/[user]\","
	    " \"maildir_user_map\": \"*=-1:-1\"}", root, tag, n);
	cfg = json_parse(json, strlen(json), 0, err, sizeof(err));
	CHECK(cfg != NULL);
	c = cfg != NULL ? be_chain_new(&reg, spec, &ctx, err, sizeof(err)) :
	    NULL;
	CHECK(c != NULL);
	if (c != NULL && be_chain_init(c, cfg, err, sizeof(err)) == 0) {
		be_chain_run(c, e, GD_TASK_SAVE, &res);
		rc = res.status == GD_STATUS_OK ? 0 : -1;
	}
	if (c != NULL) {
		CHECK(be_chain_shutdown(c, err, sizeof(err)) == 0);
		be_chain_free(c);
	}
	json_free(cfg);
	return rc;
}

static void
test_stamp_stores_what_hasher_and_header_store(void)
{
	static const char *const r1[] = { "bob@example.org", NULL };
	static const char *const r2[] = {
		"  carol @example.org", "dave@[192.0.2.9]", "x y@example.net",
		NULL
	};
	static const struct {
		const char		*from;
		const char *const	*rcpt;
		int			esmtp, tls;
		const char		*data;
	} m[] = {
		{ "alice@example.net", r1, 1, 0, "Subject: hi\n\nbody\n" },
		{ "", r2, 1, 1, "Subject: =?utf-8?q?caf=C3=A9?=\n\nx\n" },
		{ "alice@example.net", r2, 0, 0, "No-Subject: 1\n\n\n" },
		{ "alice@example.net", r1, 0, 1, "" }
	};
	struct gd_envelope a, b;
	char da[512], db[512];
	size_t i, k, la, lb;

	for (i = 0; i < NELEM(m); i++) {
		CHECK(save("HeadersParser|Hasher|Header|MailDir", "builtin",
		    (int)i, m[i].from, m[i].rcpt, m[i].esmtp, m[i].tls,
		    m[i].data, &a) == 0);
		CHECK(save("HeadersParser|Stamp|MailDir", "stamp", (int)i,
		    m[i].from, m[i].rcpt, m[i].esmtp, m[i].tls, m[i].data,
		    &b) == 0);
		CHECK(a.delivery_header != NULL && b.delivery_header != NULL);
		if (a.delivery_header != NULL && b.delivery_header != NULL)
			CHECK_STR(b.delivery_header, a.delivery_header);
		CHECK(a.nhashes == a.nrcpt && b.nhashes == a.nhashes);
		for (k = 0; k < a.nhashes && k < b.nhashes; k++)
			CHECK_STR(b.hashes[k], a.hashes[k]);
		for (k = 0; k < a.nrcpt; k++) {
			char *fa, *fb, user[130];
			size_t u;

			for (u = 0; a.rcpt[k].local[u] != '\0' &&
			    u + 1 < sizeof(user); u++)
				user[u] = (char)gd_tolower(
				    (unsigned char)a.rcpt[k].local[u]);
			user[u] = '\0';
			snprintf(da, sizeof(da), "%s/builtin/%d/%s", root,
			    (int)i, user);
			snprintf(db, sizeof(db), "%s/stamp/%d/%s", root,
			    (int)i, user);
			fa = read_new(da, &la);
			fb = read_new(db, &lb);
			CHECK(fa != NULL && fb != NULL);
			CHECK(fa != NULL && fb != NULL && la == lb &&
			    memcmp(fa, fb, la) == 0);
			if (fa != NULL && fb != NULL && (la != lb ||
			    memcmp(fa, fb, la) != 0))
				printf("     message %zu, %s differs\n", i, user);
			free(fa);
			free(fb);
		}
		env_free(&a);
		env_free(&b);
	}
}

/* The example must be writable from guerrilla.h alone. */
static void
test_stamp_includes_only_guerrilla_h(void)
{
	FILE *f = fopen("examples/stamp.c", "r");
	char line[512];
	int ours = 0, others = 0;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "#include \"", 10) != 0)
			continue;
		if (strcmp(line, "#include \"guerrilla.h\"\n") == 0)
			ours++;
		else {
			printf("     examples/stamp.c: %s", line);
			others++;
		}
	}
	fclose(f);
	CHECK(ours == 1 && others == 0);
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[1024];

	if (d == NULL) {
		(void)unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		rm_rf(p);
	}
	closedir(d);
	(void)rmdir(path);
}

int
main(void)
{
	gd_strlcpy(root, "/tmp/gd-example-XXXXXX", sizeof(root));
	if (mkdtemp(root) == NULL || be_registry_init(&reg) != 0 ||
	    be_registry_add(&reg, &stamp_processor) != 0) {
		printf("cannot set up\n");
		return 1;
	}
	setenv("TZ", "UTC", 1);
	tzset();
	gd_strlcpy(ctx.hostname, "mx.test", sizeof(ctx.hostname));
	ctx.fixed_time = 1700000000;
	RUN(test_stamp_stores_what_hasher_and_header_store);
	RUN(test_stamp_includes_only_guerrilla_h);
	be_registry_free(&reg);
	rm_rf(root);
	return T_DONE();
}
