/*
 * embed.c - guerrillad as a library: two independent SMTP daemons in one
 * process, each with its own processor chain, and a processor of our own
 * ("Counter") that logs and counts the messages it sees.
 *
 *   cc -std=c99 -I.. embed.c ../libguerrilla.a -lbearssl -lz -lpthread
 *   ./embed PORT_A PORT_B MAILDIR
 *
 * Daemon A (127.0.0.1:PORT_A) runs "HeadersParser|Counter"; daemon B
 * (127.0.0.1:PORT_B) runs "HeadersParser|Hasher|Header|Counter|MailDir"
 * and stores into MAILDIR/<user>/.  SIGTERM or SIGINT shuts both down
 * gracefully and prints how many messages each Counter saw.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guerrilla.h"

/* One per daemon, shared by that daemon's Counter instances (one per
 * worker), hence the lock. */
struct counter {
	const char	*name;
	pthread_mutex_t	mu;	/* protects n */
	unsigned long	n;
};

struct counter_inst {
	struct counter	*c;
	struct gd_ctx	*ctx;
};

static void *
counter_create(struct gd_ctx *ctx, void *user)
{
	struct counter_inst *ci = malloc(sizeof(*ci));

	if (ci != NULL) {
		ci->c = user;
		ci->ctx = ctx;
	}
	return ci;
}

static void
counter_process(void *inst, struct gd_envelope *e, enum gd_task task,
    struct gd_next *next, struct gd_result *res)
{
	struct counter_inst *ci = inst;
	char from[320];
	unsigned long n;

	if (task == GD_TASK_SAVE) {
		pthread_mutex_lock(&ci->c->mu);
		n = ++ci->c->n;
		pthread_mutex_unlock(&ci->c->mu);
		gd_env_from_print(e, from, sizeof(from));
		gd_log(ci->ctx, GD_LOG_INFO, "counter %s: message %lu from "
		    "<%s> via %s, subject \"%s\"", ci->c->name, n, from,
		    gd_env_remote_ip(e), gd_env_subject(e) ?
		    gd_env_subject(e) : "");
	}
	gd_next(next, e, task, res);	/* continue the chain */
}

static void
counter_destroy(void *inst)
{
	free(inst);
}

static struct gd_daemon *
start(const char *json, struct counter *c, const char *label)
{
	struct gd_processor p = {
		.name = "Counter",
		.create = counter_create,
		.process = counter_process,
		.destroy = counter_destroy
	};
	struct gd_daemon *d = gd_new();
	char *errs = NULL;

	p.user = c;
	if (d == NULL || gd_add_processor(d, &p) != 0 ||
	    gd_load_config_string(d, json, strlen(json), &errs) != 0 ||
	    gd_start(d, &errs) != 0) {
		fprintf(stderr, "embed: daemon %s: %s\n", label,
		    errs != NULL ? errs : "out of memory");
		free(errs);
		gd_free(d);
		return NULL;
	}
	return d;
}

int
main(int argc, char **argv)
{
	static const char tmpl[] =
	    "{ \"log_file\": \"stderr\", \"allowed_hosts\": [\"example.com\"],"
	    "  \"servers\": [ { \"is_enabled\": true, \"host_name\": \"%s\","
	    "    \"listen_interface\": \"127.0.0.1:%s\" } ],"
	    "  \"backend_config\": { \"save_process\": \"%s\","
	    "    \"save_workers_size\": 2, \"primary_mail_host\": \"%s\","
	    "    \"maildir_path\": \"%s/[user]\","
	    "    \"maildir_user_map\": \"*=-1:-1\" } }";
	struct counter ca = { "A", PTHREAD_MUTEX_INITIALIZER, 0 };
	struct counter cb = { "B", PTHREAD_MUTEX_INITIALIZER, 0 };
	struct gd_daemon *a, *b;
	char ja[1024], jb[1024];
	sigset_t set;
	int sig, rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: embed PORT_A PORT_B MAILDIR\n");
		return 2;
	}
	if (snprintf(ja, sizeof(ja), tmpl, "a.test", argv[1],
	    "HeadersParser|Counter", "a.test", argv[3]) >= (int)sizeof(ja) ||
	    snprintf(jb, sizeof(jb), tmpl, "b.test", argv[2],
	    "HeadersParser|Hasher|Header|Counter|MailDir", "b.test",
	    argv[3]) >= (int)sizeof(jb)) {
		fprintf(stderr, "embed: arguments too long\n");
		return 2;
	}
	/* Signals go to this thread only: block them before the daemons
	 * start their threads, then wait for them here. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((a = start(ja, &ca, "A")) == NULL)
		return 1;
	if ((b = start(jb, &cb, "B")) == NULL) {
		gd_free(a);
		return 1;
	}
	printf("embed: serving A on %s and B on %s\n", argv[1], argv[2]);
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	if (gd_shutdown(a) != 0 || gd_shutdown(b) != 0)
		rc = 1;
	printf("embed: A counted %lu, B counted %lu\n", ca.n, cb.n);
	gd_free(a);
	gd_free(b);
	return rc;
}
