/* mime_param.c - Content-Type and Content-Disposition values.
 *
 * NAME
 *     mime_content_type_parse, mime_disposition_parse, mime_params_parse,
 *     mime_param_get - the structured MIME fields, leniently.
 *
 * DESCRIPTION
 *     type "/" subtype *(";" attribute "=" value), with RFC 822 comments
 *     and folding whitespace allowed between the tokens.  Types and the
 *     disposition are lowercased; parameter names keep their case.
 *     Values are tokens or quoted strings (backslash escapes removed; an
 *     unterminated quote runs to the end); an unquoted value runs up to
 *     ';', a blank or a comment, so the common unquoted values that use
 *     tspecials ("boundary=----=_Part_1") are read as meant.  Parameters
 *     without '=' or without a name are skipped.
 *
 *     RFC 2231: name*=charset'lang'%XX, name*0=, name*0*=, name*1= ...
 *     sections are sorted by number and joined; the %XX escapes of the
 *     encoded sections are decoded and the result converted from the
 *     charset of the first section to UTF-8 (an unknown or empty charset
 *     gives the bytes as UTF-8 when they are valid UTF-8, windows-1252
 *     otherwise; the language is dropped).  The joined parameter takes the
 *     place of the first of its sections and of a plain parameter of the
 *     same name (the fallback old senders add next to name*).  RFC 2047
 *     encoded-words inside values are left as they are.  At most
 *     MIME_MAX_PARAMS parameters are read, so the work is O(n log n) in
 *     that bound whatever the input. */
#include "mime_private.h"

#include "buf.h"
#include "charset.h"
#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *mime_skip_cfws(const char *p)
{
    for (;;) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        } else if (*p == '(') {
            unsigned depth = 0;
            while (*p != '\0') {
                if (*p == '\\' && p[1] != '\0') {
                    p += 2;
                    continue;
                }
                if (*p == '(')
                    depth++;
                else if (*p == ')' && --depth == 0) {
                    p++;
                    break;
                }
                p++;
            }
        } else {
            return p;
        }
    }
}

static bool is_token_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static const char *read_token(const char *p, struct pool *pool, const char **token_r)
{
    const char *start = p;
    while (is_token_char((unsigned char)*p))
        p++;
    *token_r = pool_strndup(pool, start, (size_t)(p - start));
    return p;
}

/* Move to the next ';' outside quoted strings and comments (or the end). */
static const char *skip_to_semicolon(const char *p)
{
    while (*p != '\0' && *p != ';') {
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
            if (*p == '"')
                p++;
        } else if (*p == '(') {
            p = mime_skip_cfws(p);
        } else {
            p++;
        }
    }
    return p;
}

struct raw_param {
    const char *name;    /* as written */
    const char *value;
    size_t baselen;      /* RFC 2231: length of the base name */
    int section;         /* RFC 2231 section, -1 for a plain parameter */
    bool encoded;        /* RFC 2231 '*' suffix: charset'lang'%XX */
    unsigned index;
};

static void classify_2231(struct raw_param *rp)
{
    size_t len = strlen(rp->name);
    rp->section = -1;
    rp->encoded = false;
    rp->baselen = len;
    const char *star = memchr(rp->name, '*', len);
    if (star == NULL)
        return;
    size_t end = len;
    bool encoded = false;
    if (rp->name[end - 1] == '*') {
        encoded = true;
        end--;
    }
    size_t s = (size_t)(star - rp->name);
    if (s == 0)
        return;
    if (s == end) {
        /* "name*": a single encoded section */
        rp->section = 0;
        rp->encoded = true;
        rp->baselen = s;
        return;
    }
    /* "name*N" or "name*N*" */
    size_t ndigits = end - s - 1;
    if (ndigits == 0 || ndigits > 3)
        return;
    int n = 0;
    for (size_t i = s + 1; i < end; i++) {
        if (rp->name[i] < '0' || rp->name[i] > '9')
            return;
        n = n * 10 + (rp->name[i] - '0');
    }
    if (n > MIME_MAX_SECTION)
        return;
    rp->section = n;
    rp->encoded = encoded;
    rp->baselen = s;
}

