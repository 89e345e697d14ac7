/* config.h - imapd.conf-syntax configuration.
 *
 * Syntax: one "key: value" per line, '#' starts a comment line, blank lines
 * are ignored, leading/trailing spaces are stripped.  Every key Roost knows
 * is declared once in config_keys.c with its type, default and a one-line
 * description; docs/config.md is generated from that table.  Keys ending in
 * '-' in the table (for example "partition-") are prefixes: any key that
 * starts with them is accepted ("partition-default", "service-imap").
 *
 * Unknown keys are warned about (logged with file and line) and kept; a bad
 * value (an int that is not a number, a bool that is not yes/no ...) is an
 * error naming the file and line. */
#ifndef ROOST_CONFIG_H
#define ROOST_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

enum config_type {
    CONFIG_TYPE_STRING,
    CONFIG_TYPE_INT,      /* signed decimal, range-checked against min/max */
    CONFIG_TYPE_BOOL,     /* yes/no, on/off, true/false, 1/0, t/f */
    CONFIG_TYPE_ENUM,     /* one of the space-separated words in values */
};

struct config_key {
    const char *name;       /* "partition-" style names are prefixes */
    enum config_type type;
    const char *def;        /* default as text, NULL = unset */
    int64_t min, max;       /* CONFIG_TYPE_INT only */
    const char *values;     /* CONFIG_TYPE_ENUM only */
    const char *desc;       /* one line for docs/config.md */
};

extern const struct config_key config_keys[];
extern const unsigned config_keys_count;

/* The compiled-in default config path (used after -C and $ROOST_CONFIG). */
#define CONFIG_DEFAULT_PATH "/etc/roost/imapd.conf"

struct config;

/* Which file to read: cli_path (from -C) when not NULL, else
 * $ROOST_CONFIG, else CONFIG_DEFAULT_PATH. */
const char *config_path_resolve(const char *cli_path);

/* Parse a file.  On error returns -1 with *error_r set to a message naming
 * the file and line (valid until the next call); warnings go to the log. */
int config_load(const char *path, struct config **config_r, const char **error_r);
/* Parse text already in memory (name is used in messages). */
int config_parse(const char *name, const char *text, struct config **config_r,
                 const char **error_r);
void config_free(struct config **config);
const char *config_file(const struct config *config);

/* Typed lookups.  Asking for a key that is not in the table (or asking with
 * the wrong type) is a bug and panics; an unset key gives its default. */
const char *config_str(const struct config *config, const char *key);
int64_t config_int(const struct config *config, const char *key);
bool config_bool(const struct config *config, const char *key);
/* For prefix keys: config_lookup(cfg, "partition-default"); NULL if unset. */
const char *config_lookup(const struct config *config, const char *key);
/* The line of the file that set key (the last one when it is repeated), for
 * messages about its value ("file:line: ..."); 0 when the key is unset. */
unsigned config_key_line(const struct config *config, const char *key);

/* Call cb for every set key starting with prefix, in file order. */
typedef void config_iter_cb(const char *key, const char *value, void *ctx);
void config_iter_prefix(const struct config *config, const char *prefix, config_iter_cb *cb,
                        void *ctx);

/* Look up a key in the table (exact name or prefix); NULL if unknown. */
const struct config_key *config_key_find(const char *name);
/* Check value against key's type; returns -1 with a reason. */
int config_value_check(const struct config_key *key, const char *value, const char **reason_r);
/* Parse a bool the way the config does; -1 when it is not one. */
int config_parse_bool(const char *value, bool *value_r);

#endif
