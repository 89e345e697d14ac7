/* svcdef.c - parse service-NAME / daemon-NAME definition values.
 *
 * DESCRIPTION
 *     The syntax and the limits are in svcdef.h.  Parsing goes in two
 *     steps: the value is split into words (svcdef_words_split), each word
 *     is cut at its first '=' into an option name and a value, and the
 *     values of cmd and listen are split into words once more.  Everything
 *     is checked here, nothing is looked up, nothing is logged: the caller
 *     (master) decides what to do with a definition.
 */
#include "svcdef.h"

#include "buf.h"
#include "str.h"
#include "xmalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char svcdef_error[1024];
/* svcdef_words_split()'s own messages, which svcdef_error then quotes. */
static char svcdef_split_error[128];

static const char *svcdef_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *svcdef_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(svcdef_error, sizeof(svcdef_error), fmt, ap);
    va_end(ap);
    return svcdef_error;
}

/* A piece of hostile text made fit for a message: at most 60 bytes, control
 * characters and quotes replaced.  Returns buf. */
static const char *svcdef_show(const char *text, char *buf, size_t size)
{
    size_t i = 0;
    const size_t keep = 60;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (i >= keep || i + 4 >= size) {
            str_copy(buf + i, size - i, "...");
            return buf;
        }
        buf[i++] = *p < 0x20 || *p == 0x7f || *p == '"' ? '?' : (char)*p;
    }
    buf[i] = '\0';
    return buf;
}
#define SVCDEF_SHOW_SIZE 72

void svcdef_words_free(char **words)
{
    if (words == NULL)
        return;
    for (size_t i = 0; words[i] != NULL; i++)
        free(words[i]);
    free(words);
}

static bool svcdef_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int svcdef_words_split(const char *text, char ***words_r, size_t *count_r,
                       const char **error_r)
{
    if (strnlen(text, SVCDEF_VALUE_MAX + 1) > SVCDEF_VALUE_MAX) {
        snprintf(svcdef_split_error, sizeof(svcdef_split_error), "longer than %d bytes",
                 SVCDEF_VALUE_MAX);
        *error_r = svcdef_split_error;
        return -1;
    }
    char **words = xcalloc(1, sizeof(*words));
    size_t count = 0;
    struct buf word = BUF_INIT;
    const char *p = text;

    for (;;) {
        while (svcdef_is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        bool quoted = false;
        buf_reset(&word);
        while (*p != '\0' && (quoted || !svcdef_is_blank(*p))) {
            if (*p == '"') {
                quoted = !quoted;
            } else if (quoted && *p == '\\') {
                p++;
                if (*p == '\0')
                    break;
                buf_append_char(&word, *p);
            } else {
                buf_append_char(&word, *p);
            }
            p++;
        }
        if (quoted) {
            *error_r = "unterminated double quote";
            goto fail;
        }
        if (!str_is_printable(buf_cstr(&word))) {
            *error_r = "control character in a word";
            goto fail;
        }
        if (count == SVCDEF_WORDS_MAX) {
            snprintf(svcdef_split_error, sizeof(svcdef_split_error), "more than %d words",
                     SVCDEF_WORDS_MAX);
            *error_r = svcdef_split_error;
            goto fail;
        }
        words = xreallocarray(words, count + 2, sizeof(*words));
        words[count++] = xstrdup(buf_cstr(&word));
        words[count] = NULL;
    }
    buf_free(&word);
    *words_r = words;
    *count_r = count;
    return 0;

fail:
    buf_free(&word);
    svcdef_words_free(words);
    return -1;
}

enum svcdef_option {
    SVCDEF_OPT_CMD,
    SVCDEF_OPT_LISTEN,
    SVCDEF_OPT_PREFORK,
    SVCDEF_OPT_MAXCHILD,
    SVCDEF_OPT_MAXFOR,
    SVCDEF_OPT_IGNORED,
};

static const struct {
    const char *name;
    enum svcdef_option option;
    bool service_only;   /* not for daemon-NAME */
} svcdef_options[] = {
    {"cmd", SVCDEF_OPT_CMD, false},
    {"listen", SVCDEF_OPT_LISTEN, true},
    {"prefork", SVCDEF_OPT_PREFORK, true},
    {"maxchild", SVCDEF_OPT_MAXCHILD, true},
    {"maxfor", SVCDEF_OPT_MAXFOR, true},
    /* cyrus.conf options that mean nothing to Roost (SVCDEF_IGNORED_MAX). */
    {"babysit", SVCDEF_OPT_IGNORED, false},
    {"maxfds", SVCDEF_OPT_IGNORED, false},
    {"proto", SVCDEF_OPT_IGNORED, false},
};
#define SVCDEF_OPTIONS_COUNT (sizeof(svcdef_options) / sizeof(svcdef_options[0]))

static bool svcdef_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SVCDEF_NAME_MAX)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

