/* duplicate.h - duplicate-delivery records (duplicatesuppression).
 *
 * (message-id, mailbox uniqueid) -> time of delivery.  lmtpd asks before
 * storing and marks after; old records expire (duplicate_prune). */
#ifndef ROOST_DUPLICATE_H
#define ROOST_DUPLICATE_H

#include <stdint.h>
#include <time.h>

struct kv_txn;
struct store;

/* message_id and mailbox_id: 1..DUPLICATE_ID_MAX bytes each (else -1). */
#define DUPLICATE_ID_MAX 1024

/* 1 seen (time into *when_r if not NULL), 0 not seen, -1. */
int duplicate_check(struct store *store, const char *message_id, const char *mailbox_id,
                    time_t *when_r, const char **error_r);
int duplicate_mark(struct store *store, const char *message_id, const char *mailbox_id,
                   time_t when, const char **error_r);
/* Delete records older than before (and damaged ones); the count removed
 * into *removed_r (when not NULL).  Works in batches of small transactions,
 * so deliveries are not held up.  0 or -1. */
int duplicate_prune(struct store *store, time_t before, uint64_t *removed_r, const char **error_r);

#endif
