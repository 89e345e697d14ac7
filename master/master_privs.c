/* master_privs.c - dropping root.
 *
 * DESCRIPTION
 *     Started as root, master binds every listener (privileged ports) and
 *     then becomes cyrus_user (default "cyrus") for good: supplementary
 *     groups from the group database (initgroups), then the user's group,
 *     then the user.  The user is looked up before anything is bound so
 *     that a missing user stops master with a clear message.  When
 *     cyrus_user is root itself (a development box), nothing is dropped
 *     and a warning says so.  Not started as root: nothing to do.
 */
#include "master.h"

#include "log.h"
#include "str.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool master_privs_root;
static uid_t master_privs_uid;
static gid_t master_privs_gid;
static char master_privs_user[256];

int master_privs_prepare(const char *user, const char **error_r)
{
    static char errbuf[512];
    master_privs_uid = geteuid();
    master_privs_gid = getegid();
    master_privs_root = geteuid() == 0;
    if (!master_privs_root)
        return 0;
    if (user == NULL || user[0] == '\0') {
        *error_r = "running as root and cyrus_user is empty: refusing to run services as root "
                   "by accident (set cyrus_user: root to really do that)";
        return -1;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(errbuf, sizeof(errbuf),
                 "running as root and cyrus_user \"%s\" %s: create that user or set cyrus_user "
                 "to an existing one",
                 user, errno != 0 ? strerror(errno) : "does not exist");
        *error_r = errbuf;
        return -1;
    }
    master_privs_uid = pw->pw_uid;
    master_privs_gid = pw->pw_gid;
    str_copy(master_privs_user, sizeof(master_privs_user), pw->pw_name);
    return 0;
}

void master_privs_ids(uid_t *uid_r, gid_t *gid_r)
{
    *uid_r = master_privs_uid;
    *gid_r = master_privs_gid;
}

int master_privs_drop(const char **error_r)
{
    static char errbuf[512];
    if (!master_privs_root)
        return 0;
    if (master_privs_uid == 0) {
        log_warning("cyrus_user is %s (uid 0): services run as root", master_privs_user);
        return 0;
    }
    if (initgroups(master_privs_user, master_privs_gid) < 0 &&
        setgroups(1, &master_privs_gid) < 0) {
        snprintf(errbuf, sizeof(errbuf), "setgroups: %s", strerror(errno));
        *error_r = errbuf;
        return -1;
    }
    if (setgid(master_privs_gid) < 0) {
        snprintf(errbuf, sizeof(errbuf), "setgid %d: %s", (int)master_privs_gid, strerror(errno));
        *error_r = errbuf;
        return -1;
    }
    if (setuid(master_privs_uid) < 0) {
        snprintf(errbuf, sizeof(errbuf), "setuid %d: %s", (int)master_privs_uid, strerror(errno));
        *error_r = errbuf;
        return -1;
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        *error_r = "could regain root after dropping it";
        return -1;
    }
    log_info("running as %s (uid %d, gid %d)", master_privs_user, (int)master_privs_uid,
             (int)master_privs_gid);
    return 0;
}