bool svcdef_key_is_def(const char *key)
{
    return str_has_prefix(key, "service-") || str_has_prefix(key, "daemon-");
}

static int svcdef_parse_count(const char *key, const char *opt, const char *value,
                              bool allow_minus1, uint64_t min, uint64_t max, int *value_r,
                              const char **error_r)
{
    uint64_t v;
    if (allow_minus1 && strcmp(value, "-1") == 0) {
        *value_r = -1;
        return 0;
    }
    if (str_to_u64(value, max, &v) < 0 || v < min) {
        char shown[SVCDEF_SHOW_SIZE];
        *error_r = svcdef_fail("%s: %s=\"%s\": expected a number from %llu to %llu%s", key, opt,
                               svcdef_show(value, shown, sizeof(shown)), (unsigned long long)min,
                               (unsigned long long)max, allow_minus1 ? " or -1" : "");
        return -1;
    }
    *value_r = (int)v;
    return 0;
}

static int svcdef_set_listen(struct svcdef *def, const char *key, const char *value,
                             const char **error_r)
{
    char **addrs;
    size_t count;
    const char *err;
    if (svcdef_words_split(value, &addrs, &count, &err) < 0) {
        *error_r = svcdef_fail("%s: listen: %s", key, err);
        return -1;
    }
    if (count == 0 || count > SVCDEF_LISTEN_MAX) {
        svcdef_words_free(addrs);
        *error_r = svcdef_fail("%s: listen needs 1 to %d addresses", key, SVCDEF_LISTEN_MAX);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char shown[SVCDEF_SHOW_SIZE];
        if (addrs[i][0] == '\0' || strlen(addrs[i]) > SVCDEF_ADDRESS_MAX) {
            *error_r = svcdef_fail("%s: listen: bad address \"%s\"", key,
                                   svcdef_show(addrs[i], shown, sizeof(shown)));
            svcdef_words_free(addrs);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(addrs[i], addrs[j]) == 0) {
                *error_r = svcdef_fail("%s: listen: address %s given twice", key,
                                       svcdef_show(addrs[i], shown, sizeof(shown)));
                svcdef_words_free(addrs);
                return -1;
            }
        }
    }
    def->listen = addrs;
    def->listen_count = count;
    return 0;
}

static int svcdef_set_cmd(struct svcdef *def, const char *key, const char *value,
                          const char **error_r)
{
    const char *err;
    if (svcdef_words_split(value, &def->cmd, &def->cmd_count, &err) < 0) {
        *error_r = svcdef_fail("%s: cmd: %s", key, err);
        return -1;
    }
    if (def->cmd_count == 0 || def->cmd[0][0] == '\0') {
        *error_r = svcdef_fail("%s: cmd is empty", key);
        return -1;
    }
    return 0;
}

/* One name=value word. */
static int svcdef_option(struct svcdef *def, const char *key, char *word, bool *seen,
                         const char **error_r)
{
    char shown[SVCDEF_SHOW_SIZE];
    char *eq = strchr(word, '=');
    if (eq == NULL || eq == word) {
        *error_r = svcdef_fail("%s: expected name=value, found \"%s\"", key,
                               svcdef_show(word, shown, sizeof(shown)));
        return -1;
    }
    *eq = '\0';
    const char *opt = word, *val = eq + 1;
    size_t o;
    for (o = 0; o < SVCDEF_OPTIONS_COUNT; o++) {
        if (strcmp(opt, svcdef_options[o].name) == 0)
            break;
    }
    if (o == SVCDEF_OPTIONS_COUNT) {
        *error_r = svcdef_fail(
            "%s: unknown option \"%s\" (known: cmd, listen, prefork, maxchild, maxfor)", key,
            svcdef_show(opt, shown, sizeof(shown)));
        return -1;
    }
    if (seen[o]) {
        *error_r = svcdef_fail("%s: option \"%s\" given twice", key, opt);
        return -1;
    }
    seen[o] = true;
    if (svcdef_options[o].service_only && def->kind == SVCDEF_DAEMON) {
        *error_r = svcdef_fail("%s: option \"%s\" is only for service-NAME keys", key, opt);
        return -1;
    }
    switch (svcdef_options[o].option) {
    case SVCDEF_OPT_CMD:
        return svcdef_set_cmd(def, key, val, error_r);
    case SVCDEF_OPT_LISTEN:
        return svcdef_set_listen(def, key, val, error_r);
    case SVCDEF_OPT_PREFORK:
        return svcdef_parse_count(key, opt, val, false, 0, SVCDEF_PREFORK_MAX, &def->prefork,
                                  error_r);
    case SVCDEF_OPT_MAXCHILD:
        return svcdef_parse_count(key, opt, val, true, 1, SVCDEF_MAXCHILD_MAX, &def->maxchild,
                                  error_r);
    case SVCDEF_OPT_MAXFOR:
        return svcdef_parse_count(key, opt, val, false, 0, SVCDEF_MAXFOR_MAX, &def->maxfor,
                                  error_r);
    case SVCDEF_OPT_IGNORED:
        if (def->ignored_count < SVCDEF_IGNORED_MAX)
            def->ignored[def->ignored_count++] = svcdef_options[o].name;
        return 0;
    }
    return 0;
}

