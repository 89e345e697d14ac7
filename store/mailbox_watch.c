/* mailbox_watch.c - waking up when another process changes a mailbox.
 *
 * IMAP IDLE waits on mailbox_watch_fd(): an inotify descriptor watching the
 * mailbox directory for writes to and renames of its files.  Every change
 * of a mailbox ends with a write of the index header (or a rename of a new
 * index or header into place), so any process's commit wakes the waiter
 * within the time the kernel takes to deliver the event.  Message files
 * being linked in also wake it, a little early: the waiter refreshes, finds
 * nothing committed yet and waits again.  inotify watches the directory's
 * inode, so it keeps working when the directory is renamed. */
#include "mailbox_private.h"

#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int mailbox_watch_fd(struct mailbox *mb, const char **error_r)
{
    if (mb->watch_fd >= 0)
        return mb->watch_fd;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: inotify_init1", mb->name);
        return -1;
    }
    if (inotify_add_watch(fd, mb->path,
                          IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF |
                              IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR) < 0) {
        mb_fail_errno(error_r, STORE_ERR_INTERNAL, "%s: inotify_add_watch %s", mb->name,
                      mb->path);
        close(fd);
        return -1;
    }
    mb->watch_fd = fd;
    return fd;
}

bool mailbox_watch_drain(struct mailbox *mb)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool meta = false;

    if (mb->watch_fd < 0)
        return false;
    for (;;) {
        ssize_t n = read(mb->watch_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)) != 0 ||
                (ev->len > 0 && strncmp(ev->name, "roost.", 6) == 0))
                meta = true;
            off += (ssize_t)sizeof(struct inotify_event) + ev->len;
        }
    }
    return meta;
}
