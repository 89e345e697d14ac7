/* master_services.c - service definitions from the config.
 *
 * SYNOPSIS
 *     service-imap: cmd="imapd" listen="127.0.0.1:1143" prefork=1 maxchild=100 maxfor=250
 *     service-imaps: cmd="imapd -s" listen="127.0.0.1:1993 [::1]:1993" prefork=1
 *     service-lmtpunix: cmd="lmtpd" listen="/var/run/roost/lmtp"
 *     daemon-qmgr: cmd="qmgr"
 *
 * DESCRIPTION
 *     The values are parsed by lib/svcdef.c, which holds the syntax (cmd,
 *     listen, prefork, maxchild, maxfor; quoting) and every check of the
 *     value itself.  What master adds here:
 *
 *     cmd       a program name not starting with '/' is looked up in the
 *               directory master's own executable is in; an absolute path
 *               is used as it is.  Master passes "-C <config>" (absolute)
 *               and, with maxfor, "-U <maxfor>" right after the program
 *               name, before cmd's own arguments.  The program must be
 *               executable when the config is loaded.
 *     names     no two definitions may have the same NAME (service-x and
 *               daemon-x clash).
 *     babysit, maxfds, proto: accepted with a warning.
 *
 * DIAGNOSTICS
 *     Errors name the config file, the line of the key and the key:
 *     "/etc/roost/imapd.conf:12: service-imap: unknown option ...".
 */
#include "master.h"

#include "config.h"
#include "buf.h"
#include "log.h"
#include "str.h"
#include "svcdef.h"
#include "xmalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char master_services_error[1024];

static const char *master_services_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *master_services_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(master_services_error, sizeof(master_services_error), fmt, ap);
    va_end(ap);
    return master_services_error;
}

/* The program path for cmd's first word. */
static char *master_program_path(const char *word, const char *exe_dir)
{
    if (word[0] == '/')
        return xstrdup(word);
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/%s", exe_dir, word);
    return buf_release(&b);
}

static void master_def_build_argv(struct master_service_def *def, const struct svcdef *sd,
                                  const char *exe_dir, const char *config_path)
{
    /* program, -C config, [-U n], cmd args, NULL */
    size_t n = 1 + 2 + (def->maxfor > 0 ? 2 : 0) + (sd->cmd_count - 1) + 1;
    char **argv = xcalloc(n, sizeof(*argv));
    size_t i = 0;
    argv[i++] = master_program_path(sd->cmd[0], exe_dir);
    argv[i++] = xstrdup("-C");
    argv[i++] = xstrdup(config_path);
    if (def->maxfor > 0) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "%d", def->maxfor);
        argv[i++] = xstrdup("-U");
        argv[i++] = buf_release(&b);
    }
    for (size_t j = 1; j < sd->cmd_count; j++)
        argv[i++] = xstrdup(sd->cmd[j]);
    argv[i] = NULL;
    def->argv = argv;
    def->argc = i;
}

int master_service_def_parse(const char *key, const char *value, const char *exe_dir,
                             const char *config_path, struct master_service_def *def_r,
                             const char **error_r)
{
    struct svcdef sd;
    const char *err;
    if (svcdef_parse(key, value, &sd, &err) < 0) {
        *error_r = master_services_fail("%s", err);
        return -1;
    }
    for (size_t i = 0; i < sd.ignored_count; i++)
        log_warning("%s: option \"%s\" has no meaning for Roost and is ignored", key,
                    sd.ignored[i]);

    struct master_service_def def;
    memset(&def, 0, sizeof(def));
    def.key = xstrdup(key);
    def.kind = sd.kind == SVCDEF_DAEMON ? MASTER_KIND_DAEMON : MASTER_KIND_SERVICE;
    def.prefork = sd.prefork;
    def.maxchild = sd.maxchild;
    def.maxfor = sd.maxfor;
    master_def_build_argv(&def, &sd, exe_dir, config_path);
    /* Take the name and the addresses over. */
    def.name = sd.name;
    sd.name = NULL;
    def.listen = sd.listen;
    def.listen_count = sd.listen_count;
    sd.listen = NULL;
    svcdef_free(&sd);
    *def_r = def;
    return 0;
}

void master_service_def_free(struct master_service_def *def)
{
    free(def->key);
    free(def->name);
    svcdef_words_free(def->argv);
    svcdef_words_free(def->listen);
    memset(def, 0, sizeof(*def));
}

static bool master_strv_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0)
            return false;
    }
    return true;
}

bool master_service_def_equal(const struct master_service_def *a,
                              const struct master_service_def *b)
{
    return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
           master_strv_equal(a->argv, a->argc, b->argv, b->argc) &&
           master_strv_equal(a->listen, a->listen_count, b->listen, b->listen_count) &&
           a->prefork == b->prefork && a->maxchild == b->maxchild && a->maxfor == b->maxfor;
}

struct master_collect {
    char **keys, **values;
    size_t count;
};

/* The config keeps one entry per key (the last one given). */
static void master_collect_cb(const char *key, const char *value, void *ctx)
{
    struct master_collect *c = ctx;
    c->keys = xreallocarray(c->keys, c->count + 1, sizeof(*c->keys));
    c->values = xreallocarray(c->values, c->count + 1, sizeof(*c->values));
    c->keys[c->count] = xstrdup(key);
    c->values[c->count] = xstrdup(value);
    c->count++;
}

int master_service_defs_load(const struct config *config, const char *exe_dir,
                             const char *config_path, struct master_service_defs *defs_r,
                             const char **error_r)
{
    struct master_collect c = {NULL, NULL, 0};
    config_iter_prefix(config, "service-", master_collect_cb, &c);
    config_iter_prefix(config, "daemon-", master_collect_cb, &c);

    struct master_service_defs defs = {xcalloc(c.count + 1, sizeof(*defs.defs)), 0};
    const char *file = config_file(config);
    int ret = 0;
    for (size_t i = 0; i < c.count && ret == 0; i++) {
        struct master_service_def *def = &defs.defs[defs.count];
        unsigned line = config_key_line(config, c.keys[i]);
        const char *err;
        if (master_service_def_parse(c.keys[i], c.values[i], exe_dir, config_path, def, &err) < 0) {
            char copy[sizeof(master_services_error)];
            str_copy(copy, sizeof(copy), err);
            *error_r = master_services_fail("%s:%u: %s", file, line, copy);
            ret = -1;
            break;
        }
        defs.count++;
        for (size_t j = 0; j + 1 < defs.count; j++) {
            if (strcmp(defs.defs[j].name, def->name) == 0) {
                *error_r = master_services_fail("%s:%u: %s and %s: two services named \"%s\"",
                                                file, line, defs.defs[j].key, def->key,
                                                def->name);
                ret = -1;
                break;
            }
        }
        if (ret == 0 && access(def->argv[0], X_OK) < 0) {
            *error_r = master_services_fail("%s:%u: %s: program %s: %s", file, line, def->key,
                                            def->argv[0], strerror(errno));
            ret = -1;
        }
    }
    for (size_t i = 0; i < c.count; i++) {
        free(c.keys[i]);
        free(c.values[i]);
    }
    free(c.keys);
    free(c.values);
    if (ret < 0) {
        master_service_defs_free(&defs);
        return -1;
    }
    *defs_r = defs;
    return 0;
}

void master_service_defs_free(struct master_service_defs *defs)
{
    for (size_t i = 0; i < defs->count; i++)
        master_service_def_free(&defs->defs[i]);
    free(defs->defs);
    defs->defs = NULL;
    defs->count = 0;
}
