/*
 * guerrilla.c - the daemon handle (guerrilla.h): configuration, logs, the
 * backend and the servers of one daemon, the pid file, start and graceful
 * shutdown.
 *
 * Everything belongs to the handle (ARCH-01): two daemons in one process
 * share nothing.  The functions here run on the caller's (control) thread;
 * the I/O loop and the workers run on threads the handle owns.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "server.h"

#ifndef GD_VERSION
#define GD_VERSION	"unknown"
#endif
#ifndef GD_BUILD_TIME
#define GD_BUILD_TIME	"unknown"
#endif

#define GD_WATCHDOG_MS	60000L	/* OPS-09 */
#define GD_FD_MARGIN	64	/* listeners, workers, logs, pipes (OPS-06) */

struct gd_sub {
	char		*event;
	gd_event_fn	fn;
	void		*user;
};

struct gd_daemon {
	struct gd_sub		*subs;
	size_t			nsubs;
	gd_log_hook_fn		hook;
	void			*hook_user;
	int			hook_also_files;
	struct be_registry	reg;
	struct cfg_app		*cfg;		/* shared (cfg_share); NULL = none */
	int			verbose;
	char			*pid_override;	/* -p */
	char			*pid_written;	/* the file we wrote */
	struct logger		*log;
	struct gd_ctx		ctx;
	struct backend		*be;
	struct srv		*srv;
	int			running;
};

const char *
gd_version(void)
{
	return GD_VERSION;
}

/* errs_dup - the "\n"-joined error list for the caller. */
static void
errs_set(char **errs, const char *text)
{
	if (errs != NULL)
		*errs = gd_strdup(text != NULL ? text : "unknown error");
}

struct gd_daemon *
gd_new(void)
{
	struct gd_daemon *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if (be_registry_init(&d->reg) != 0) {
		be_registry_free(&d->reg);
		free(d);
		return NULL;
	}
	return d;
}

void
gd_set_log_hook(struct gd_daemon *d, gd_log_hook_fn fn, void *user,
    int also_files)
{
	d->hook = fn;
	d->hook_user = user;
	d->hook_also_files = also_files;
	if (d->log != NULL)
		log_set_hook(d->log, fn, user, also_files);
}

int
gd_subscribe(struct gd_daemon *d, const char *event, gd_event_fn fn,
    void *user)
{
	struct gd_sub *ns;
	char *e;

	if ((e = gd_strdup(event)) == NULL)
		return -1;
	if ((ns = gd_reallocarray(d->subs, d->nsubs + 1, sizeof(*ns))) == NULL) {
		free(e);
		return -1;
	}
	d->subs = ns;
	ns[d->nsubs].event = e;
	ns[d->nsubs].fn = fn;
	ns[d->nsubs].user = user;
	d->nsubs++;
	return 0;
}

int
gd_unsubscribe(struct gd_daemon *d, const char *event, gd_event_fn fn,
    void *user)
{
	size_t i;

	for (i = 0; i < d->nsubs; i++) {
		struct gd_sub *s = &d->subs[i];
		if (s->fn == fn && s->user == user &&
		    strcmp(s->event, event) == 0) {
			free(s->event);
			memmove(s, s + 1, (d->nsubs - i - 1) * sizeof(*s));
			d->nsubs--;
			return 0;
		}
	}
	return -1;
}

/* gd_publish - a callback may unsubscribe itself: walk by index and
 * re-check the bound each time. */
void
gd_publish(struct gd_daemon *d, const char *event, const void *payload)
{
	size_t i;

	for (i = 0; i < d->nsubs; i++) {
		struct gd_sub s = d->subs[i];
		if (strcmp(s.event, event) != 0)
			continue;
		s.fn(d, event, payload, s.user);
		/* it removed itself: the next one moved to this index */
		if (i >= d->nsubs || d->subs[i].event != s.event)
			i--;	/* wraps to SIZE_MAX for 0: i++ makes it 0 */
	}
}

/* publish_app / publish_server - an event of the daemon's own, with its
 * public payload (guerrilla.h) made from the config. */
static void
publish_app(struct gd_daemon *d, const char *ev, const struct cfg_app *a)
{
	struct gd_config_event p;

	p.log_file = a->log_file;
	p.log_level = a->log_level;
	p.pid_file = a->pid_file != NULL ? a->pid_file : "";
	p.allowed_hosts = (const char *const *)a->allowed_hosts;
	p.nallowed_hosts = a->nallowed_hosts;
	p.nservers = a->nservers;
	gd_publish(d, ev, &p);
}

