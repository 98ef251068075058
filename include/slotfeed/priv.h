/*
 * priv.h - refusing root, and dropping to an unprivileged user.
 *
 * slotfeed parses bodies from booking systems it does not control and
 * serves the public; it must not do that as root. Run it as an ordinary
 * user (systemd DynamicUser=yes, conf/slotfeed.service), or start it as
 * root with --user NAME and it switches to NAME before reading any outside
 * input. There is deliberately no flag or variable to stay root.
 */
#ifndef SLOTFEED_PRIV_H
#define SLOTFEED_PRIV_H

#include "slotfeed/error.h"

/*
 * Called once at start-up (docs/operations.md says where):
 *  - root (real or effective uid 0), user NULL: refuses.
 *  - root, user given: looks the user up, sets its groups (initgroups),
 *    gid, then uid, and checks the switch cannot be undone (setuid(0)
 *    fails) and real and effective ids are the user's. The user must not
 *    be uid 0.
 *  - not root, user NULL or naming the current uid: nothing to do.
 *  - not root, another user: refuses (cannot switch without root).
 * Returns 0, or -1 with err (SF_ERR_CONFIG) naming the user and what
 * failed. After a failed drop the process may be half-switched: the
 * caller must exit, never carry on.
 */
int priv_check(const char *user, struct sf_error *err);

/*
 * Before switching (root only; a no-op otherwise or for NULL): give the
 * SQLite store at path, and its -wal/-shm files where they exist, to
 * user, so that what opens them after the switch (the report connection
 * opens the store anew per request) still can. Links are not followed.
 * Returns 0, or -1 with err naming the file.
 */
int priv_give(const char *user, const char *path, struct sf_error *err);

#endif
