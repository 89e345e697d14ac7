/* log.c - one line per event, to stderr or syslog. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static char log_service[32] = "roost";
static char log_session_id[40];
static enum log_level log_min_level = LOG_LEVEL_INFO;
static int log_syslog = 0;

static const char *const log_level_names[] = {
    "debug", "info", "notice", "warning", "error", "fatal",
};

void log_init(const char *service)
{
    snprintf(log_service, sizeof(log_service), "%s", service);
}

static const struct {
    const char *name;
    int facility;
} log_facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_use_syslog(const char *facility)
{
    for (size_t i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]); i++) {
        if (strcasecmp(facility, log_facilities[i].name) == 0) {
            openlog(log_service, LOG_PID | LOG_NDELAY, log_facilities[i].facility);
            log_syslog = 1;
            return 0;
        }
    }
    return -1;
}

void log_set_level(enum log_level level)
{
    log_min_level = level;
}

int log_level_parse(const char *name, enum log_level *level_r)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            *level_r = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_session(const char *id)
{
    if (id == NULL)
        log_session_id[0] = '\0';
    else
        snprintf(log_session_id, sizeof(log_session_id), "%s", id);
}

const char *log_new_session(void)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char raw[12];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, raw, sizeof(raw));
        if (n > 0)
            got = (size_t)n;
        close(fd);
    }
    for (size_t i = got; i < sizeof(raw); i++)
        raw[i] = (unsigned char)((unsigned)getpid() * 31u + (unsigned)time(NULL) + i * 7u);
    for (size_t i = 0; i < sizeof(raw); i++)
        log_session_id[i] = alphabet[raw[i] % 36];
    log_session_id[sizeof(raw)] = '\0';
    return log_session_id;
}

const char *log_session(void)
{
    return log_session_id;
}

static int log_syslog_priority(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG: return LOG_DEBUG;
    case LOG_LEVEL_INFO: return LOG_INFO;
    case LOG_LEVEL_NOTICE: return LOG_NOTICE;
    case LOG_LEVEL_WARNING: return LOG_WARNING;
    case LOG_LEVEL_ERROR: return LOG_ERR;
    case LOG_LEVEL_FATAL: return LOG_CRIT;
    }
    return LOG_ERR;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level < log_min_level)
        return;
    int saved_errno = errno;
    char text[LOG_LINE_MAX];
    vsnprintf(text, sizeof(text), fmt, ap);
    /* Whatever came from the network: no line breaks, no escapes. */
    for (char *p = text; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    if (log_syslog) {
        if (log_session_id[0] != '\0')
            syslog(log_syslog_priority(level), "%s: %s: %s", log_session_id,
                   log_level_names[level], text);
        else
            syslog(log_syslog_priority(level), "%s: %s", log_level_names[level], text);
    } else {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        char line[LOG_LINE_MAX + 128];
        int n = snprintf(line, sizeof(line), "%s %s[%ld]%s%s %s: %s\n", stamp, log_service,
                         (long)getpid(), log_session_id[0] ? " " : "", log_session_id,
                         log_level_names[level], text);
        if (n > 0) {
            size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
            /* One write per line so that lines from many processes never mix. */
            ssize_t w = write(STDERR_FILENO, line, len);
            (void)w;
        }
    }
    errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

#define LOG_DEFINE(fn, level)                 \
    void fn(const char *fmt, ...)             \
    {                                         \
        va_list ap;                           \
        va_start(ap, fmt);                    \
        log_vmsg(level, fmt, ap);             \
        va_end(ap);                           \
    }

LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_notice, LOG_LEVEL_NOTICE)
LOG_DEFINE(log_warning, LOG_LEVEL_WARNING)
LOG_DEFINE(log_error, LOG_LEVEL_ERROR)

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_FATAL, fmt, ap);
    va_end(ap);
    exit(75);
}

void log_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_FATAL, fmt, ap);
    va_end(ap);
    abort();
}