static void
publish_server(struct gd_daemon *d, const char *ev,
    const struct cfg_server *s)
{
	struct gd_server_event p;

	p.listen_interface = s->listen_interface;
	p.host_name = s->host_name;
	p.is_enabled = s->is_enabled;
	p.max_size = s->max_size;
	p.timeout = s->timeout;
	p.max_clients = s->max_clients;
	p.log_file = s->log_file;
	p.start_tls_on = s->tls.start_tls_on;
	p.tls_always_on = s->tls.tls_always_on;
	gd_publish(d, ev, &p);
}

int
gd_add_processor(struct gd_daemon *d, const struct gd_processor *p)
{
	return be_registry_add(&d->reg, p);
}

static int
adopt(struct gd_daemon *d, int rc, struct cfg_app *c, struct cfg_errors *e,
    char **errs)
{
	struct cfg_app *sc;

	if (rc != 0) {
		errs_set(errs, e->text);
		cfg_errors_free(e);
		return -1;
	}
	if ((sc = cfg_share(c)) == NULL) {
		cfg_free(c);
		errs_set(errs, "out of memory");
		return -1;
	}
	cfg_drop(d->cfg);
	d->cfg = sc;
	return 0;
}

static int reload(struct gd_daemon *d, int rc, struct cfg_app *c,
    struct cfg_errors *e, char **errs);

/* from_file / from_string - parse, then adopt (not running) or hot-reload
 * (running, when reload_ok; API-02 vs API-05). */
static int
from_file(struct gd_daemon *d, const char *path, int reload_ok, char **errs)
{
	struct cfg_app c;
	struct cfg_errors e;

	if (d->running && !reload_ok) {
		errs_set(errs, "the daemon is running: use "
		    "gd_reload_config_file");
		return -1;
	}
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	return reload(d, cfg_load_file(path, &c, &e), &c, &e, errs);
}

static int
from_string(struct gd_daemon *d, const char *json, size_t len,
    int reload_ok, char **errs)
{
	struct cfg_app c;
	struct cfg_errors e;

	if (d->running && !reload_ok) {
		errs_set(errs, "the daemon is running: use "
		    "gd_reload_config_string");
		return -1;
	}
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	return reload(d, cfg_load_string(json, len, "config", &c, &e), &c, &e,
	    errs);
}

int
gd_load_config_file(struct gd_daemon *d, const char *path, char **errs)
{
	return from_file(d, path, 0, errs);
}

int
gd_load_config_string(struct gd_daemon *d, const char *json, size_t len,
    char **errs)
{
	return from_string(d, json, len, 0, errs);
}

void
gd_set_verbose(struct gd_daemon *d, int on)
{
	d->verbose = on;
}

void
gd_set_pid_file(struct gd_daemon *d, const char *path)
{
	free(d->pid_override);
	d->pid_override = path != NULL ? gd_strdup(path) : NULL;
}

const char *
gd_pid_file(const struct gd_daemon *d)
{
	if (d->pid_override != NULL)
		return d->pid_override;
	return d->cfg != NULL && d->cfg->pid_file != NULL ? d->cfg->pid_file :
	    "";
}

int
gd_reload_tls(struct gd_daemon *d)
{
	return d->srv != NULL ? srv_tls_reload(d->srv) : 0;
}

int
gd_reopen_logs(struct gd_daemon *d)
{
	char err[512];

	size_t i;
	int rc = 0;

	if (d->cfg == NULL)
		return 0;
	publish_app(d, GD_EV_REOPEN_LOG_FILE, d->cfg);
	if (log_reopen(d->log, err, sizeof(err)) != 0) {
		log_err(d->log, "%s", err);
		rc = -1;
	}
	for (i = 0; i < d->cfg->nservers; i++)
		if (d->cfg->servers[i].is_enabled)
			publish_server(d, GD_EV_SERVER_REOPEN_LOG_FILE,
			    &d->cfg->servers[i]);
	if (d->srv != NULL && srv_reopen_logs(d->srv) != 0)
		rc = -1;
	log_info(d->log, "log files reopened");
	return rc;
}

void
gd_log_daemon(struct gd_daemon *d, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(d->log, (enum log_level)level, fmt, ap);
	va_end(ap);
}

