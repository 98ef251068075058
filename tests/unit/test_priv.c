/*
 * test_priv.c - refusing root and dropping to --user.
 *
 * The drop itself cannot be undone, so it runs in a forked child that
 * reports through its exit status. Cases that need root say so and skip
 * when the test runs unprivileged; the unprivileged cases run either way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slotfeed/priv.h"

static int is_root(void)
{
    return getuid() == 0 || geteuid() == 0;
}

static void test_root_without_user_refused(void **state)
{
    struct sf_error err = { 0 };

    (void)state;
    if (!is_root()) {
        /* Unprivileged: no user means nothing to do. */
        assert_int_equal(priv_check(NULL, &err), 0);
        print_message("skipped the root refusal: not running as root\n");
        return;
    }
    assert_int_equal(priv_check(NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "refusing to run as root"));
    assert_non_null(strstr(err.msg, "--user NAME"));
    /* Nothing changed. */
    assert_int_equal(geteuid(), 0);
}

static void test_unknown_user_named(void **state)
{
    struct sf_error err = { 0 };

    (void)state;
    assert_int_equal(priv_check("nonexistent-user-xyz", &err), -1);
    assert_non_null(strstr(err.msg, "\"nonexistent-user-xyz\""));
    assert_non_null(strstr(err.msg, "no such user"));
    assert_int_equal(priv_check("", &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
}

static void test_root_user_refused(void **state)
{
    struct sf_error err = { 0 };

    (void)state;
    assert_int_equal(priv_check("root", &err), -1);
    assert_non_null(strstr(err.msg, "uid 0"));
    assert_int_equal(geteuid(), is_root() ? 0 : geteuid());
}

/* Child exit codes: 0 ok, 10+ which check failed. */
static int child_drop(const char *user, uid_t want_uid, gid_t want_gid)
{
    struct sf_error err = { 0 };
    gid_t groups[4];
    int n;

    if (priv_check(user, &err) != 0) {
        fprintf(stderr, "child: %s\n", err.msg);
        return 10;
    }
    if (getuid() != want_uid || geteuid() != want_uid)
        return 11;
    if (getgid() != want_gid || getegid() != want_gid)
        return 12;
    if (setuid(0) == 0 || seteuid(0) == 0)
        return 13;
    /* Root's groups are gone: only the user's own. */
    n = getgroups(4, groups);
    if (n < 0 || n > 3)
        return 14;
    while (n-- > 0)
        if (groups[n] == 0)
            return 15;
    /* Calling again as the user is a no-op; asking for another is not. */
    if (priv_check(user, &err) != 0)
        return 16;
    if (priv_check("root", &err) == 0)
        return 17;
    return 0;
}

static void test_drop_to_nobody(void **state)
{
    struct passwd *pw;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int status = 0;

    (void)state;
    if (!is_root()) {
        print_message("skipped the drop to nobody: not running as root\n");
        return;
    }
    pw = getpwnam("nobody");
    if (pw == NULL) {
        print_message("skipped the drop: no user \"nobody\" here\n");
        return;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    assert_int_not_equal(uid, 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_drop("nobody", uid, gid));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("child failed check %d", WEXITSTATUS(status));
    /* The parent is untouched. */
    assert_int_equal(geteuid(), 0);
}

/* Unprivileged and asking for someone else: refused with both uids. */
static void test_unprivileged_other_user(void **state)
{
    struct passwd *pw;
    pid_t pid;
    int status = 0;

    (void)state;
    if (is_root()) {
        /* Become nobody first (in a child), then ask for daemon/bin. */
        pw = getpwnam("nobody");
        if (pw == NULL) {
            print_message("skipped: no user \"nobody\"\n");
            return;
        }
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct sf_error err = { 0 };

            if (priv_check("nobody", &err) != 0)
                _exit(10);
            if (priv_check("daemon", &err) == 0)
                _exit(11);
            if (strstr(err.msg, "not running as root") == NULL ||
                strstr(err.msg, "\"daemon\"") == NULL)
                _exit(12);
            /* Unprivileged without --user is fine. */
            if (priv_check(NULL, &err) != 0)
                _exit(13);
            _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("child failed check %d", WEXITSTATUS(status));
        return;
    }
    {
        struct sf_error err = { 0 };

        assert_int_equal(priv_check("daemon", &err), -1);
        assert_non_null(strstr(err.msg, "not running as root"));
    }
}

/*
 * priv_give hands a root-made store (and its -wal; -shm absent) to the
 * user, so that the user can open it read-only after the switch: under
 * umask 077 it could not before. A link in the store's place is not
 * followed.
 */
static void test_give_store(void **state)
{
    char dir[] = "/tmp/test_priv.XXXXXX", db[128], wal[128], lnk[128],
         target[128];
    struct passwd *pw = getpwnam("nobody");
    struct sf_error err = { 0 };
    struct stat st;
    FILE *f;

    (void)state;
    if (!is_root() || pw == NULL) {
        assert_int_equal(priv_give("nobody", "/nonexistent/x.db", &err), 0);
        print_message("skipped priv_give: not root or no nobody\n");
        return;
    }
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/s.db", dir);
    snprintf(wal, sizeof(wal), "%s/s.db-wal", dir);
    snprintf(lnk, sizeof(lnk), "%s/l.db", dir);
    snprintf(target, sizeof(target), "%s/target", dir);
    assert_non_null(f = fopen(db, "w"));
    fclose(f);
    assert_non_null(f = fopen(wal, "w"));
    fclose(f);
    assert_non_null(f = fopen(target, "w"));
    fclose(f);
    assert_int_equal(symlink(target, lnk), 0);

    assert_int_equal(priv_give("nobody", db, &err), 0);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, pw->pw_uid);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_uid, pw->pw_uid);

    assert_int_equal(priv_give("nobody", lnk, &err), 0);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_uid, 0); /* not followed */

    assert_int_equal(priv_give("nonexistent-user-xyz", db, &err), -1);
    assert_non_null(strstr(err.msg, "nonexistent-user-xyz"));

    unlink(db);
    unlink(wal);
    unlink(lnk);
    unlink(target);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_without_user_refused),
        cmocka_unit_test(test_unknown_user_named),
        cmocka_unit_test(test_root_user_refused),
        cmocka_unit_test(test_drop_to_nobody),
        cmocka_unit_test(test_unprivileged_other_user),
        cmocka_unit_test(test_give_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
