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
 * 0600, fchown, fsync, close, rename to new/<same>,S=<size>, fsync new/;
 * only then does the chain go on (and the client get its 250).  A Maildir
 * the catch-all creates is made durable too: each mkdir is followed by an
 * fsync of its parent.  Any failure removes the tmp file, answers 451 and
 * stops the chain; mailboxes written before the failure keep their copy (a
 * retry by the client duplicates them: better than losing mail).  Runs on
 * a worker: blocking I/O is expected here.
 *
 * Shared state (struct md_shared, one per gd_ctx, i.e. per daemon, so two
 * daemons in one process stay apart, ARCH-01): all MailDir instances of
 * the daemon's backends (one per worker, old and new backend during a
 * reload) hold a reference; the first creates it, the last frees it.
 *  - <n> comes from one counter in the process (not per daemon: <pid> is
 *    the process's too), so two workers, or two daemons embedded in one
 *    program, writing in the same microsecond cannot pick the same name
 *    (a rename would then silently replace the other message).  tmp/ is
 *    opened O_EXCL as a last guard.
 *    When a test pins the clock (gd_ctx.fixed_time), the name's time is
 *    that second and M0, so only <n> keeps names apart.
 *  - Group commit of new/: a worker that renamed into new/ needs an fsync
 *    of new/ that started after its rename.  Per directory, a generation
 *    counts the fsyncs started; one runs at a time, and every worker whose
 *    rename preceded its start is covered by it, so with W workers on one
 *    Maildir about one directory fsync serves W messages.  An entry lives
 *    while a worker uses it, so the table is bounded by the workers.
 *  - Stale files in tmp/: a crash (or kill -9) between create and rename
 *    leaves a file in tmp/ that nobody renames.  As Maildir readers do,
 *    a file in tmp/ neither written nor read (mtime, atime) for 36 hours
 *    is removed: a mailbox's tmp/ is swept when a delivery to it finds that
 *    it was not swept in the last hour, and at init for the mapped users.
 *    The table of recently swept mailboxes is bounded (MD_SWEPT_MAX; the
 *    oldest entry makes room), so it costs a lookup per delivery.
 */
#include "compat.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guerrilla.h"
#include "processors/builtins.h"

#define MD_PATH_MAX	4096
#define MD_LOCAL_MAX	128	/* the longest local part RCPT accepts */
#define MD_SHARED_KEY	"MailDir"
#define MD_STALE_S	(36L * 3600)	/* a tmp/ file this old is dead */
#define MD_SWEEP_S	3600		/* sweep one tmp/ at most this often */
#define MD_SWEPT_MAX	256		/* mailboxes remembered as swept */
#define MD_ID_MAX	2147483647L

struct md_user {
	char	*name;		/* lower-cased */
	long	uid, gid;	/* -1 = leave alone */
};

/* The fsync state of one new/ directory (group commit). */
struct md_dir {
	struct md_dir	*next;
	char		*path;
	unsigned	users;		/* workers that hold this entry */
	unsigned long	started;	/* fsyncs started: their generation */
	unsigned long	done;		/* generation of the last one finished */
	unsigned long	failed;		/* generation of the last failed, 0 */
	int		err;		/* its errno */
	int		busy;		/* an fsync runs now */
};

/* A mailbox whose tmp/ was swept, and when. */
struct md_swept {
	char	*dir;
	time_t	 at;
};

struct md_shared {
	pthread_mutex_t	mu;	/* protects dirs, swept and their fields */
	pthread_cond_t	cv;	/* a directory fsync finished */
	struct md_dir	*dirs;
	struct md_swept	 swept[MD_SWEPT_MAX];
	size_t		 nswept;
};

struct md {
	struct gd_ctx	*ctx;
	struct md_shared *sh;	/* gd_ctx_share'd; our own when no ctx */
	char		*tmpl;	/* maildir_path with "~/" expanded */
	struct md_user	*u;
	size_t		nu;
	int		any;	/* a "*" record was given */
	long		any_uid, any_gid;
	char		host[1024];
};

static void *
shared_make(void)
{
	struct md_shared *sh;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	if (pthread_mutex_init(&sh->mu, NULL) != 0) {
		free(sh);
		return NULL;
	}
	if (pthread_cond_init(&sh->cv, NULL) != 0) {
		pthread_mutex_destroy(&sh->mu);
		free(sh);
		return NULL;
	}
	return sh;
}

/* shared_free - after the last instance: no worker runs then (destroy
 * hook), so no directory entry is left. */
static void
shared_free(void *obj)
{
	struct md_shared *sh = obj;
	size_t i;

	for (i = 0; i < sh->nswept; i++)
		free(sh->swept[i].dir);
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

/* fsync_dir - 0 or an errno.  Some file systems cannot fsync a directory
 * (EINVAL): nothing more can be done there, so that counts as done. */
static int
fsync_dir(const char *path)
{
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno;
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = errno;
	(void)close(fd);
	return rc;
}

/*
 * sync_new - return once an fsync of the directory path that started after
 * the call has finished (the caller's rename is then durable): 0, or the
 * errno of a failed fsync that may have covered it.  Group commit: the
 * first waiter runs the fsync for all; see the file comment.
 */
static int
sync_new(struct md_shared *sh, const char *path)
{
	struct md_dir *d, **pp;
	unsigned long want, gen;
	int rc;

	pthread_mutex_lock(&sh->mu);
	for (d = sh->dirs; d != NULL && strcmp(d->path, path) != 0;
	    d = d->next)
		;
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (d->path = gd_strdup(path)) == NULL) {
			pthread_mutex_unlock(&sh->mu);
			free(d);
			return fsync_dir(path);	/* alone, but still safe */
		}
		d->next = sh->dirs;
		sh->dirs = d;
	}
	d->users++;
	/* a running fsync may have started before our rename: the next one
	 * is the first that surely covers it */
	want = d->started + 1;
	while (d->done < want) {
		if (d->busy) {
			pthread_cond_wait(&sh->cv, &sh->mu);
			continue;
		}
		d->busy = 1;
		gen = ++d->started;
		pthread_mutex_unlock(&sh->mu);
		rc = fsync_dir(path);
		pthread_mutex_lock(&sh->mu);
		d->busy = 0;
		d->done = gen;
		if (rc != 0) {
			d->failed = gen;
			d->err = rc;
		}
		pthread_cond_broadcast(&sh->cv);
	}
	/* a failure at or after our generation: maybe not durable (this
	 * may also fail a message a later success covered: harmless 451) */
	rc = d->failed >= want ? d->err : 0;
	if (--d->users == 0) {
		for (pp = &sh->dirs; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		free(d->path);
		free(d);
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

/* sweep_due - dir's tmp/ was not swept in the last MD_SWEEP_S seconds:
 * note it as swept now and return 1 (the caller sweeps); else 0. */
static int
sweep_due(struct md_shared *sh, const char *dir, time_t now)
{
	size_t i, old = 0;
	char *d;

	pthread_mutex_lock(&sh->mu);
	for (i = 0; i < sh->nswept; i++) {
		if (strcmp(sh->swept[i].dir, dir) == 0) {
			if (now - sh->swept[i].at < MD_SWEEP_S && now >=
			    sh->swept[i].at) {
				pthread_mutex_unlock(&sh->mu);
				return 0;
			}
			sh->swept[i].at = now;
			pthread_mutex_unlock(&sh->mu);
			return 1;
		}
		if (sh->swept[i].at < sh->swept[old].at)
			old = i;
	}
	if ((d = gd_strdup(dir)) != NULL) {
		if (sh->nswept < MD_SWEPT_MAX)
			old = sh->nswept++;
		else
			free(sh->swept[old].dir);
		sh->swept[old].dir = d;
		sh->swept[old].at = now;
	}
	pthread_mutex_unlock(&sh->mu);
	return 1;
}

/* sweep_tmp - remove the files in dir/tmp untouched for MD_STALE_S
 * seconds; logs how many.  Errors only mean that a file stays. */
static void
sweep_tmp(struct md *m, const char *dir, time_t now)
{
	char path[MD_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n, removed = 0;

	n = snprintf(path, sizeof(path), "%s/tmp", dir);
	if (n < 0 || (size_t)n >= sizeof(path) || (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* ".", "..", and nothing of ours */
		n = snprintf(path, sizeof(path), "%s/tmp/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtime < MD_STALE_S ||
		    now - st.st_atime < MD_STALE_S)
			continue;
		if (unlink(path) == 0)
			removed++;
	}
	(void)closedir(d);
	if (removed > 0)
		gd_log(m->ctx, GD_LOG_INFO, "maildir: removed %d stale "
		    "file(s) from %s/tmp", removed, dir);
}

/* next_id - the <n> of the next file name, unique in the process. */
static unsigned long
next_id(void)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static unsigned long counter;
	unsigned long n;

	pthread_mutex_lock(&mu);
	n = ++counter;
	pthread_mutex_unlock(&mu);
	return n;
}

static void *
md_create(struct gd_ctx *ctx, void *user)
{
	struct md *m = calloc(1, sizeof(*m));
	const char *h = ctx != NULL ? gd_ctx_hostname(ctx) : "localhost";
	size_t o = 0;

	(void)user;
	if (m == NULL)
		return NULL;
	m->sh = ctx != NULL ? gd_ctx_share(ctx, MD_SHARED_KEY, shared_make,
	    shared_free) : shared_make();
	if (m->sh == NULL) {
		free(m);
		return NULL;
	}
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

/* sync_parent - fsync the directory that holds path (a directory just
 * made in it): 0 or -1 with errno set. */
static int
sync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	int rc;

	if (slash == NULL)
		rc = fsync_dir(".");
	else if (slash == path)
		rc = fsync_dir("/");
	else {
		*slash = '\0';
		rc = fsync_dir(path);
		*slash = '/';
	}
	errno = rc;
	return rc != 0 ? -1 : 0;
}

/*
 * make_maildir - mkdir -p dir (new parents 0755), then dir, tmp, new, cur
 * with mode 0700, each chowned when uid/gid is not -1.  What it creates is
 * made durable (the parent of each new directory fsync'd) before a message
 * is renamed into it.  0, or -1 with "cannot create <path>: <reason>" in
 * why.
 */
static int
make_maildir(const char *dir, long uid, long gid, char *why, size_t wlen)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char path[MD_PATH_MAX], *p;
	struct stat st;
	size_t i;
	int n, created, made = 0;	/* made: a sub-directory of dir */

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
			if (mkdir(path, 0755) == 0) {
				if (sync_parent(path) != 0)
					goto fail;
			} else if (errno != EEXIST)
				goto fail;
			*p = '/';
		}
		if (mkdir(path, 0700) == 0)
			created = 1;
		else if (errno != EEXIST || stat(path, &st) != 0)
			goto fail;
		else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		} else
			created = 0;
		if ((uid != -1 || gid != -1) &&
		    chown(path, (uid_t)uid, (gid_t)gid) != 0)
			goto fail;
		/* dir's entry now; the sub-directories' with one fsync of
		 * dir at the end */
		if (created && i == 0 && sync_parent(path) != 0)
			goto fail;
		made |= created && i > 0;
	}
	if (made && (errno = fsync_dir(dir)) != 0) {
		gd_strlcpy(path, dir, sizeof(path));
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
		if (sweep_due(m->sh, dir, time(NULL)))
			sweep_tmp(m, dir, time(NULL));
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

/* lower - src lower-cased into dst (size bytes, cut). */
static void
lower(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (char)gd_tolower((unsigned char)src[i]);
	dst[i] = '\0';
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
	const char *h = gd_env_delivery_header(e), *p;
	uint64_t size = strlen(h) + gd_env_body_size(e), off = 0;
	long long ns;
	ssize_t n = 0;
	int fd, n1, n2, n3, n4, tries = 0, rc;

	do {	/* a name taken in tmp/ (another daemon?): take the next */
		/* when a test pins the clock, only <n> tells names apart,
		 * which is what it wants to check */
		ns = gd_ctx_time_ns(m->ctx);
		n1 = snprintf(name, sizeof(name), "%lld.M%ldP%ld_%lu.%s",
		    ns / 1000000000LL, (long)(ns % 1000000000LL / 1000),
		    (long)getpid(), next_id(), m->host);
		n2 = snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
		n3 = snprintf(fin, sizeof(fin), "%s/new/%s,S=%llu", dir, name,
		    (unsigned long long)size);
		n4 = snprintf(nd, sizeof(nd), "%s/new", dir);
		if (n1 < 0 || n2 < 0 || n3 < 0 || n4 < 0 ||
		    (size_t)n1 >= sizeof(name) || (size_t)n2 >= sizeof(tmp) ||
		    (size_t)n3 >= sizeof(fin) || (size_t)n4 >= sizeof(nd)) {
			snprintf(what, wlen, "path too long: %s", dir);
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	} while (fd < 0 && errno == EEXIST && ++tries < 3);
	if (fd < 0) {
		snprintf(what, wlen, "open %s: %s", tmp, strerror(errno));
		return -1;
	}
	rc = write_all(fd, h, strlen(h));
	while (rc == 0 && (n = gd_env_body_window(e, off, &p)) > 0) {
		rc = write_all(fd, p, (size_t)n);
		off += (uint64_t)n;
	}
	if (rc != 0 || n < 0 || fchmod(fd, 0600) != 0 ||
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
	/* make the rename durable (group commit with the other workers);
	 * the file stays: it may be on disk, a retry at worst duplicates */
	if ((rc = sync_new(m->sh, nd)) != 0) {
		snprintf(what, wlen, "fsync %s: %s", nd, strerror(rc));
		return -1;
	}
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
	char user[MD_LOCAL_MAX + 1], dir[MD_PATH_MAX], d2[MD_PATH_MAX];
	char u2[MD_LOCAL_MAX + 1], why[MD_PATH_MAX + 64];
	size_t i, j, nrcpt = gd_env_rcpt_count(e);
	long uid, gid, uid2, gid2;
	int kind, dup;

	for (i = 0; i < nrcpt; i++) {
		lower(user, gd_env_rcpt_local(e, i), sizeof(user));
		if ((kind = lookup(m, user, dir, sizeof(dir), &uid, &gid)) == 0)
			continue;	/* no mailbox: skipped */
		for (j = 0, dup = 0; j < i && !dup; j++) {
			lower(u2, gd_env_rcpt_local(e, j), sizeof(u2));
			dup = lookup(m, u2, d2, sizeof(d2), &uid2, &gid2) != 0 &&
			    strcmp(d2, dir) == 0;
		}
		if (dup)
			continue;	/* this mailbox already has its copy */
		if (sweep_due(m->sh, dir, time(NULL)))
			sweep_tmp(m, dir, time(NULL));
		if ((kind == 2 && make_maildir(dir, uid, gid, why,
		    sizeof(why)) != 0) ||
		    deliver(m, e, dir, uid, gid, why, sizeof(why)) != 0) {
			gd_log(m->ctx, GD_LOG_ERROR, "maildir: %s", why);
			gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 "
			    "Error: could not save email for [%s]", user);
			gd_result_detail(res, "maildir: %.200s", why);
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
	char user[MD_LOCAL_MAX + 1], dir[MD_PATH_MAX];
	size_t nrcpt = gd_env_rcpt_count(e);
	struct stat st;
	long uid, gid;
	int kind;

	if (task == GD_TASK_SAVE) {
		md_save(m, e, next, res);
		return;
	}
	if (task != GD_TASK_VALIDATE || nrcpt == 0) {
		gd_next(next, e, task, res);
		return;
	}
	lower(user, gd_env_rcpt_local(e, nrcpt - 1), sizeof(user));
	kind = lookup(m, user, dir, sizeof(dir), &uid, &gid);
	if (kind == 0)
		gd_result_set(res, GD_STATUS_PERMFAIL, "no such user");
	else if (kind == 1 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
		gd_result_set(res, GD_STATUS_TEMPFAIL, "storage not available");
	else
		gd_next(next, e, task, res);
}

static void
md_destroy(void *inst)
{
	struct md *m = inst;

	if (m == NULL)
		return;
	md_clear(m);
	if (m->ctx != NULL)
		gd_ctx_unshare(m->ctx, MD_SHARED_KEY);
	else
		shared_free(m->sh);
	free(m);
}

static const char *const md_keys[] = {
	"maildir_path", "maildir_user_map", NULL
};

const struct gd_processor p_maildir_processor = {
	.name = "MailDir",
	.create = md_create,
	.init = md_init,
	.process = md_process,
	.destroy = md_destroy,
	.keys = md_keys
};