/* check_fd_limit - OPS-06 [DEV]: enabled servers' max_clients plus a
 * margin against the soft limit, raising it toward the hard limit. */
static int
check_fd_limit(struct gd_daemon *d, const struct cfg_app *cfg, char *err,
    size_t errlen)
{
	struct rlimit rl;
	unsigned long long need = GD_FD_MARGIN;
	size_t i;

	for (i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i].is_enabled)
			need += (unsigned long long)cfg->servers[i].max_clients;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		rlim_t want = (rl.rlim_max == RLIM_INFINITY ||
		    need < rl.rlim_max) ? (rlim_t)need : rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_info(d->log, "raised the open file limit to %llu",
			    (unsigned long long)want);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		snprintf(err, errlen, "Combined max clients for all servers "
		    "(%llu) is greater than open file limit (%llu). Please "
		    "increase your open file limit or decrease max clients.",
		    need - GD_FD_MARGIN, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* write_pid - OPS-07: failure is logged, not fatal. */
static void
write_pid(struct gd_daemon *d)
{
	const char *path = d->pid_override != NULL ? d->pid_override :
	    d->cfg->pid_file;
	char buf[32];
	int fd, n;

	if (path == NULL || path[0] == '\0')
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) != 0) {
		log_err(d->log, "error while writing pidFile (%s): %s", path,
		    strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return;
	}
	d->pid_written = gd_strdup(path);
}

/* remove_pid - only when the file still names this process. */
static void
remove_pid(struct gd_daemon *d)
{
	char buf[32], want[32];
	ssize_t n;
	int fd;

	if (d->pid_written == NULL)
		return;
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	if ((fd = open(d->pid_written, O_RDONLY)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		(void)close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if (strcmp(buf, want) == 0)
				(void)unlink(d->pid_written);
		}
	}
	free(d->pid_written);
	d->pid_written = NULL;
}

int
gd_start(struct gd_daemon *d, char **errs)
{
	struct cfg_errors ce;
	char err[4096];
	int level;

	if (d->running)
		return 0;
	memset(&ce, 0, sizeof(ce));
	if (d->cfg == NULL) {
		struct cfg_app c;
		memset(&c, 0, sizeof(c));
		if (adopt(d, cfg_default(&c, &ce), &c, &ce, errs) != 0)
			return -1;
	}
	level = d->verbose ? LOGL_DEBUG : d->cfg->log_level;
	if (d->log == NULL &&
	    (d->log = log_open(d->cfg->log_file, (enum log_level)level, err,
	    sizeof(err))) == NULL)
		goto fail;
	log_set_level(d->log, (enum log_level)level);
	if (d->hook != NULL)
		log_set_hook(d->log, d->hook, d->hook_user, d->hook_also_files);
	log_info(d->log, "guerrillad %s", GD_VERSION);
	log_debug(d->log, "build time %s", GD_BUILD_TIME);
	d->ctx.log = d->log;
	gd_hostname(d->ctx.hostname, sizeof(d->ctx.hostname));
	if (check_fd_limit(d, d->cfg, err, sizeof(err)) != 0)
		goto fail;
	/* Bind first, write the pid file, then drop privileges (CFG-07a),
	 * so that processors' init runs as the unprivileged user. */
	if ((d->srv = srv_new(d->cfg, d->log, gd_version(), err,
	    sizeof(err))) == NULL) {
		log_err(d->log, "Error(s) when creating new server(s)");
		goto fail;
	}
	write_pid(d);
	if (gd_drop_privileges(d->cfg->user, d->cfg->group, err,
	    sizeof(err)) != 0)
		goto fail;
	if ((d->be = be_new(&d->ctx, &d->reg, d->cfg->backend_config,
	    srv_nloops(d->srv), err, sizeof(err))) == NULL)
		goto fail;
	if (be_start(d->be, err, sizeof(err)) != 0)
		goto fail;
	if (srv_start(d->srv, d->be, err, sizeof(err)) != 0)
		goto fail;
	d->running = 1;
	return 0;
fail:
	log_err(d->log, "%s", err);
	errs_set(errs, err);
	remove_pid(d);
	srv_free(d->srv);
	d->srv = NULL;
	if (d->be != NULL) {
		char e2[512];
		(void)be_shutdown(d->be, e2, sizeof(e2));
		be_free(d->be);
		d->be = NULL;
	}
	return -1;
}

/* ---- hot reload (SPEC 8.4, OPS-08, OPS-12..15) ---- */

