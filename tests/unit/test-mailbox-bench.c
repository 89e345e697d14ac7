/* test-mailbox-bench.c - figures, not assertions: how long opening a
 * 100,000-message mailbox and computing its counts takes (warm), and a few
 * neighbours (SELECT = view open, an idle refresh, STORE on every message,
 * real appends).  The big index is written directly with the index
 * encoders (the open path reads no message file); ROOST_BENCH_MESSAGES
 * changes its size.  Prints one line per figure; fails only if something
 * does not work at all. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test-mailbox-fixture.h"

#include "mailbox_private.h"

#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int setup(void **state)
{
    *state = mbt_setup(NULL, 3600);
    return 0;
}

static int teardown(void **state)
{
    mbt_teardown(*state);
    return 0;
}

/* Replace the (empty) index of name with n records. */
static void build_index(struct mbt *t, const char *name, uint32_t n)
{
    const char *error = NULL;
    struct mailbox *mb = mbt_open(t, name, true);
    struct index_header h = mb->hdr;
    struct mailbox_record *recs = calloc(n, sizeof(*recs));

    assert_non_null(recs);
    for (uint32_t i = 0; i < n; i++) {
        struct mailbox_record *r = &recs[i];
        r->uid = i + 1;
        r->system_flags = i % 3 == 0 ? MAILBOX_FLAG_SEEN : 0;
        r->internaldate = 1700000000 + i;
        r->sentdate = 1700000000 + i;
        r->size = 2000 + i % 1000;
        r->header_size = 500;
        r->modseq = 2;
        r->change_time = 1700000000;
        r->cache_offset = CACHE_HEADER_SIZE;
        r->cache_len = 0;
        mb_counts_apply(&h, r, 1);
    }
    h.num_records = n;
    h.uidnext = n + 1;
    h.highestmodseq = 2;
    h.recent_uid = n;
    int dfd = open(mailbox_path(mb), O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    if (mb_index_create_file(dfd, "roost.index.NEW", &h, recs, n, NULL, &error) < 0)
        fail_msg("%s", error);
    assert_int_equal(renameat(dfd, "roost.index.NEW", dfd, "roost.index"), 0);
    close(dfd);
    free(recs);
    mailbox_close(&mb);
}

static void test_open_100k(void **state)
{
    struct mbt *t = *state;
    const char *error = NULL;
    const char *env = getenv("ROOST_BENCH_MESSAGES");
    uint32_t n = env != NULL ? (uint32_t)strtoul(env, NULL, 10) : 100000;
    struct mailbox_counts c;

    mbt_create(t, "user.big");
    double t0 = now_ms();
    build_index(t, "user.big", n);
    double build = now_ms() - t0;

    /* warm up, then the figure: open + counts (STATUS / SELECT's counts) */
    struct mailbox *mb = mbt_open(t, "user.big", false);
    assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
    assert_int_equal(c.exists, n);
    mailbox_close(&mb);
    const int iters = 20;
    t0 = now_ms();
    for (int i = 0; i < iters; i++) {
        mb = mbt_open(t, "user.big", false);
        assert_int_equal(mailbox_get_counts(mb, NULL, &c, &error), 0);
        mailbox_close(&mb);
    }
    double open_counts = (now_ms() - t0) / iters;
    assert_int_equal(c.unseen, n - (n + 2) / 3);

    /* SELECT: a view knows every message (every record checked) */
    mb = mbt_open(t, "user.big", true);
    struct mailbox_view *view;
    t0 = now_ms();
    assert_int_equal(mailbox_view_open(mb, NULL, 0, &view, &error), 0);
    double select_ms = now_ms() - t0;
    assert_int_equal(mailbox_view_exists(view), n);
    t0 = now_ms();
    for (int i = 0; i < iters; i++)
        assert_int_equal(mailbox_view_refresh(view, true, NULL, NULL, &error), 0);
    double idle_refresh = (now_ms() - t0) / iters;

    /* STORE +FLAGS \Flagged 1:* then the refresh that reports it */
    struct seqset all;
    seqset_init(&all);
    seqset_add_range(&all, 1, n);
    struct mailbox_flags_change ch = { .op = MAILBOX_FLAGS_ADD,
                                       .system_flags = MAILBOX_FLAG_FLAGGED };
    t0 = now_ms();
    assert_int_equal(mailbox_store_flags(mb, &all, &ch, NULL, NULL, NULL, NULL, &error), 0);
    double store_all = now_ms() - t0;
    t0 = now_ms();
    assert_int_equal(mailbox_view_refresh(view, true, NULL, NULL, &error), 0);
    double busy_refresh = now_ms() - t0;
    seqset_free(&all);
    mailbox_view_close(&view);
    mailbox_close(&mb);

    /* real appends: one at a time and as one MULTIAPPEND of 100 */
    mbt_create(t, "user.small");
    mb = mbt_open(t, "user.small", true);
    t0 = now_ms();
    mbt_append_n(mb, 100, 0);
    double single = (now_ms() - t0) / 100;
    struct buf msgs[100];
    struct mailbox_append_msg m[100];
    uint32_t uids[100], uidv;
    for (int i = 0; i < 100; i++) {
        buf_init(&msgs[i]);
        mbt_message(&msgs[i], "batch", (unsigned)i);
        memset(&m[i], 0, sizeof(m[i]));
        m[i].data = msgs[i].data;
        m[i].len = msgs[i].len;
    }
    t0 = now_ms();
    assert_int_equal(mailbox_append(mb, m, 100, NULL, 0, &uidv, uids, &error), 0);
    double batch = (now_ms() - t0) / 100;
    for (int i = 0; i < 100; i++)
        buf_free(&msgs[i]);
    mailbox_close(&mb);

    print_message("mailbox bench (%u messages; index %.1f MB, built in %.0f ms):\n", n,
                  (double)(INDEX_HEADER_SIZE + (size_t)n * INDEX_RECORD_SIZE) / 1e6, build);
    print_message("  open + counts (warm):      %8.3f ms\n", open_counts);
    print_message("  SELECT (view of all):      %8.3f ms\n", select_ms);
    print_message("  idle refresh (NOOP):       %8.3f ms\n", idle_refresh);
    print_message("  STORE +FLAGS on all:       %8.3f ms\n", store_all);
    print_message("  refresh reporting all:     %8.3f ms\n", busy_refresh);
    print_message("  append, one at a time:     %8.3f ms/message\n", single);
    print_message("  append, MULTIAPPEND of 100:%8.3f ms/message\n", batch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_100k, setup, teardown),
    };
    log_init("test-mailbox-bench");
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
