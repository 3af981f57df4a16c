/*
 * p_redis.c - the Redis processor (PROC-15) over the in-tree RESP2
 * client (stores.c): on save, SETEX <hashes[0]> <redis_expire_seconds> <value>,
 * where value is the "zlib-compressor" bytes when Compressor ran before,
 * else the message text (delivery header + data).  queued id = hashes[0];
 * on success sets value "redis"="redis" and continues the chain.
 *
 * Config: redis_interface ("host:port", "[v6]:port"; required),
 * redis_expire_seconds (int, required, > 0), and the C extensions
 * redis_password (AUTH after connect) and redis_db (SELECT after connect;
 * 0 = leave the default database).
 *
 * One connection per instance (each worker owns its chain: no locks).
 * init connects, and a failure fails init ("redis cannot connect, check
 * your settings: <err>", as GG): a daemon will not start while Redis is
 * down; after start a down, slow or misbehaving Redis never stops it.
 * [DEV] Any error (connect, write, timeout, an error or malformed reply)
 * closes the connection and answers "451 4.3.0 Error: storage not
 * available" (GG: 554 and never reconnects); the next job reconnects.
 * A missing Hasher is a configuration error: 554 + "storage error".
 *
 * The RESP2 client, its timeouts and the reconnect policy live in
 * stores.c (shared with GuerrillaDbRedis).  Runs on a worker: blocking
 * here is expected.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"
#include "processors/builtins.h"
#include "processors/stores.h"

struct rd {
	struct gd_ctx	*ctx;
	struct st_redis	 c;
};

static void *
rd_create(struct gd_ctx *ctx, void *user)
{
	struct rd *r = malloc(sizeof(*r));

	(void)user;
	if (r != NULL) {
		r->ctx = ctx;
		st_redis_init(&r->c);
	}
	return r;
}

static int
rd_init(void *inst, const struct json_value *bcfg, char *err, size_t errlen)
{
	struct rd *r = inst;

	return st_redis_config(&r->c, bcfg, err, errlen);
}

static void
rd_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct rd *r = inst;
	const void *z;
	const char *h, *body, *key;
	size_t zl = 0;
	ssize_t bl;
	int rc;

	if (task != GD_TASK_SAVE) {
		gd_next(next, e, task, res);
		return;
	}
	if (gd_env_hash_count(e) == 0) {
		gd_log(r->ctx, GD_LOG_ERROR, "Redis needs a Hasher() process "
		    "before it");
		gd_result_set(res, GD_STATUS_PERMFAIL, "554 5.5.0 Error:");
		gd_result_detail(res, "storage error");
		return;
	}
	key = gd_env_hash(e, 0);
	(void)gd_env_set_queued_id(e, key);
	if ((z = gd_env_value(e, "zlib-compressor", &zl)) != NULL)
		rc = st_redis_setex(&r->c, key, z, zl, NULL, 0);
	else {
		/* today's body is one window: the whole message */
		h = gd_env_delivery_header(e);
		if ((bl = gd_env_body_window(e, 0, &body)) < 0)
			rc = -1;
		else
			rc = st_redis_setex(&r->c, key, h, strlen(h), body,
			    (size_t)bl);
	}
	if (rc != 0) {
		gd_log(r->ctx, GD_LOG_ERROR, "Redis: SETEX %s failed, "
		    "connection dropped: %s", key, r->c.err);
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: "
		    "storage not available");
		gd_result_detail(res, "storage not available");
		return;
	}
	if (gd_env_set_value(e, "redis", "redis", 5) != 0) {
		gd_result_set(res, GD_STATUS_TEMPFAIL, "451 4.3.0 Error: out "
		    "of memory");
		gd_result_detail(res, "Redis: out of memory");
		return;
	}
	gd_next(next, e, task, res);
}

static int
rd_shutdown(void *inst, char *err, size_t errlen)
{
	struct rd *r = inst;

	(void)err;
	(void)errlen;
	st_redis_close(&r->c);
	return 0;
}

static void
rd_destroy(void *inst)
{
	struct rd *r = inst;

	if (r != NULL)
		st_redis_close(&r->c);
	free(r);
}

static const char *const rd_keys[] = {
	"redis_interface", "redis_expire_seconds", "redis_password",
	"redis_db", NULL
};

const struct gd_processor p_redis_processor = {
	.name = "Redis",
	.create = rd_create,
	.init = rd_init,
	.process = rd_process,
	.shutdown = rd_shutdown,
	.destroy = rd_destroy,
	.keys = rd_keys
};
