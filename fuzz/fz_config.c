/*
 * fz_config.c - libFuzzer target for cfg_load_string: any input either
 * loads (then every server has a host name and a log file, and the whole
 * config frees cleanly) or fails with at least one collected error.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"

#define FZ_ASSERT(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_app app;
	struct cfg_errors errs;
	size_t i;

	memset(&app, 0, sizeof(app));
	memset(&errs, 0, sizeof(errs));
	if (cfg_load_string((const char *)data, size, "fuzz", &app,
	    &errs) == 0) {
		FZ_ASSERT(errs.count == 0);
		FZ_ASSERT(app.log_file != NULL);
		for (i = 0; i < app.nservers; i++) {
			FZ_ASSERT(app.servers[i].host_name != NULL);
			FZ_ASSERT(app.servers[i].log_file != NULL);
			(void)cfg_host_allowed(app.allowed_hosts,
			    app.nallowed_hosts, app.servers[i].host_name, 0);
		}
		cfg_free(&app);
	} else {
		FZ_ASSERT(errs.count > 0 && errs.text != NULL);
		FZ_ASSERT(strlen(errs.text) == errs.len);
	}
	cfg_errors_free(&errs);
	return 0;
}
