/*
 * hoststall - how often this machine's host takes the CPU away unseen.
 *
 *   hoststall [SECONDS]     # default 10
 *
 * A thread that does nothing but read two clocks in a loop: the monotonic
 * clock and its own CPU time. A gap of more than 10 ms between two reads
 * is either a preemption inside the guest (another thread ran: the
 * thread's CPU time stood still) or the hypervisor descheduling the
 * virtual CPU (the guest does not see it, and counts the gap as the
 * thread's CPU time: a "host stall"). The second kind looks, in any
 * program, like a piece of code that burnt 100 ms of CPU; the scale
 * bench prints this probe's count so that its loop-lag and build-step
 * maxima can be read (docs/performance.md, "Host stalls").
 * Takes one core for its duration. Not a test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10.0;
    int64_t m0, c0, end, longest = 0, stalled = 0;
    long stalls = 0, preempts = 0;

    if (secs <= 0 || secs > 3600) {
        fprintf(stderr, "usage: hoststall [SECONDS (0-3600]]\n");
        return 2;
    }
    m0 = now_us(CLOCK_MONOTONIC);
    c0 = now_us(CLOCK_THREAD_CPUTIME_ID);
    end = m0 + (int64_t)(secs * 1e6);
    while (m0 < end) {
        int64_t m = now_us(CLOCK_MONOTONIC);
        int64_t c = now_us(CLOCK_THREAD_CPUTIME_ID);

        if (m - m0 > 10000) {
            /* Our CPU clock ran through the gap: nobody in the guest
             * had the CPU, so the host did. */
            if (c - c0 > (m - m0) * 8 / 10) {
                stalls++;
                stalled += m - m0;
                if (m - m0 > longest)
                    longest = m - m0;
            } else {
                preempts++;
            }
        }
        m0 = m;
        c0 = c;
    }
    printf("host stalls over 10 ms in %.0f s: %ld (longest %.0f ms, %.1f %% "
           "of the time); guest preemptions over 10 ms: %ld\n",
           secs, stalls, (double)longest / 1e3,
           100.0 * (double)stalled / (secs * 1e6), preempts);
    return 0;
}