/* find_server - the server of c listening on iface, or NULL. */
static const struct cfg_server *
find_server(const struct cfg_app *c, const char *iface)
{
	size_t i;

	for (i = 0; i < c->nservers; i++)
		if (strcmp(c->servers[i].listen_interface, iface) == 0)
			return &c->servers[i];
	return NULL;
}

/* app_equal - nothing changed at all (config_change:new_config). */
static int
app_equal(const struct cfg_app *a, const struct cfg_app *b)
{
	size_t i;

	if (a->nservers != b->nservers ||
	    !cfg_strv_equal(a->allowed_hosts, a->nallowed_hosts,
	    b->allowed_hosts, b->nallowed_hosts) ||
	    !cfg_str_equal(a->pid_file, b->pid_file) ||
	    !cfg_str_equal(a->log_file, b->log_file) ||
	    a->log_level != b->log_level || a->io_threads != b->io_threads ||
	    !cfg_str_equal(a->user, b->user) ||
	    !cfg_str_equal(a->group, b->group) ||
	    !json_equal(a->backend_config, b->backend_config))
		return 0;
	for (i = 0; i < a->nservers; i++)
		if (!cfg_server_equal(&a->servers[i], &b->servers[i]) ||
		    !cfg_tls_equal(&a->servers[i].tls, &b->servers[i].tls))
			return 0;
	return 1;
}

/* publish_changes - OPS-15, in go-guerrilla's order: app events, then
 * each server of the new config (in config order), then the removed. */
static void
publish_changes(struct gd_daemon *d, const struct cfg_app *o,
    const struct cfg_app *n)
{
	size_t i;

	if (!json_equal(o->backend_config, n->backend_config))
		publish_app(d, GD_EV_BACKEND_CONFIG, n);
	if (!app_equal(o, n))
		publish_app(d, GD_EV_NEW_CONFIG, n);
	if (!cfg_strv_equal(o->allowed_hosts, o->nallowed_hosts,
	    n->allowed_hosts, n->nallowed_hosts))
		publish_app(d, GD_EV_ALLOWED_HOSTS, n);
	if (!cfg_str_equal(o->pid_file, n->pid_file))
		publish_app(d, GD_EV_PID_FILE, n);
	if (!cfg_str_equal(o->log_file, n->log_file))
		publish_app(d, GD_EV_LOG_FILE, n);
	if (o->log_level != n->log_level)
		publish_app(d, GD_EV_LOG_LEVEL, n);
	for (i = 0; i < n->nservers; i++) {
		const struct cfg_server *ns = &n->servers[i];
		const struct cfg_server *os = find_server(o,
		    ns->listen_interface);
		int tls_same;

		if (os == NULL) {
			publish_server(d, GD_EV_SERVER_NEW, ns);
			continue;
		}
		tls_same = cfg_tls_equal(&os->tls, &ns->tls);
		if (!tls_same || !cfg_server_equal(os, ns))
			publish_server(d, GD_EV_SERVER_UPDATE, ns);
		if (os->is_enabled != ns->is_enabled) {
			publish_server(d, ns->is_enabled ? GD_EV_SERVER_START :
			    GD_EV_SERVER_STOP, ns);
			continue;
		}
		publish_server(d, cfg_str_equal(os->log_file, ns->log_file) ?
		    GD_EV_SERVER_REOPEN_LOG_FILE : GD_EV_SERVER_NEW_LOG_FILE,
		    ns);
		if (os->timeout != ns->timeout)
			publish_server(d, GD_EV_SERVER_TIMEOUT, ns);
		if (os->max_clients != ns->max_clients)
			publish_server(d, GD_EV_SERVER_MAX_CLIENTS, ns);
		if (!tls_same)
			publish_server(d, GD_EV_SERVER_TLS_CONFIG, ns);
	}
	for (i = 0; i < o->nservers; i++)
		if (find_server(n, o->servers[i].listen_interface) == NULL)
			publish_server(d, GD_EV_SERVER_REMOVE, &o->servers[i]);
}

/* reload_fail - OPS-08: log every error, keep running unchanged. */
static int
reload_fail(struct gd_daemon *d, const char *errtext, char **errs)
{
	const char *p = errtext;

	log_err(d->log, "Could not reload config");
	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
		log_err(d->log, "%.*s", len, p);
		p = nl != NULL ? nl + 1 : NULL;
	}
	errs_set(errs, errtext);
	return -1;
}

