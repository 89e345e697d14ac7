/* mime_date.c - RFC 5322 dates (Date:, Resent-Date:) to UTC.
 *
 * NAME
 *     mime_date_parse - read the date of a message for SEARCH SENTON/
 *     SENTBEFORE/SENTSINCE and SORT DATE.
 *
 * DESCRIPTION
 *     Accepts  [day-of-week ","] day month year hour ":" minute
 *     [":" second] [zone]  with comments and folding anywhere, plus the
 *     obsolete and common broken forms:
 *       - two-digit years: 00-49 are 2000-2049, 50-99 are 1950-1999;
 *         three-digit years have 1900 added (RFC 5322 4.3);
 *       - zone names UT, UTC, GMT, Z (+0000), EST/EDT (-0500/-0400),
 *         CST/CDT, MST/MDT, PST/PDT; military letters and unknown names
 *         are -0000 (RFC 5322 4.3: their meaning was never reliable);
 *         a missing zone is -0000 too;
 *       - missing seconds, missing day-of-week, a day-of-week without
 *         comma or not matching the date, "-" between day, month and year
 *         ("5-Jan-2024"), full month names, asctime order
 *         ("Mon Jan  5 12:00:00 2024"), a missing time (midnight), and
 *         any trailing junk.
 *     Returns -1 when no day, month and year can be read or a field is out
 *     of range (day beyond the month, hour > 23 ...).  The zone offset is
 *     returned in minutes east of UTC (-0500 is -300; -0000 is 0). */
#include "mime.h"
#include "mime_private.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[12] = {
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
};

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip(const char *p)
{
    return mime_skip_cfws(p);
}

/* Month number 0-11 of the word p[0..len), or -1. */
static int month_of(const char *p, size_t len)
{
    for (int i = 0; i < 12; i++) {
        size_t full = strlen(month_names[i]);
        if ((len == 3 || len == full) && strncasecmp(p, month_names[i], len) == 0)
            return i;
        if (i == 8 && len == 4 && strncasecmp(p, "sept", 4) == 0)
            return i;
    }
    return -1;
}

static const char *read_word(const char *p, size_t *len_r)
{
    const char *s = p;
    while (is_alpha(*p))
        p++;
    *len_r = (size_t)(p - s);
    return p;
}