int svcdef_parse(const char *key, const char *value, struct svcdef *def_r,
                 const char **error_r)
{
    struct svcdef def;
    char shown[SVCDEF_SHOW_SIZE];
    memset(&def, 0, sizeof(def));
    memset(def_r, 0, sizeof(*def_r));
    def.maxchild = -1;

    const char *name;
    if (str_has_prefix(key, "service-")) {
        def.kind = SVCDEF_SERVICE;
        name = key + strlen("service-");
    } else if (str_has_prefix(key, "daemon-")) {
        def.kind = SVCDEF_DAEMON;
        name = key + strlen("daemon-");
    } else {
        *error_r = svcdef_fail("%s: not a service-NAME or daemon-NAME key",
                               svcdef_show(key, shown, sizeof(shown)));
        return -1;
    }
    if (!svcdef_name_valid(name)) {
        *error_r = svcdef_fail(
            "%s: the name after the '-' must be 1 to %d letters, digits, '-', '_' or '.'",
            svcdef_show(key, shown, sizeof(shown)), SVCDEF_NAME_MAX);
        return -1;
    }
    /* From here on key is known to be short and clean. */
    def.name = xstrdup(name);

    char **words;
    size_t count;
    const char *err;
    if (svcdef_words_split(value, &words, &count, &err) < 0) {
        *error_r = svcdef_fail("%s: %s", key, err);
        goto fail;
    }
    bool seen[SVCDEF_OPTIONS_COUNT] = {false};
    for (size_t i = 0; i < count; i++) {
        if (svcdef_option(&def, key, words[i], seen, error_r) < 0) {
            svcdef_words_free(words);
            goto fail;
        }
    }
    svcdef_words_free(words);

    if (def.cmd == NULL) {
        *error_r = svcdef_fail("%s: cmd=\"PROGRAM ARGS\" is missing", key);
        goto fail;
    }
    if (def.kind == SVCDEF_SERVICE) {
        if (def.listen_count == 0) {
            *error_r = svcdef_fail("%s: listen=\"ADDRESS ...\" is missing", key);
            goto fail;
        }
        if (def.maxchild == -1)
            def.maxchild = SVCDEF_MAXCHILD_DEFAULT;
        if (def.prefork > 0 && (size_t)def.prefork * def.listen_count > (size_t)def.maxchild) {
            *error_r = svcdef_fail(
                "%s: prefork=%d on %zu address(es) needs more than maxchild=%d children", key,
                def.prefork, def.listen_count, def.maxchild);
            goto fail;
        }
    } else {
        def.listen = xcalloc(1, sizeof(*def.listen));
        def.maxchild = 1;
    }
    *def_r = def;
    return 0;

fail:
    svcdef_free(&def);
    return -1;
}

void svcdef_free(struct svcdef *def)
{
    free(def->name);
    svcdef_words_free(def->cmd);
    svcdef_words_free(def->listen);
    memset(def, 0, sizeof(*def));
}

/* "text" with '"' and '\' escaped. */
static void svcdef_quote(struct buf *out, const char *text)
{
    buf_append_char(out, '"');
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            buf_append_char(out, '\\');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '"');
}

/* name="w1 w2 ...", each word quoted inside when needed. */
static void svcdef_format_words(struct buf *out, const char *name, char **words, size_t count)
{
    struct buf inner = BUF_INIT;
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            buf_append_char(&inner, ' ');
        if (words[i][0] == '\0' || strpbrk(words[i], " \t\"\\") != NULL)
            svcdef_quote(&inner, words[i]);
        else
            buf_append_str(&inner, words[i]);
    }
    buf_append_str(out, name);
    buf_append_char(out, '=');
    svcdef_quote(out, buf_cstr(&inner));
    buf_free(&inner);
}

void svcdef_format(const struct svcdef *def, struct buf *out)
{
    svcdef_format_words(out, "cmd", def->cmd, def->cmd_count);
    if (def->kind == SVCDEF_DAEMON)
        return;
    buf_append_char(out, ' ');
    svcdef_format_words(out, "listen", def->listen, def->listen_count);
    buf_printf(out, " prefork=%d maxchild=%d maxfor=%d", def->prefork, def->maxchild,
               def->maxfor);
}

static bool svcdef_strv_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0)
            return false;
    }
    return true;
}

bool svcdef_equal(const struct svcdef *a, const struct svcdef *b)
{
    return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
           svcdef_strv_equal(a->cmd, a->cmd_count, b->cmd, b->cmd_count) &&
           svcdef_strv_equal(a->listen, a->listen_count, b->listen, b->listen_count) &&
           a->prefork == b->prefork && a->maxchild == b->maxchild && a->maxfor == b->maxfor;
}
