/* master_reload.c - make the running services match a set of definitions.
 *
 * DESCRIPTION
 *     Used at startup (from nothing) and on SIGHUP.  For every definition:
 *       - an active service with the same name and an equal definition is
 *         kept as it is: its listeners and children are not touched, so no
 *         connection is dropped;
 *       - otherwise a new service is made (and the old one of that name,
 *         if any, is stopped: "restarted");
 *     and every active service whose name is gone is stopped (listeners
 *     closed, children sent SIGTERM).
 *
 *     A new service's listener whose address was already bound by a service
 *     being stopped or restarted is taken over instead of bound again (the
 *     same socket: no window in which connections are refused, and no
 *     "address in use" while the old children are still exiting).  All
 *     other new listeners are bound before anything changes: when one bind
 *     fails, the reload is abandoned and the old services keep running.
 */
#include "master.h"

#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned master_active_count(void)
{
    unsigned n = 0;
    for (struct master_service *svc = master_services_head(); svc != NULL; svc = svc->next) {
        if (!svc->draining)
            n++;
    }
    return n;
}

/* A listener of an active service that is not kept, bound to address and
 * not yet claimed by another new pool. */
static struct master_pool *master_find_transfer(const char *address)
{
    for (struct master_service *svc = master_services_head(); svc != NULL; svc = svc->next) {
        if (svc->draining || svc->kept)
            continue;
        for (size_t i = 0; i < svc->npools; i++) {
            struct master_pool *pool = &svc->pools[i];
            if (pool->listen_fd >= 0 && !pool->claimed && pool->address != NULL &&
                strcmp(pool->address, address) == 0)
                return pool;
        }
    }
    return NULL;
}

static void master_plan_reset(void)
{
    for (struct master_service *svc = master_services_head(); svc != NULL; svc = svc->next) {
        svc->kept = false;
        for (size_t i = 0; i < svc->npools; i++)
            svc->pools[i].claimed = false;
    }
}

int master_apply(struct master_service_defs *defs, const char **summary_r, const char **error_r)
{
    static char errbuf[1024], summary[256];
    size_t n = defs->count;
    struct master_service **fresh = xcalloc(n + 1, sizeof(*fresh));
    unsigned kept = 0, added = 0, restarted = 0, removed = 0;
    int64_t now = master_now_ms();

    master_plan_reset();
    /* 1. which services stay as they are */
    for (size_t i = 0; i < n; i++) {
        struct master_service *old = master_service_find(defs->defs[i].name);
        if (old != NULL && master_service_def_equal(&old->def, &defs->defs[i])) {
            old->kept = true;
            kept++;
        }
    }
    /* 2. the new ones, with their listeners bound or planned for takeover */
    for (size_t i = 0; i < n; i++) {
        struct master_service *old = master_service_find(defs->defs[i].name);
        if (old != NULL && old->kept)
            continue;
        const char *err;
        struct master_service *svc = master_service_new(&defs->defs[i], &err);
        if (svc == NULL) {
            snprintf(errbuf, sizeof(errbuf), "%s", err);
            goto rollback;
        }
        fresh[i] = svc;
        for (size_t p = 0; p < svc->npools; p++) {
            struct master_pool *pool = &svc->pools[p];
            if (pool->address == NULL)
                continue;
            struct master_pool *from = master_find_transfer(pool->address);
            if (from != NULL) {
                from->claimed = true;
                pool->transfer_from = from;
                continue;
            }
            pool->listen_fd = master_listen_open(pool->address, &err);
            if (pool->listen_fd < 0) {
                snprintf(errbuf, sizeof(errbuf), "%s: cannot listen: %s", svc->def.key, err);
                goto rollback;
            }
        }
    }

    /* 3. commit: take listeners over, stop what goes away, add the rest */
    for (size_t i = 0; i < n; i++) {
        if (fresh[i] == NULL)
            continue;
        for (size_t p = 0; p < fresh[i]->npools; p++) {
            struct master_pool *pool = &fresh[i]->pools[p];
            if (pool->transfer_from != NULL) {
                pool->listen_fd = pool->transfer_from->listen_fd;
                pool->transfer_from->listen_fd = -1;
                pool->transfer_from->poll_listener = false;
                pool->transfer_from = NULL;
            }
        }
    }
    struct master_service *next;
    for (struct master_service *svc = master_services_head(); svc != NULL; svc = next) {
        next = svc->next;
        if (svc->draining || svc->kept)
            continue;
        bool replaced = false;
        for (size_t i = 0; i < n; i++) {
            if (fresh[i] != NULL && strcmp(fresh[i]->def.name, svc->def.name) == 0)
                replaced = true;
        }
        if (replaced) {
            log_info("%s changed: restarting it", svc->def.key);
            restarted++;
        } else {
            log_info("%s removed: stopping it", svc->def.key);
            removed++;
        }
        master_service_stop(svc, now);
    }
    for (size_t i = 0; i < n; i++) {
        if (fresh[i] == NULL)
            continue;
        master_service_add(fresh[i]);
    }
    added = (unsigned)(n - kept) - restarted;
    master_plan_reset();
    free(fresh);
    master_service_defs_free(defs);
    snprintf(summary, sizeof(summary),
             "%u services (%u added, %u removed, %u restarted, %u unchanged)",
             master_active_count(), added, removed, restarted, kept);
    *summary_r = summary;
    return 0;

rollback:
    for (size_t i = 0; i < n; i++) {
        /* Planned takeovers leave the old listener where it is; freshly
         * bound ones are closed by master_service_free. */
        master_service_free(fresh[i]);
    }
    master_plan_reset();
    free(fresh);
    master_service_defs_free(defs);
    *error_r = errbuf;
    return -1;
}