/* reload - apply a freshly loaded config to the running daemon: prepare
 * everything that can fail (backend, main log, listeners, TLS), then
 * switch, drain the old backend, and publish the events. */
static int
reload(struct gd_daemon *d, int rc, struct cfg_app *c, struct cfg_errors *e,
    char **errs)
{
	struct cfg_app *nc, *oc = d->cfg;
	struct backend *nb = NULL, *ob = d->be;
	char err[4096];
	int level, log_moved = 0, be_changed;

	if (!d->running)
		return adopt(d, rc, c, e, errs);
	if (rc != 0) {
		rc = reload_fail(d, e->text, errs);
		cfg_errors_free(e);
		return rc;
	}
	if ((nc = cfg_share(c)) == NULL) {
		cfg_free(c);
		return reload_fail(d, "out of memory", errs);
	}
	if (nc->io_threads != oc->io_threads ||
	    !cfg_str_equal(nc->user, oc->user) ||
	    !cfg_str_equal(nc->group, oc->group))
		log_warn(d->log, "io_threads, user and group changes take "
		    "effect at the next start");
	if (check_fd_limit(d, nc, err, sizeof(err)) != 0)
		goto fail;
	be_changed = !json_equal(oc->backend_config, nc->backend_config);
	if (be_changed) {	/* GAP-19: the new one first */
		if ((nb = be_new(&d->ctx, &d->reg, nc->backend_config,
		    srv_nloops(d->srv), err, sizeof(err))) == NULL)
			goto fail;
		if (be_start(nb, err, sizeof(err)) != 0)
			goto fail;
	}
	if (strcmp(nc->log_file, oc->log_file) != 0) {
		if (log_retarget(d->log, nc->log_file, err, sizeof(err)) != 0)
			goto fail;
		log_moved = 1;
	}
	level = d->verbose ? LOGL_DEBUG : nc->log_level;
	if (srv_reload(d->srv, nc, nb, level, err, sizeof(err)) != 0)
		goto fail;
	log_set_level(d->log, (enum log_level)level);
	d->cfg = nc;
	if (nb != NULL) {
		/* the old backend finishes what it holds; its results come
		 * home through the loops' done queues */
		char e2[1024];
		d->be = nb;
		if (be_shutdown(ob, e2, sizeof(e2)) != 0)
			log_err(d->log, "old backend shutdown: %s", e2);
		be_free(ob);
	}
	if (d->pid_override == NULL &&
	    !cfg_str_equal(oc->pid_file, nc->pid_file)) {
		remove_pid(d);	/* [DEV] the old file goes */
		write_pid(d);
	}
	publish_changes(d, oc, nc);
	log_info(d->log, "Configuration reloaded");
	cfg_drop(oc);
	return 0;
fail:
	if (log_moved) {
		char e2[512];
		(void)log_retarget(d->log, oc->log_file, e2, sizeof(e2));
	}
	if (nb != NULL) {
		char e2[512];
		(void)be_shutdown(nb, e2, sizeof(e2));
		be_free(nb);
	}
	cfg_drop(nc);
	return reload_fail(d, err, errs);
}

int
gd_reload_config_file(struct gd_daemon *d, const char *path, char **errs)
{
	return from_file(d, path, 1, errs);
}

int
gd_reload_config_string(struct gd_daemon *d, const char *json, size_t len,
    char **errs)
{
	return from_string(d, json, len, 1, errs);
}

/* ---- config from a structure (API-02) ---- */

struct gd_config {
	struct json_value	*root;
};

struct gd_config *
gd_config_new(void)
{
	struct gd_config *c = calloc(1, sizeof(*c));

	if (c != NULL && (c->root = json_new_object()) == NULL) {
		free(c);
		c = NULL;
	}
	return c;
}

void
gd_config_free(struct gd_config *c)
{
	if (c == NULL)
		return;
	json_free(c->root);
	free(c);
}

/* child - member key of object v, or element key (decimal) of array v;
 * created as an object when absent (an index of n appends). */
