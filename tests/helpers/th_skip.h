/*
 * th_skip.h - skips CTest can see. cmocka 1.1's skip() marks a test
 * skipped but the group still returns 0, so a binary whose checks did not
 * run would show as passed. th_skip() counts the skip, and th_exit() turns
 * "nothing failed, something skipped" into TH_SKIP_CODE, which
 * CMakeLists.txt declares as every test's SKIP_RETURN_CODE.
 *
 * Include after <cmocka.h>.
 */
#ifndef TH_SKIP_H
#define TH_SKIP_H

/* The exit status CTest reports as "Skipped" (SKIP_RETURN_CODE). */
#define TH_SKIP_CODE 77

/* Checks left out so far in this process (th_skip, th_skip_note). */
extern int th_skipped;

/* A check that did not run, with the reason, without ending the test. */
void th_skip_note(const char *why);

/* Count, say why, and skip the current cmocka test. */
#define th_skip(why)       \
    do {                   \
        th_skip_note(why); \
        skip();            \
    } while (0)

/*
 * The exit status of a test binary from cmocka_run_group_tests' result
 * rc: failures stay failures (never TH_SKIP_CODE), else TH_SKIP_CODE when
 * anything was skipped, else 0.
 */
int th_exit(int rc);

#endif
