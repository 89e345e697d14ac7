/* master_pidfile.c - the pid file, locked for as long as master runs.
 *
 * DESCRIPTION
 *     The file is opened and flock()ed before anything else happens, so a
 *     second master started with the same pid file refuses to start (and
 *     says which pid holds it) instead of failing later on "address in
 *     use".  A file left behind by a master that was killed is not locked
 *     and is simply taken over.  The lock lives on the open descriptor
 *     (close-on-exec, never inherited by children).  At exit the file is
 *     removed; when the directory does not allow that any more (root was
 *     dropped), it is emptied instead.
 */
#include "master.h"

#include "log.h"
#include "str.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int master_pidfile_fd = -1;
static char master_pidfile_path[4096];

int master_pidfile_lock(const char *path, const char **error_r)
{
    static char errbuf[4300];
    if (str_copy(master_pidfile_path, sizeof(master_pidfile_path), path) >=
        sizeof(master_pidfile_path)) {
        *error_r = "pid file path too long";
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == ENOENT) {
        /* /run/roost does not survive a reboot: make the last directory. */
        char dir[sizeof(master_pidfile_path)];
        str_copy(dir, sizeof(dir), path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0755) == 0)
                log_info("created %s for the pid file", dir);
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    }
    if (fd < 0) {
        snprintf(errbuf, sizeof(errbuf), "pid file %s: %s", path, strerror(errno));
        *error_r = errbuf;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        char text[32] = "";
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        uint64_t pid = 0;
        char *nl = strchr(text, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (err == EWOULDBLOCK && str_to_u64(text, INT32_MAX, &pid) == 0)
            snprintf(errbuf, sizeof(errbuf),
                     "another master (pid %llu) is running with pid file %s",
                     (unsigned long long)pid, path);
        else if (err == EWOULDBLOCK)
            snprintf(errbuf, sizeof(errbuf), "another master is running with pid file %s", path);
        else
            snprintf(errbuf, sizeof(errbuf), "pid file %s: lock: %s", path, strerror(err));
        close(fd);
        *error_r = errbuf;
        return -1;
    }
    master_pidfile_fd = fd;
    return 0;
}

int master_pidfile_write(const char **error_r)
{
    static char errbuf[4300];
    if (master_pidfile_fd < 0)
        return 0;
    char text[32];
    int len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
    if (ftruncate(master_pidfile_fd, 0) < 0 ||
        pwrite(master_pidfile_fd, text, (size_t)len, 0) != len) {
        snprintf(errbuf, sizeof(errbuf), "pid file %s: write: %s", master_pidfile_path,
                 strerror(errno));
        *error_r = errbuf;
        return -1;
    }
    return 0;
}

void master_pidfile_remove(void)
{
    if (master_pidfile_fd < 0)
        return;
    if (unlink(master_pidfile_path) < 0) {
        log_debug("cannot remove pid file %s (%s): emptying it", master_pidfile_path,
                  strerror(errno));
        if (ftruncate(master_pidfile_fd, 0) < 0)
            log_warning("cannot remove or empty pid file %s: %s", master_pidfile_path,
                        strerror(errno));
    }
    close(master_pidfile_fd);
    master_pidfile_fd = -1;
}
