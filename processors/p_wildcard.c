/*
 * p_wildcard.c - the Wildcard processor (PROC-17; GG vendor
 * DevelHell/wildcard-processor): on validate, every recipient's domain
 * must match one of the patterns in wildcard_hosts, else error
 * "no such user" (550 5.1.1 at RCPT).
 *
 * Config: wildcard_hosts (string, required): comma-separated patterns,
 * each trimmed; "*" allows all, otherwise an exact name or a glob ('*',
 * '?', '[...]') matched by gd_glob.  [DEV] Matching is case-insensitive
 * (GG compares case-sensitively).  Empty entries are ignored.  Redundant
 * when allowed_hosts wildcards suffice (CFG-06); kept so GG configs load.
 * No I/O.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"
#include "processors/builtins.h"

struct wc {
	char	**pat;	/* trimmed, non-empty */
	size_t	npat;
};

static void *
wc_create(struct gd_ctx *ctx, void *user)
{
	(void)ctx;
	(void)user;
	return calloc(1, sizeof(struct wc));
}

static void
wc_clear(struct wc *w)
{
	size_t i;

	for (i = 0; i < w->npat; i++)
		free(w->pat[i]);
	free(w->pat);
	w->pat = NULL;
	w->npat = 0;
}

static int
wc_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct wc *w = inst;
	const char *s, *b, *e;
	char **np;

	if (gd_config_str(bcfg, "wildcard_hosts", 1, &s, err, errlen) < 0)
		return -1;
	wc_clear(w);
	while (*s != '\0') {
		b = s;
		if ((e = strchr(s, ',')) == NULL)
			e = s + strlen(s);
		s = *e == ',' ? e + 1 : e;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			continue;
		np = gd_reallocarray(w->pat, w->npat + 1, sizeof(*np));
		if (np == NULL)
			goto nomem;
		w->pat = np;
		if ((np[w->npat] = gd_memdup(b, (size_t)(e - b))) == NULL)
			goto nomem;
		w->npat++;
	}
	return 0;
nomem:
	wc_clear(w);
	snprintf(err, errlen, "wildcard: out of memory");
	return -1;
}

static int
wc_nonblocking(const void *inst)
{
	(void)inst;
	return 1;
}

/* wc_allowed - domain matches one pattern (case-insensitively). */
static int
wc_allowed(const struct wc *w, const char *domain)
{
	size_t i;

	for (i = 0; i < w->npat; i++) {
		const char *p = w->pat[i];

		if (strcmp(p, "*") == 0 || gd_strcasecmp(p, domain) == 0 ||
		    gd_glob(p, domain))
			return 1;
	}
	return 0;
}

static void
wc_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct wc *w = inst;
	size_t i;

	if (task == GD_TASK_VALIDATE) {
		for (i = 0; i < gd_env_rcpt_count(e); i++) {
			if (!wc_allowed(w, gd_env_rcpt_domain(e, i))) {
				gd_result_set(res, GD_STATUS_PERMFAIL,
				    "no such user");
				return;
			}
		}
	}
	gd_next(next, e, task, res);
}

static void
wc_destroy(void *inst)
{
	if (inst != NULL)
		wc_clear(inst);
	free(inst);
}

static const char *const wc_keys[] = { "wildcard_hosts", NULL };

const struct gd_processor p_wildcard_processor = {
	.name = "Wildcard",
	.create = wc_create,
	.init = wc_init,
	.process = wc_process,
	.destroy = wc_destroy,
	.nonblocking = wc_nonblocking,
	.keys = wc_keys
};