static int cmp_2231(const void *a, const void *b)
{
    const struct raw_param *x = *(const struct raw_param *const *)a;
    const struct raw_param *y = *(const struct raw_param *const *)b;
    size_t n = x->baselen < y->baselen ? x->baselen : y->baselen;
    int c = strncasecmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->baselen != y->baselen)
        return x->baselen < y->baselen ? -1 : 1;
    if (x->section != y->section)
        return x->section < y->section ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index ? 1 : 0;
}

static bool same_base(const struct raw_param *x, const struct raw_param *y)
{
    return x->baselen == y->baselen && strncasecmp(x->name, y->name, x->baselen) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void percent_decode(const char *s, struct buf *out)
{
    for (; *s != '\0'; s++) {
        int h, l;
        if (*s == '%' && (h = hexval(s[1])) >= 0 && (l = hexval(s[2])) >= 0) {
            buf_append_char(out, (char)(h * 16 + l));
            s += 2;
        } else {
            buf_append_char(out, *s);
        }
    }
}

static char *dup_without_nul(struct pool *pool, const char *s, size_t len)
{
    char *out = pool_alloc(pool, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\0')
            out[n++] = s[i];
    }
    out[n] = '\0';
    return out;
}

/* Join the sections group[0..n) (sorted) into one decoded value. */
static const char *join_2231(struct raw_param **group, size_t n, struct pool *pool)
{
    struct buf raw = BUF_INIT, out = BUF_INIT;
    char charset[CHARSET_NAME_MAX + 1] = "";
    bool any_encoded = group[0]->encoded;
    int last_section = -1;

    for (size_t i = 0; i < n; i++) {
        const struct raw_param *rp = group[i];
        if (rp->section == last_section)
            continue;   /* a repeated section: the first one wins */
        last_section = rp->section;
        const char *v = rp->value;
        if (i == 0 && rp->encoded) {
            const char *q1 = strchr(v, '\'');
            const char *q2 = q1 != NULL ? strchr(q1 + 1, '\'') : NULL;
            if (q2 != NULL) {
                size_t clen = (size_t)(q1 - v);
                if (clen <= CHARSET_NAME_MAX) {
                    memcpy(charset, v, clen);
                    charset[clen] = '\0';
                }
                v = q2 + 1;
            }
        }
        if (rp->encoded)
            percent_decode(v, &raw);
        else
            buf_append_str(&raw, v);
    }
    const char *error;
    const char *result;
    if (!any_encoded) {
        result = dup_without_nul(pool, buf_cstr(&raw), raw.len);
    } else {
        if (charset[0] == '\0' || charset_to_utf8(charset, raw.data, raw.len, &out, &error) < 0) {
            buf_reset(&out);
            charset_8bit_to_utf8(raw.data, raw.len, &out);
        }
        result = dup_without_nul(pool, buf_cstr(&out), out.len);
    }
    buf_free(&raw);
    buf_free(&out);
    return result;
}

struct mime_param *mime_params_parse(const char *p, struct pool *pool)
{
    struct raw_param raws[MIME_MAX_PARAMS];
    unsigned n = 0;
    struct buf qbuf = BUF_INIT;

    p = skip_to_semicolon(p);
    while (*p == ';' && n < MIME_MAX_PARAMS) {
        p = mime_skip_cfws(p + 1);
        const char *name;
        const char *start = p;
        while (is_token_char((unsigned char)*p) || *p == '*')
            p++;
        if (p == start) {
            p = skip_to_semicolon(p);
            continue;
        }
        name = pool_strndup(pool, start, (size_t)(p - start));
        p = mime_skip_cfws(p);
        if (*p != '=') {
            p = skip_to_semicolon(p);
            continue;
        }
        p = mime_skip_cfws(p + 1);
        const char *value;
        if (*p == '"') {
            buf_reset(&qbuf);
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (*p != '\r' && *p != '\n')
                    buf_append_char(&qbuf, *p);
                p++;
            }
            if (*p == '"')
                p++;
            value = pool_strndup(pool, buf_cstr(&qbuf), qbuf.len);
        } else {
            start = p;
            while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t' && *p != '(' &&
                   *p != '\r' && *p != '\n')
                p++;
            value = pool_strndup(pool, start, (size_t)(p - start));
        }
        raws[n] = (struct raw_param){ .name = name, .value = value, .index = n };
        classify_2231(&raws[n]);
        n++;
        p = skip_to_semicolon(p);
    }
    buf_free(&qbuf);

    /* RFC 2231 groups: sort the sections, join each group. */
    struct raw_param *sorted[MIME_MAX_PARAMS];
    const char *joined[MIME_MAX_PARAMS];   /* by index of the group's first member */
    unsigned first_of[MIME_MAX_PARAMS];    /* index -> index of its group's first member */
    unsigned ns = 0;
    for (unsigned i = 0; i < n; i++) {
        joined[i] = NULL;
        first_of[i] = i;
        if (raws[i].section >= 0)
            sorted[ns++] = &raws[i];
    }
    if (ns > 0) {
        qsort(sorted, ns, sizeof(sorted[0]), cmp_2231);
        for (unsigned i = 0; i < ns;) {
            unsigned j = i + 1;
            unsigned lowest = sorted[i]->index;
            while (j < ns && same_base(sorted[i], sorted[j])) {
                if (sorted[j]->index < lowest)
                    lowest = sorted[j]->index;
                j++;
            }
            /* A plain parameter of the same name is replaced too. */
            for (unsigned k = 0; k < n; k++) {
                if (raws[k].section < 0 && raws[k].baselen == sorted[i]->baselen &&
                    strncasecmp(raws[k].name, sorted[i]->name, raws[k].baselen) == 0 &&
                    k < lowest)
                    lowest = k;
            }
            for (unsigned k = i; k < j; k++)
                first_of[sorted[k]->index] = lowest;
            for (unsigned k = 0; k < n; k++) {
                if (raws[k].section < 0 && raws[k].baselen == sorted[i]->baselen &&
                    strncasecmp(raws[k].name, sorted[i]->name, raws[k].baselen) == 0)
                    first_of[k] = lowest;
            }
            joined[lowest] = join_2231(&sorted[i], j - i, pool);
            /* the name: the base as written by the first section */
            raws[lowest].name = pool_strndup(pool, sorted[i]->name, sorted[i]->baselen);
            i = j;
        }
    }

    struct mime_param *head = NULL, **tail = &head;
    for (unsigned i = 0; i < n; i++) {
        if (first_of[i] != i)
            continue;
        struct mime_param *mp = pool_alloc(pool, sizeof(*mp));
        mp->name = raws[i].name;
        mp->value = joined[i] != NULL ? joined[i] : raws[i].value;
        *tail = mp;
        tail = &mp->next;
    }
    return head;
}