static struct json_value *
child(struct json_value *v, const char *key, size_t len)
{
	char k[128];
	size_t i, idx = 0;

	if (len == 0 || len >= sizeof(k))
		return NULL;
	memcpy(k, key, len);
	k[len] = '\0';
	if (v->type == JSON_ARRAY) {
		for (i = 0; i < len; i++) {
			if (k[i] < '0' || k[i] > '9' || idx > 100000)
				return NULL;
			idx = idx * 10 + (size_t)(k[i] - '0');
		}
		if (idx < v->u.arr.n)
			return v->u.arr.items[idx];
		if (idx != v->u.arr.n ||
		    json_push(v, json_new_object()) != 0)
			return NULL;
		return v->u.arr.items[idx];
	}
	if (v->type != JSON_OBJECT)
		return NULL;
	if (json_get(v, k) == NULL) {
		/* "servers" and list keys hold arrays; the rest objects */
		int arr = strcmp(k, "servers") == 0;
		if (json_set(v, k, arr ? json_new_array() :
		    json_new_object()) != 0)
			return NULL;
	}
	return (struct json_value *)(uintptr_t)json_get(v, k);
}

/* put - set (or with append, push onto the array at) path to val, which
 * it owns. */
static int
put(struct gd_config *c, const char *path, struct json_value *val,
    int append)
{
	struct json_value *v;
	const char *p = path, *dot;

	if (c == NULL || path == NULL || val == NULL)
		goto fail;
	v = c->root;
	while ((dot = strchr(p, '.')) != NULL) {
		if ((v = child(v, p, (size_t)(dot - p))) == NULL)
			goto fail;
		p = dot + 1;
	}
	if (append) {
		const struct json_value *a;
		if (v->type != JSON_OBJECT)
			goto fail;
		if ((a = json_get(v, p)) == NULL || a->type != JSON_ARRAY) {
			if (json_set(v, p, json_new_array()) != 0)
				return -1;
			a = json_get(v, p);
		}
		return json_push((struct json_value *)(uintptr_t)a, val);
	}
	if (v->type == JSON_OBJECT)
		return json_set(v, p, val);
	if (v->type == JSON_ARRAY) {	/* "list.N": replace or append */
		char *end;
		unsigned long idx = strtoul(p, &end, 10);
		if (*p < '0' || *p > '9' || *end != '\0' ||
		    idx > v->u.arr.n)
			goto fail;
		if (idx == v->u.arr.n)
			return json_push(v, val);
		json_free(v->u.arr.items[idx]);
		v->u.arr.items[idx] = val;
		return 0;
	}
fail:
	json_free(val);
	return -1;
}

int
gd_config_set_str(struct gd_config *c, const char *path, const char *value)
{
	return put(c, path, json_new_string(value != NULL ? value : ""), 0);
}

int
gd_config_set_int(struct gd_config *c, const char *path, long long value)
{
	return put(c, path, json_new_int(value), 0);
}

int
gd_config_set_bool(struct gd_config *c, const char *path, int value)
{
	return put(c, path, json_new_bool(value), 0);
}

int
gd_config_add_str(struct gd_config *c, const char *path, const char *value)
{
	return put(c, path, json_new_string(value != NULL ? value : ""), 1);
}

int
gd_set_config(struct gd_daemon *d, const struct gd_config *c, char **errs)
{
	struct cfg_app a;
	struct cfg_errors e;

	memset(&a, 0, sizeof(a));
	memset(&e, 0, sizeof(e));
	if (c == NULL) {
		errs_set(errs, "no config");
		return -1;
	}
	return reload(d, cfg_load_json(c->root, "config", &a, &e), &a, &e,
	    errs);
}

int
gd_shutdown(struct gd_daemon *d)
{
	char err[1024];
	int rc = 0;

	if (!d->running)
		return 0;
	if (srv_shutdown(d->srv, GD_WATCHDOG_MS) != 0) {
		log_err(d->log, "graceful shutdown timed out");
		return -1;	/* threads still run: the caller exits */
	}
	srv_free(d->srv);
	d->srv = NULL;
	if (be_shutdown(d->be, err, sizeof(err)) != 0) {
		log_err(d->log, "backend shutdown: %s", err);
		rc = -1;
	}
	be_free(d->be);
	d->be = NULL;
	remove_pid(d);
	d->running = 0;
	return rc;
}

void
gd_free(struct gd_daemon *d)
{
	if (d == NULL)
		return;
	if (gd_shutdown(d) != 0 && d->running)
		return;	/* cannot free what live threads still use */
	cfg_drop(d->cfg);
	be_registry_free(&d->reg);
	log_close(d->log);
	while (d->nsubs > 0)
		free(d->subs[--d->nsubs].event);
	free(d->subs);
	free(d->pid_override);
	free(d->pid_written);
	free(d);
}
