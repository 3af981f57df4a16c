/*
 * p_maildir.c - the MailDir processor (PROC-16, PROC-16a): delivers each
 * message into the Maildir of every recipient that has one.
 *
 * Config: maildir_path (string, required; every "[user]" is replaced by
 * the lower-cased user, a leading "~/" by $HOME) and maildir_user_map
 * (string, required: "user=uid:gid,..."; -1 = do not chown; "*" is a
 * catch-all whose Maildirs are made on first delivery).  A malformed
 * record fails init.  Validate: the last recipient must be a mapped user
 * ("no such user") whose Maildir exists ("storage not available"), or the
 * catch-all must exist.  A local part that could leave the Maildir root
 * (empty, containing '/', starting with '.') is "no such user" and never
 * reaches the file system; a NUL cannot occur (local parts are C strings).
 *
 * Save (DESIGN rule 5): write tmp/<unix>.M<usec>P<pid>_<n>.<host>, fchmod
 * 0600, fchown, fsync, close, rename to new/<same>,S=<size>, fsync new/.
 * Any failure removes the tmp file, answers 451 and stops the chain;
 * mailboxes written before the failure keep their copy (a retry by the
 * client duplicates them: better than losing mail).  Runs on a worker:
 * blocking I/O is expected here.
 */
#include "compat.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "envelope.h"

#define MD_PATH_MAX	4096
#define MD_ID_MAX	2147483647L

struct md_user {
	char	*name;		/* lower-cased */
	long	uid, gid;	/* -1 = leave alone */
};

struct md {
	struct gd_ctx	*ctx;
	char		*tmpl;	/* maildir_path with "~/" expanded */
	struct md_user	*u;
	size_t		nu;
	int		any;	/* a "*" record was given */
	long		any_uid, any_gid;
	unsigned long	counter;	/* per instance: names stay unique */
	char		host[1024];
};

static void *
md_create(struct gd_ctx *ctx, void *user)
{
	struct md *m = calloc(1, sizeof(*m));
	const char *h = ctx != NULL ? gd_ctx_hostname(ctx) : "localhost";
	size_t o = 0;

	(void)user;
	if (m == NULL)
		return NULL;
	m->ctx = ctx;
	/* maildir convention: '/' and ':' cannot appear in a unique name */
	for (; *h != '\0' && o + 5 < sizeof(m->host); h++) {
		if (*h == '/' || *h == ':') {
			memcpy(m->host + o, *h == '/' ? "\\057" : "\\072", 4);
			o += 4;
		} else
			m->host[o++] = *h;
	}
	m->host[o] = '\0';
	return m;
}

static void
md_clear(struct md *m)
{
	size_t i;

	for (i = 0; i < m->nu; i++)
		free(m->u[i].name);
	free(m->u);
	free(m->tmpl);
	m->u = NULL;
	m->tmpl = NULL;
	m->nu = 0;
	m->any = 0;
}

static int
safe_user(const char *u)
{
	return u[0] != '\0' && u[0] != '.' && strchr(u, '/') == NULL;
}

