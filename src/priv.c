/*
 * priv.c - refuse root; drop to --user (see priv.h).
 *
 * Order matters: supplementary groups and the gid go first, while we still
 * have the right to change them; the uid last. Then we prove the drop
 * holds: a process that could setuid(0) again has dropped nothing.
 */
#include "slotfeed/priv.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static const char refuse_root[] =
    "refusing to run as root: use --user NAME (drops privileges after "
    "start-up) or run as an unprivileged user (systemd DynamicUser)";

/* getpwnam_r with a buffer that grows on ERANGE. 0, or -1 with err. */
static int lookup(const char *user, uid_t *uid, gid_t *gid,
                  struct sf_error *err)
{
    struct passwd pw, *res = NULL;
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t len = hint > 0 ? (size_t)hint : 1024;
    char *buf = NULL;
    int rc;

    for (;;) {
        char *nb = realloc(buf, len);

        if (nb == NULL) {
            free(buf);
            sf_error_set(err, SF_ERR_NOMEM, "user \"%s\": out of memory", user);
            return -1;
        }
        buf = nb;
        rc = getpwnam_r(user, &pw, buf, len, &res);
        if (rc != ERANGE || len > 1024 * 1024)
            break;
        len *= 2;
    }
    if (rc != 0 || res == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "user \"%s\": %s", user,
                     rc != 0 ? strerror(rc) : "no such user");
        free(buf);
        return -1;
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    free(buf);
    return 0;
}

int priv_check(const char *user, struct sf_error *err)
{
    uid_t uid;
    gid_t gid;
    int root = getuid() == 0 || geteuid() == 0;

    if (user != NULL && *user == '\0') {
        sf_error_set(err, SF_ERR_CONFIG, "--user: empty user name");
        return -1;
    }
    if (user == NULL) {
        if (root) {
            sf_error_set(err, SF_ERR_CONFIG, "%s", refuse_root);
            return -1;
        }
        return 0;
    }
    if (lookup(user, &uid, &gid, err) != 0)
        return -1;
    if (uid == 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "user \"%s\" has uid 0: that is "
                     "root, pick an unprivileged user",
                     user);
        return -1;
    }
    if (!root) {
        if (getuid() == uid && geteuid() == uid)
            return 0;
        sf_error_set(err, SF_ERR_CONFIG,
                     "cannot switch to user \"%s\" "
                     "(uid %ld): not running as root (uid %ld)",
                     user, (long)uid, (long)geteuid());
        return -1;
    }
    if (initgroups(user, gid) != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "user \"%s\": initgroups: %s", user,
                     strerror(errno));
        return -1;
    }
    if (setgid(gid) != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "user \"%s\": setgid(%ld): %s", user,
                     (long)gid, strerror(errno));
        return -1;
    }
    if (setuid(uid) != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "user \"%s\": setuid(%ld): %s", user,
                     (long)uid, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || getuid() != uid || geteuid() != uid ||
        getgid() != gid || getegid() != gid) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "user \"%s\": privileges not "
                     "dropped (uid %ld/%ld gid %ld/%ld, want %ld/%ld)",
                     user, (long)getuid(), (long)geteuid(), (long)getgid(),
                     (long)getegid(), (long)uid, (long)gid);
        return -1;
    }
    return 0;
}

int priv_give(const char *user, const char *path, struct sf_error *err)
{
    static const char *const sfx[] = { "", "-wal", "-shm" };
    char p[4096];
    uid_t uid;
    gid_t gid;
    size_t i;

    if (user == NULL || path == NULL || geteuid() != 0)
        return 0;
    if (lookup(user, &uid, &gid, err) != 0)
        return -1;
    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >= sizeof(p)) {
            sf_error_set(err, SF_ERR_CONFIG, "store path too long: %s", path);
            return -1;
        }
        /* lchown: never follow a link planted where the store should be. */
        if (lchown(p, uid, gid) != 0 && errno != ENOENT) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "cannot give %s to user \"%s\": "
                         "%s",
                         p, user, strerror(errno));
            return -1;
        }
    }
    return 0;
}
