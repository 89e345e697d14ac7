/* log.h - one line per event: service name, pid, session id, level.
 *
 * Lines go to stderr (the default, and what master collects) or to syslog
 * once log_use_syslog() is called.  Every message is sanitised: control
 * characters from the network never split or forge a log line.  Never log
 * a password or a SASL exchange. */
#ifndef ROOST_LOG_H
#define ROOST_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_NOTICE,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_FATAL,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Set the service name shown in every line ("imapd", "master" ...). */
void log_init(const char *service);
/* Send lines to syslog with the named facility ("mail", "local6" ...);
 * returns -1 for an unknown facility name. */
int log_use_syslog(const char *facility);
void log_set_level(enum log_level level);
/* Parse "debug", "info", ... ; returns -1 when unknown. */
int log_level_parse(const char *name, enum log_level *level_r);
/* Session id shown in each line; NULL clears it. */
void log_set_session(const char *id);
/* Make a fresh random session id (12 characters) and use it. */
const char *log_new_session(void);
const char *log_session(void);

void log_msg(enum log_level level, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_vmsg(enum log_level level, const char *fmt, va_list ap);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_notice(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warning(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
/* A broken environment (out of memory, unreadable config): log and exit(75)
 * so that master restarts the process and an MTA retries. */
_Noreturn void log_fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
/* A broken invariant, i.e. a bug: log and abort(). */
_Noreturn void log_panic(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
