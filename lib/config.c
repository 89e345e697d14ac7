/* config.c - parse imapd.conf-syntax files and answer typed lookups.
 *
 * The file is read whole (bounded), split into lines, and every "key: value"
 * is checked against the key table in config_keys.c.  Values are kept as
 * strings; typed lookups convert them (they were validated at load time, so
 * a conversion failure there is a bug). */
#include "config.h"
#include "buf.h"
#include "log.h"
#include "str.h"
#include "xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (4 * 1024 * 1024)
#define CONFIG_LINE_MAX 8192
#define CONFIG_KEY_MAX 128

struct config_entry {
    char *key;
    char *value;
    unsigned line;
};

struct config {
    char *file;
    struct config_entry *entries;
    unsigned count, alloc;
};

static char config_error[512];

const char *config_path_resolve(const char *cli_path)
{
    if (cli_path != NULL && cli_path[0] != '\0')
        return cli_path;
    const char *env = getenv("ROOST_CONFIG");
    if (env != NULL && env[0] != '\0')
        return env;
    return CONFIG_DEFAULT_PATH;
}

const struct config_key *config_key_find(const char *name)
{
    const struct config_key *prefix_match = NULL;
    for (unsigned i = 0; i < config_keys_count; i++) {
        const struct config_key *k = &config_keys[i];
        size_t n = strlen(k->name);
        if (n > 0 && k->name[n - 1] == '-') {
            if (strncmp(name, k->name, n) == 0 && name[n] != '\0')
                prefix_match = k;
        } else if (strcmp(name, k->name) == 0) {
            return k;
        }
    }
    /* "sasl_" is the one prefix key that ends in '_'. */
    if (prefix_match == NULL) {
        for (unsigned i = 0; i < config_keys_count; i++) {
            const struct config_key *k = &config_keys[i];
            size_t n = strlen(k->name);
            if (n > 0 && k->name[n - 1] == '_' && strncmp(name, k->name, n) == 0 && name[n] != '\0')
                return k;
        }
    }
    return prefix_match;
}

int config_parse_bool(const char *value, bool *value_r)
{
    static const char *const yes[] = {"yes", "on", "true", "1", "t", "y"};
    static const char *const no[] = {"no", "off", "false", "0", "f", "n"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *value_r = true;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *value_r = false;
            return 0;
        }
    }
    return -1;
}

static bool config_enum_has(const char *values, const char *value)
{
    size_t vlen = strlen(value);
    const char *p = values;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > 0 && n == vlen && strncasecmp(p, value, n) == 0)
            return true;
        p += n;
    }
    return false;
}

int config_value_check(const struct config_key *key, const char *value, const char **reason_r)
{
    static char reason[256];
    switch (key->type) {
    case CONFIG_TYPE_STRING:
        return 0;
    case CONFIG_TYPE_INT: {
        int64_t v;
        if (str_to_i64(value, &v) < 0) {
            *reason_r = "not a whole number";
            return -1;
        }
        if (v < key->min || v > key->max) {
            snprintf(reason, sizeof(reason), "out of range (%lld to %lld)", (long long)key->min,
                     (long long)key->max);
            *reason_r = reason;
            return -1;
        }
        return 0;
    }
    case CONFIG_TYPE_BOOL: {
        bool b;
        if (config_parse_bool(value, &b) < 0) {
            *reason_r = "not a yes/no value";
            return -1;
        }
        return 0;
    }
    case CONFIG_TYPE_ENUM:
        if (!config_enum_has(key->values, value)) {
            snprintf(reason, sizeof(reason), "must be one of: %s", key->values);
            *reason_r = reason;
            return -1;
        }
        return 0;
    }
    log_panic("config: bad key type for %s", key->name);
}

static void config_add(struct config *cfg, const char *key, const char *value, unsigned line)
{
    /* A repeated key: the last one wins, as in Cyrus. */
    for (unsigned i = 0; i < cfg->count; i++) {
        if (strcmp(cfg->entries[i].key, key) == 0) {
            free(cfg->entries[i].value);
            cfg->entries[i].value = xstrdup(value);
            cfg->entries[i].line = line;
            return;
        }
    }
    if (cfg->count == cfg->alloc) {
        cfg->alloc = cfg->alloc ? cfg->alloc * 2 : 32;
        cfg->entries = xreallocarray(cfg->entries, cfg->alloc, sizeof(*cfg->entries));
    }
    cfg->entries[cfg->count].key = xstrdup(key);
    cfg->entries[cfg->count].value = xstrdup(value);
    cfg->entries[cfg->count].line = line;
    cfg->count++;
}

static int config_fail(struct config *cfg, const char *name, unsigned line, const char *what)
{
    snprintf(config_error, sizeof(config_error), "%s:%u: %s", name, line, what);
    config_free(&cfg);
    return -1;
}

