/* test-mime-date.c - mime_date_parse(): RFC 5322 dates, obsolete forms,
 * zones, junk.  Expected times are UTC seconds computed with Python's
 * calendar.timegm() for the UTC wall time given in each comment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "buf.h"
#include "mime.h"

static void check(const char *value, long long expect, int tz_expect)
{
    time_t t = 0;
    int tz = 12345;
    if (mime_date_parse(value, &t, &tz) != 0) {
        print_error("cannot parse \"%s\"\n", value);
        fail();
    }
    if ((long long)t != expect || tz != tz_expect) {
        print_error("\"%s\": got %lld %d, want %lld %d\n", value, (long long)t, tz, expect,
                    tz_expect);
        fail();
    }
}

static void check_bad(const char *value)
{
    time_t t;
    int tz;
    if (mime_date_parse(value, &t, &tz) != -1) {
        print_error("\"%s\" parsed as %lld\n", value, (long long)t);
        fail();
    }
}

static void test_rfc5322(void **state)
{
    (void)state;
    /* 2024-01-15 09:30:00 UTC */
    check("Mon, 15 Jan 2024 10:30:00 +0100", 1705311000, 60);
    check("15 Jan 2024 10:30:00 +0100", 1705311000, 60);
    check("Mon, 15 Jan 2024 04:30:00 -0500", 1705311000, -300);
    check("Mon,15 Jan 2024 09:30 +0000", 1705311000, 0);
    check("  Mon, 15 Jan 2024 09:30:00 -0000  ", 1705311000, 0);
    check("mon, 15 JAN 2024 09:30:00 +0000", 1705311000, 0);
    /* 2003-07-01 08:52:37 UTC */
    check("Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120);
    check("Tue, 01 Jul 2003 10:52:37 +0200 (CEST)", 1057049557, 120);
    /* RFC 5322 A.6.3: comments and folding everywhere; 1997-11-21 15:55:06 UTC */
    check("Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", 880127706, -360);
    check("Fri, 21\r\n Nov 1997 09:55:06 -0600", 880127706, -360);
    /* leap day, leap second (60 is the next minute) */
    check("Thu, 29 Feb 2024 00:00:00 +0000", 1709164800, 0);
    check("31 Dec 2016 23:59:60 +0000", 1483228800, 0);
    /* before the epoch: 1969-12-25 00:00:00 UTC */
    check("25 Dec 1969 00:00:00 +0000", -604800, 0);
    /* the extremes of the accepted range */
    check("31 Dec 9999 23:59:59 +0000", 253402300799LL, 0);
    check("1 Jan 1900 00:00:00 +0000", -2208988800LL, 0);
    /* +1400 exists (Kiribati): 2024-01-05 10:00 UTC */
    check("Sat, 6 Jan 2024 00:00:00 +1400", 1704448800, 840);
}

static void test_obsolete(void **state)
{
    (void)state;
    /* two-digit years: 00-49 -> 20xx, 50-99 -> 19xx (RFC 5322 4.3) */
    check("21 Nov 97 09:55:06 GMT", 880106106, 0);   /* 1997-11-21 09:55:06 */
    check("1 Jan 49 00:00:00 +0000", 2493072000LL, 0);
    check("1 Jan 50 00:00:00 +0000", -631152000, 0);
    /* three-digit years: + 1900 */
    check("1 Jan 103 00:00:00 +0000", 1041379200, 0);
    /* named zones: 2024-04-03 12:00 local */
    check("3 Apr 24 12:00 EST", 1712163600, -300);          /* 17:00 UTC */
    check("3 Apr 2024 13:00 EDT", 1712163600, -240);
    check("3 Apr 2024 11:00 CST", 1712163600, -360);
    check("3 Apr 2024 12:00 CDT", 1712163600, -300);
    check("3 Apr 2024 10:00 MST", 1712163600, -420);
    check("3 Apr 2024 11:00 MDT", 1712163600, -360);
    check("3 Apr 2024 09:00 PST", 1712163600, -480);
    check("3 Apr 2024 10:00 PDT", 1712163600, -420);
    check("3 Apr 2024 12:00 UT", 1712145600, 0);
    check("3 Apr 2024 12:00 GMT", 1712145600, 0);
    check("3 Apr 2024 12:00 utc", 1712145600, 0);
    /* military letters and unknown names are -0000 */
    check("3 Apr 2024 12:00 Z", 1712145600, 0);
    check("3 Apr 2024 12:00 A", 1712145600, 0);
    check("3 Apr 2024 12:00 M", 1712145600, 0);
    check("3 Apr 2024 12:00 CEST", 1712145600, 0);
    /* no zone at all, no time at all */
    check("3 Apr 2024 12:00:00", 1712145600, 0);
    check("15 Jan 2024", 1705276800, 0);
    /* a broken zone is ignored */
    check("3 Apr 2024 12:00:00 +0099", 1712145600, 0);
    check("3 Apr 2024 12:00:00 +01", 1712145600, 0);
}