/* parse_id - "-1" or a decimal id in [0, MD_ID_MAX]. */
static int
parse_id(const char *s, const char *end, long *out)
{
	char buf[24], *ep;

	if (end - s <= 0 || (size_t)(end - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	errno = 0;
	*out = strtol(buf, &ep, 10);
	if (errno != 0 || *ep != '\0' || *out < -1 || *out > MD_ID_MAX)
		return -1;
	return 0;
}

/* parse_map - "user=uid:gid" records split by ','; blanks around records
 * and empty records are ignored, anything else malformed fails. */
static int
parse_map(struct md *m, const char *s, char *err, size_t errlen)
{
	while (*s != '\0') {
		const char *b = s, *e = strchr(s, ','), *eq, *colon;
		struct md_user *nu;
		long uid, gid;
		size_t i;

		if (e == NULL)
			e = s + strlen(s);
		s = *e == ',' ? e + 1 : e;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			continue;
		eq = memchr(b, '=', (size_t)(e - b));
		colon = eq != NULL ? memchr(eq, ':', (size_t)(e - eq)) : NULL;
		if (eq == NULL || colon == NULL || eq == b ||
		    parse_id(eq + 1, colon, &uid) != 0 ||
		    parse_id(colon + 1, e, &gid) != 0)
			goto bad;
		if (eq - b == 1 && *b == '*') {
			m->any = 1;
			m->any_uid = uid;
			m->any_gid = gid;
			continue;
		}
		if ((nu = gd_reallocarray(m->u, m->nu + 1, sizeof(*nu))) == NULL)
			goto nomem;
		m->u = nu;
		if ((nu[m->nu].name = gd_memdup(b, (size_t)(eq - b))) == NULL)
			goto nomem;
		for (i = 0; nu[m->nu].name[i] != '\0'; i++)
			nu[m->nu].name[i] = (char)gd_tolower(
			    (unsigned char)nu[m->nu].name[i]);
		nu[m->nu].uid = uid;
		nu[m->nu].gid = gid;
		m->nu++;
		if (!safe_user(nu[m->nu - 1].name))
			goto bad;
		continue;
bad:
		snprintf(err, errlen, "maildir_user_map: malformed record "
		    "'%.*s' (want user=uid:gid, uid/gid a number or -1)",
		    (int)(e - b > 100 ? 100 : e - b), b);
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "maildir_user_map: out of memory");
	return -1;
}

/* dir_for - the Maildir of user: tmpl with every "[user]" replaced. */
static int
dir_for(const struct md *m, const char *user, char *buf, size_t size)
{
	const char *t = m->tmpl, *hit;
	size_t o = 0, n, ul = strlen(user);

	for (;;) {
		hit = strstr(t, "[user]");
		n = hit != NULL ? (size_t)(hit - t) : strlen(t);
		if (o + n + (hit != NULL ? ul : 0) >= size)
			return -1;
		memcpy(buf + o, t, n);
		o += n;
		if (hit == NULL)
			break;
		memcpy(buf + o, user, ul);
		o += ul;
		t = hit + 6;
	}
	buf[o] = '\0';
	return 0;
}

/*
 * make_maildir - mkdir -p dir (new parents 0755), then dir, tmp, new, cur
 * with mode 0700, each chowned when uid/gid is not -1.  0, or -1 with
 * "cannot create <path>: <reason>" in why.
 */
static int
make_maildir(const char *dir, long uid, long gid, char *why, size_t wlen)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char path[MD_PATH_MAX], *p;
	struct stat st;
	size_t i;
	int n;

	/* Fast path for a catch-all mailbox seen before: one stat instead of
	 * a mkdir per path component on every delivery. */
	n = snprintf(path, sizeof(path), "%s/new", dir);
	if (n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		n = snprintf(path, sizeof(path), "%s/tmp", dir);
		if (n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return 0;
	}
	for (i = 0; i < NELEM(sub); i++) {
		n = snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
		errno = ENAMETOOLONG;
		if (n < 0 || (size_t)n >= sizeof(path))
			goto fail;
		for (p = path + 1; i == 0 && *p != '\0'; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(path, 0755) != 0 && errno != EEXIST)
				goto fail;
			*p = '/';
		}
		if (mkdir(path, 0700) != 0) {
			if (errno != EEXIST || stat(path, &st) != 0)
				goto fail;
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				goto fail;
			}
		}
		if ((uid != -1 || gid != -1) &&
		    chown(path, (uid_t)uid, (gid_t)gid) != 0)
			goto fail;
	}
	return 0;
fail:
	snprintf(why, wlen, "cannot create %s: %s", path, strerror(errno));
	return -1;
}

static int
md_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct md *m = inst;
	const char *path, *map, *home = "";
	char dir[MD_PATH_MAX];
	size_t i;

	md_clear(m);	/* init may be retried after a failure (BE-11) */
	if (gd_config_str(bcfg, "maildir_path", 1, &path, err, errlen) != 0 ||
	    gd_config_str(bcfg, "maildir_user_map", 1, &map, err, errlen) != 0)
		return -1;
	if (strncmp(path, "~/", 2) == 0) {
		if ((home = getenv("HOME")) == NULL || home[0] == '\0') {
			snprintf(err, errlen, "maildir_path: ~/ used but HOME "
			    "is not set");
			return -1;
		}
		path++;
	}
	if ((m->tmpl = malloc(strlen(home) + strlen(path) + 1)) == NULL) {
		snprintf(err, errlen, "maildir: out of memory");
		return -1;
	}
	memcpy(m->tmpl, home, strlen(home));
	memcpy(m->tmpl + strlen(home), path, strlen(path) + 1);
	if (parse_map(m, map, err, errlen) != 0)
		return -1;
	for (i = 0; i < m->nu; i++) {
		if (dir_for(m, m->u[i].name, dir, sizeof(dir)) != 0) {
			snprintf(err, errlen, "maildir_path too long");
			return -1;
		}
		if (make_maildir(dir, m->u[i].uid, m->u[i].gid, err,
		    errlen) != 0)
			return -1;
	}
	return 0;
}

/* lookup - the mailbox of a lower-cased local part: 1 named user, 2 the
 * catch-all, 0 none.  dir gets its path. */
static int
lookup(const struct md *m, const char *user, char *dir, size_t size,
    long *uid, long *gid)
{
	size_t i;

	if (!safe_user(user))
		return 0;
	for (i = m->nu; i-- > 0;) {	/* the last record wins, as in GG */
		if (strcmp(m->u[i].name, user) == 0) {
			*uid = m->u[i].uid;
			*gid = m->u[i].gid;
			return dir_for(m, user, dir, size) == 0 ? 1 : 0;
		}
	}
	*uid = m->any_uid;
	*gid = m->any_gid;
	return m->any && dir_for(m, user, dir, size) == 0 ? 2 : 0;
}