int config_parse(const char *name, const char *text, struct config **config_r, const char **error_r)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->file = xstrdup(name);
    unsigned lineno = 0;
    const char *p = text;
    char msg[CONFIG_LINE_MAX + 256];

    while (*p != '\0') {
        lineno++;
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len >= CONFIG_LINE_MAX) {
            *error_r = config_error;
            return config_fail(cfg, name, lineno, "line too long");
        }
        char line[CONFIG_LINE_MAX];
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (eol != NULL ? 1 : 0);

        char *s = str_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *colon = strchr(s, ':');
        if (colon == NULL) {
            *error_r = config_error;
            return config_fail(cfg, name, lineno, "expected \"key: value\"");
        }
        *colon = '\0';
        char *key = str_trim(s);
        char *value = str_trim(colon + 1);
        if (*key == '\0' || strlen(key) > CONFIG_KEY_MAX || strpbrk(key, " \t") != NULL ||
            !str_is_printable(key)) {
            *error_r = config_error;
            return config_fail(cfg, name, lineno, "bad key name");
        }
        const struct config_key *k = config_key_find(key);
        if (k == NULL) {
            log_warning("%s:%u: unknown configuration key \"%s\" (ignored)", name, lineno, key);
        } else {
            const char *reason;
            if (config_value_check(k, value, &reason) < 0) {
                snprintf(msg, sizeof(msg), "bad value for %s: \"%s\": %s", key, value, reason);
                *error_r = config_error;
                return config_fail(cfg, name, lineno, msg);
            }
        }
        config_add(cfg, key, value, lineno);
    }
    *config_r = cfg;
    return 0;
}

int config_load(const char *path, struct config **config_r, const char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(config_error, sizeof(config_error), "%s: cannot open: %s", path, strerror(errno));
        *error_r = config_error;
        return -1;
    }
    struct buf text = BUF_INIT;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(config_error, sizeof(config_error), "%s: read error: %s", path,
                     strerror(errno));
            close(fd);
            buf_free(&text);
            *error_r = config_error;
            return -1;
        }
        if (n == 0)
            break;
        if (text.len + (size_t)n > CONFIG_FILE_MAX) {
            snprintf(config_error, sizeof(config_error), "%s: file too large", path);
            close(fd);
            buf_free(&text);
            *error_r = config_error;
            return -1;
        }
        buf_append(&text, chunk, (size_t)n);
    }
    close(fd);
    if (memchr(buf_cstr(&text), '\0', text.len) != NULL) {
        snprintf(config_error, sizeof(config_error), "%s: contains a NUL byte", path);
        buf_free(&text);
        *error_r = config_error;
        return -1;
    }
    int ret = config_parse(path, buf_cstr(&text), config_r, error_r);
    buf_free(&text);
    return ret;
}

void config_free(struct config **config)
{
    struct config *cfg = *config;
    if (cfg == NULL)
        return;
    for (unsigned i = 0; i < cfg->count; i++) {
        free(cfg->entries[i].key);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    free(cfg->file);
    free(cfg);
    *config = NULL;
}

const char *config_file(const struct config *config)
{
    return config->file;
}

const char *config_lookup(const struct config *config, const char *key)
{
    for (unsigned i = 0; i < config->count; i++) {
        if (strcmp(config->entries[i].key, key) == 0)
            return config->entries[i].value;
    }
    return NULL;
}

unsigned config_key_line(const struct config *config, const char *key)
{
    for (unsigned i = 0; i < config->count; i++) {
        if (strcmp(config->entries[i].key, key) == 0)
            return config->entries[i].line;
    }
    return 0;
}

static const struct config_key *config_key_typed(const char *key, enum config_type type)
{
    const struct config_key *k = config_key_find(key);
    if (k == NULL)
        log_panic("config: lookup of undeclared key \"%s\"", key);
    if (k->type != type && !(type == CONFIG_TYPE_STRING && k->type == CONFIG_TYPE_ENUM))
        log_panic("config: key \"%s\" looked up with the wrong type", key);
    return k;
}

const char *config_str(const struct config *config, const char *key)
{
    const struct config_key *k = config_key_typed(key, CONFIG_TYPE_STRING);
    const char *v = config_lookup(config, key);
    return v != NULL ? v : k->def;
}

int64_t config_int(const struct config *config, const char *key)
{
    const struct config_key *k = config_key_typed(key, CONFIG_TYPE_INT);
    const char *v = config_lookup(config, key);
    if (v == NULL)
        v = k->def;
    int64_t n;
    if (v == NULL || str_to_i64(v, &n) < 0)
        log_panic("config: bad int value for \"%s\"", key);
    return n;
}

bool config_bool(const struct config *config, const char *key)
{
    const struct config_key *k = config_key_typed(key, CONFIG_TYPE_BOOL);
    const char *v = config_lookup(config, key);
    if (v == NULL)
        v = k->def;
    bool b;
    if (v == NULL || config_parse_bool(v, &b) < 0)
        log_panic("config: bad bool value for \"%s\"", key);
    return b;
}

void config_iter_prefix(const struct config *config, const char *prefix, config_iter_cb *cb,
                        void *ctx)
{
    for (unsigned i = 0; i < config->count; i++) {
        if (str_has_prefix(config->entries[i].key, prefix))
            cb(config->entries[i].key, config->entries[i].value, ctx);
    }
}