static void test_broken_but_readable(void **state)
{
    (void)state;
    /* asctime, with and without zone: 2024-01-05 12:00:00 */
    check("Fri Jan  5 12:00:00 2024", 1704456000, 0);
    check("Jan 5 12:00:00 2024", 1704456000, 0);
    check("Fri Jan 5 13:00:00 +0100 2024", 1704456000, 60);
    check("Fri Jan 5 12:00:00 GMT 2024", 1704456000, 0);
    check("Jan 5 2024 12:00:00 +0000", 1704456000, 0);
    /* dashes, full names, a day name without comma or wrong */
    check("5-Jan-2024 12:00:00 +0000", 1704456000, 0);
    check("Friday, 5 January 2024 12:00:00 +0000", 1704456000, 0);
    check("Fri 5 Jan 2024 12:00:00 +0000", 1704456000, 0);
    check("Sun, 5 Jan 2024 12:00:00 +0000", 1704456000, 0);
    check("5 Sept 2024 12:00:00 +0000", 1725537600, 0);   /* 2024-09-05 12:00 */
    /* trailing junk */
    check("Fri, 5 Jan 2024 12:00:00 +0000 (UTC) and more junk", 1704456000, 0);
    check("Fri, 5 Jan 2024 12:00:00 +0000\r\n", 1704456000, 0);
    check("Fri, 5 Jan 2024, 12:00:00 +0000", 1704456000, 0);
}

static void test_junk(void **state)
{
    (void)state;
    check_bad("");
    check_bad("   ");
    check_bad("garbage");
    check_bad("Mon,");
    check_bad("32 Jan 2024 00:00:00 +0000");
    check_bad("0 Jan 2024 00:00:00 +0000");
    check_bad("29 Feb 2023 00:00:00 +0000");
    check_bad("31 Apr 2024 00:00:00 +0000");
    check_bad("1 Foo 2024 00:00:00 +0000");
    check_bad("1 Jan");
    check_bad("1 Jan 12:00:00");
    check_bad("12:00:00");
    check_bad("1 Jan 2024 24:00:00 +0000");
    check_bad("1 Jan 2024 12:60:00 +0000");
    check_bad("1 Jan 2024 12:00:61 +0000");
    check_bad("1 Jan 10000 00:00:00 +0000");
    check_bad("1 Jan 999999999999 00:00:00 +0000");
    check_bad("123 Jan 2024");
    check_bad("Jan");
    check_bad("Jan 5");
    check_bad("Jan 5 12:00");
    check_bad("(unterminated comment 1 Jan 2024");
    /* long inputs stay linear */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_append_str(&b, "Mon (x) ");
    check_bad(buf_cstr(&b));
    buf_reset(&b);
    for (int i = 0; i < 100000; i++)
        buf_append_char(&b, '(');
    check_bad(buf_cstr(&b));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5322),
        cmocka_unit_test(test_obsolete),
        cmocka_unit_test(test_broken_but_readable),
        cmocka_unit_test(test_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