/* Up to 9 digits; returns NULL when there are none or too many. */
static const char *read_number(const char *p, int *value_r, int *ndigits_r)
{
    int v = 0, n = 0;
    while (is_digit(*p)) {
        if (++n > 9)
            return NULL;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (n == 0)
        return NULL;
    *value_r = v;
    if (ndigits_r != NULL)
        *ndigits_r = n;
    return p;
}

/* hh ":" mm [":" ss] */
static const char *read_time(const char *p, int *h, int *m, int *s)
{
    int nd;
    const char *q = read_number(p, h, &nd);
    if (q == NULL || nd > 2)
        return NULL;
    q = skip(q);
    if (*q != ':')
        return NULL;
    q = read_number(skip(q + 1), m, &nd);
    if (q == NULL || nd > 2)
        return NULL;
    const char *r = skip(q);
    *s = 0;
    if (*r == ':') {
        const char *t = read_number(skip(r + 1), s, &nd);
        if (t != NULL && nd <= 2)
            q = t;
    }
    return q;
}

static bool looks_like_time(const char *p)
{
    while (is_digit(*p))
        p++;
    return *p == ':';
}

static struct {
    const char *name;
    int minutes;
} const zones[] = {
    { "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
    { "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
    { "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
};

/* The zone after the time; 0 when absent or not understood. */
static int read_zone(const char *p)
{
    p = skip(p);
    if ((*p == '+' || *p == '-') && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) &&
        is_digit(p[4]) && !is_digit(p[5])) {
        int hh = (p[1] - '0') * 10 + (p[2] - '0');
        int mm = (p[3] - '0') * 10 + (p[4] - '0');
        if (mm > 59)
            return 0;
        return (*p == '-' ? -1 : 1) * (hh * 60 + mm);
    }
    size_t len;
    read_word(p, &len);
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        if (strlen(zones[i].name) == len && strncasecmp(p, zones[i].name, len) == 0)
            return zones[i].minutes;
    }
    return 0;   /* military letters, unknown names, nothing: -0000 */
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 1 && is_leap(y) ? 29 : days[m];
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1-12),
 * counting in 400-year eras of 146097 days. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                 /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static int full_year(int year, int ndigits)
{
    if (ndigits <= 2)
        return year < 50 ? 2000 + year : 1900 + year;
    if (ndigits == 3)
        return 1900 + year;
    return year;
}

struct date_fields {
    int day, mon, year, ydigits, hh, mm, ss, tz;
};

static int date_finish(const struct date_fields *f, time_t *time_r, int *tz_minutes_r)
{
    int year = full_year(f->year, f->ydigits);
    if (f->day < 1 || year < 1 || year > 9999 || f->day > days_in_month(year, f->mon) ||
        f->hh > 23 || f->mm > 59 || f->ss > 60)
        return -1;
    int64_t t = days_from_civil(year, f->mon + 1, f->day) * 86400 + f->hh * 3600 + f->mm * 60 +
                f->ss - (int64_t)f->tz * 60;
    *time_r = (time_t)t;
    *tz_minutes_r = f->tz;
    return 0;
}

int mime_date_parse(const char *value, time_t *time_r, int *tz_minutes_r)
{
    struct date_fields f = { .day = -1, .mon = -1, .year = -1 };
    const char *p = skip(value), *q;
    size_t len;
    int nd;

    /* Leading words: a day of week (or junk), unless it is a month. */
    while (is_alpha(*p)) {
        q = read_word(p, &len);
        f.mon = month_of(p, len);
        p = skip(q);
        if (f.mon >= 0)
            break;
        if (*p == ',' || *p == '.')
            p = skip(p + 1);
    }

    if (f.mon < 0) {
        /* day month year [time] [zone] */
        if ((p = read_number(p, &f.day, &nd)) == NULL || nd > 2)
            return -1;
        p = skip(p);
        if (*p == '-' || *p == '/')
            p = skip(p + 1);
        q = read_word(p, &len);
        if ((f.mon = month_of(p, len)) < 0)
            return -1;
        p = skip(q);
        if (*p == '-' || *p == '/' || *p == ',')
            p = skip(p + 1);
        if ((p = read_number(p, &f.year, &f.ydigits)) == NULL)
            return -1;
        p = skip(p);
        if (*p == ':')
            return -1;   /* "1 Jan 12:00": that was the hour, the year is missing */
        if (*p == ',')
            p = skip(p + 1);
        if ((q = read_time(p, &f.hh, &f.mm, &f.ss)) != NULL)
            p = q;
        else
            f.hh = f.mm = f.ss = 0;
        f.tz = read_zone(p);
        return date_finish(&f, time_r, tz_minutes_r);
    }

    /* asctime: month day (time [zone] year | year [time]) [zone] */
    if ((p = read_number(p, &f.day, &nd)) == NULL || nd > 2)
        return -1;
    p = skip(p);
    if (*p == ',')
        p = skip(p + 1);
    if (!looks_like_time(p)) {
        if ((p = read_number(p, &f.year, &f.ydigits)) == NULL)
            return -1;
        p = skip(p);
        if ((q = read_time(p, &f.hh, &f.mm, &f.ss)) != NULL)
            p = q;
        f.tz = read_zone(p);
        return date_finish(&f, time_r, tz_minutes_r);
    }
    if ((p = read_time(p, &f.hh, &f.mm, &f.ss)) == NULL)
        return -1;
    p = skip(p);
    if (!is_digit(*p)) {
        /* a zone before the year: "12:00:00 GMT 2024" */
        f.tz = read_zone(p);
        if (*p == '+' || *p == '-')
            p++;
        while (is_alpha(*p) || is_digit(*p))
            p++;
        p = skip(p);
        if ((p = read_number(p, &f.year, &f.ydigits)) == NULL)
            return -1;
        return date_finish(&f, time_r, tz_minutes_r);
    }
    if ((p = read_number(p, &f.year, &f.ydigits)) == NULL)
        return -1;
    f.tz = read_zone(p);
    return date_finish(&f, time_r, tz_minutes_r);
}