static void lcase(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

bool mime_content_type_parse(const char *value, struct pool *pool, const char **type_r,
                             const char **subtype_r, struct mime_param **params_r)
{
    const char *type, *subtype = "";
    const char *p = read_token(mime_skip_cfws(value), pool, &type);
    p = mime_skip_cfws(p);
    if (*p == '/')
        p = read_token(mime_skip_cfws(p + 1), pool, &subtype);
    *params_r = mime_params_parse(p, pool);
    if (type[0] == '\0' || subtype[0] == '\0') {
        *type_r = *subtype_r = NULL;
        return false;
    }
    lcase((char *)type);
    lcase((char *)subtype);
    *type_r = type;
    *subtype_r = subtype;
    return true;
}

void mime_disposition_parse(const char *value, struct pool *pool, const char **disposition_r,
                            struct mime_param **params_r)
{
    const char *disp;
    const char *p = read_token(mime_skip_cfws(value), pool, &disp);
    if (disp[0] == '\0') {
        *disposition_r = NULL;
        *params_r = NULL;
        return;
    }
    lcase((char *)disp);
    *disposition_r = disp;
    *params_r = mime_params_parse(p, pool);
}

const char *mime_param_get(const struct mime_param *params, const char *name)
{
    for (; params != NULL; params = params->next) {
        if (strcasecmp(params->name, name) == 0)
            return params->value;
    }
    return NULL;
}
