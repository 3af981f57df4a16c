/* t_server - the accept policy of several I/O loops (srv_spill, server.h):
 * loop 0 takes new connections alone until it is busy for 90% of a
 * window; then every loop does, until all of them together are busy for
 * at most half of one loop's time, and not within a second of starting.
 * The thresholds are the documented ones, checked at and beside each
 * edge, and a made-up load curve shows that the state has hysteresis (no
 * flapping between the thresholds). */
#include <stdio.h>
#include <string.h>

#include "server.h"
#include "t.h"

#define LONG	10000000	/* us in the state: past the hold time */

static void
spill_starts_at_90_percent_of_loop_0(void)
{
	CHECK(srv_spill(0, 0, 0, 0) == 0);
	CHECK(srv_spill(0, 899, 899, LONG) == 0);
	CHECK(srv_spill(0, 900, 900, LONG) == 1);
	CHECK(srv_spill(0, 1000, 1000, LONG) == 1);
	/* the other loops' old work does not start it: only loop 0's */
	CHECK(srv_spill(0, 300, 1900, LONG) == 0);
}

static void
spill_ends_when_all_fit_in_half_a_loop(void)
{
	CHECK(srv_spill(1, 1000, 2000, LONG) == 1);
	CHECK(srv_spill(1, 100, 501, LONG) == 1);	/* loop 0 idle, others not */
	CHECK(srv_spill(1, 250, 500, LONG) == 0);
	CHECK(srv_spill(1, 0, 0, LONG) == 0);
	/* but not within a second of starting: the loops that just began
	 * to accept have not reported their share yet */
	CHECK(srv_spill(1, 250, 250, 0) == 1);
	CHECK(srv_spill(1, 250, 250, 999999) == 1);
	CHECK(srv_spill(1, 250, 250, 1000000) == 0);
}

static void
load_between_thresholds_keeps_the_state(void)
{
	/* loop 0 alone at 60%: under the start threshold, above the end */
	static const int load[] = { 600, 950, 600, 700, 600, 400, 600, 850 };
	static const int want[] = { 0, 1, 1, 1, 1, 0, 0, 0 };
	size_t i;
	int spill = 0;

	for (i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
		/* when spilling, two loops share the load: each half */
		int own = spill ? load[i] / 2 : load[i];
		spill = srv_spill(spill, own, load[i], LONG);
		CHECK(spill == want[i]);
	}
}

int
main(void)
{
	RUN(spill_starts_at_90_percent_of_loop_0);
	RUN(spill_ends_when_all_fit_in_half_a_loop);
	RUN(load_between_thresholds_keeps_the_state);
	return T_DONE();
}