static void
lower(char *dst, const char *src)
{
	while ((*dst++ = (char)gd_tolower((unsigned char)*src++)) != '\0')
		;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* deliver - one copy into dir; 0, or -1 with what set (errno text). */
static int
deliver(struct md *m, const struct gd_envelope *e, const char *dir,
    long uid, long gid, char *what, size_t wlen)
{
	char name[1200], tmp[MD_PATH_MAX], fin[MD_PATH_MAX], nd[MD_PATH_MAX];
	const char *h = e->delivery_header != NULL ? e->delivery_header : "";
	size_t size = strlen(h) + e->data_len;
	struct timespec now;
	int fd, n1, n2, n3, n4;

	clock_gettime(CLOCK_REALTIME, &now);
	n1 = snprintf(name, sizeof(name), "%lld.M%ldP%ld_%lu.%s",
	    (long long)now.tv_sec, (long)(now.tv_nsec / 1000), (long)getpid(),
	    ++m->counter, m->host);
	n2 = snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
	n3 = snprintf(fin, sizeof(fin), "%s/new/%s,S=%zu", dir, name, size);
	n4 = snprintf(nd, sizeof(nd), "%s/new", dir);
	if (n1 < 0 || n2 < 0 || n3 < 0 || n4 < 0 ||
	    (size_t)n1 >= sizeof(name) || (size_t)n2 >= sizeof(tmp) ||
	    (size_t)n3 >= sizeof(fin) || (size_t)n4 >= sizeof(nd)) {
		snprintf(what, wlen, "path too long: %s", dir);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0) {
		snprintf(what, wlen, "open %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, h, strlen(h)) != 0 ||
	    write_all(fd, e->data, e->data_len) != 0 || fchmod(fd, 0600) != 0 ||
	    ((uid != -1 || gid != -1) &&
	    fchown(fd, (uid_t)uid, (gid_t)gid) != 0) || fsync(fd) != 0) {
		snprintf(what, wlen, "write %s: %s", tmp, strerror(errno));
		(void)close(fd);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, fin) != 0) {
		snprintf(what, wlen, "close/rename %s: %s", tmp,
		    strerror(errno));
		goto fail;
	}
	/* make the rename durable; some file systems cannot fsync a
	 * directory (EINVAL): nothing more can be done there */
	if ((fd = open(nd, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (fsync(fd) != 0 && errno != EINVAL)) {
		snprintf(what, wlen, "fsync %s: %s", nd, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	(void)close(fd);
	return 0;
fail:
	(void)unlink(tmp);
	return -1;
}

/*
 * md_save - one copy per mailbox.  Two recipients that resolve to the same
 * directory get one copy: found by re-resolving the earlier recipients,
 * quadratic but bounded by the SMTP recipient limit.
 */
static void
md_save(struct md *m, struct gd_envelope *e, struct gd_next *next,
    struct gd_result *res)
{
	char user[ENV_LOCAL_MAX + 1], dir[MD_PATH_MAX], d2[MD_PATH_MAX];
	char u2[ENV_LOCAL_MAX + 1], why[MD_PATH_MAX + 64];
	size_t i, j;
	long uid, gid, uid2, gid2;
	int kind, dup;

	for (i = 0; i < e->nrcpt; i++) {
		lower(user, e->rcpt[i].local);
		if ((kind = lookup(m, user, dir, sizeof(dir), &uid, &gid)) == 0)
			continue;	/* no mailbox: skipped */
		for (j = 0, dup = 0; j < i && !dup; j++) {
			lower(u2, e->rcpt[j].local);
			dup = lookup(m, u2, d2, sizeof(d2), &uid2, &gid2) != 0 &&
			    strcmp(d2, dir) == 0;
		}
		if (dup)
			continue;	/* this mailbox already has its copy */
		if ((kind == 2 && make_maildir(dir, uid, gid, why,
		    sizeof(why)) != 0) ||
		    deliver(m, e, dir, uid, gid, why, sizeof(why)) != 0) {
			gd_log(m->ctx, GD_LOG_ERROR, "maildir: %s", why);
			gd_result_reply(res, "451 4.3.0 Error: could not save "
			    "email for [%s]", user);
			gd_result_error(res, "maildir: %.200s", why);
			return;
		}
	}
	gd_next(next, e, GD_TASK_SAVE, res);
}

static void
md_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct md *m = inst;
	char user[ENV_LOCAL_MAX + 1], dir[MD_PATH_MAX];
	struct stat st;
	long uid, gid;
	int kind;

	if (task == GD_TASK_SAVE) {
		md_save(m, e, next, res);
		return;
	}
	if (task != GD_TASK_VALIDATE || e->nrcpt == 0) {
		gd_next(next, e, task, res);
		return;
	}
	lower(user, e->rcpt[e->nrcpt - 1].local);
	kind = lookup(m, user, dir, sizeof(dir), &uid, &gid);
	if (kind == 0)
		gd_result_error(res, "no such user");
	else if (kind == 1 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
		gd_result_error(res, "storage not available");
	else
		gd_next(next, e, task, res);
}

static void
md_destroy(void *inst)
{
	if (inst != NULL)
		md_clear(inst);
	free(inst);
}

const struct gd_processor p_maildir_processor = {
	"MailDir", md_create, md_init, md_process, NULL, md_destroy, NULL, 0
};
