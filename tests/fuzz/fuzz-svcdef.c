/* fuzz-svcdef.c - libFuzzer target for lib/svcdef.h.
 *
 * The input, made a NUL-terminated string (cut at its first NUL), is
 * parsed as the value of a service-NAME and of a daemon-NAME key, and split
 * into words.  Whatever the input:
 *   - an error has a message that names the key, is printable and short;
 *   - a definition keeps every documented limit (cmd non-empty, listen
 *     counts, prefork * addresses <= maxchild, numbers in range, no control
 *     character in a word, daemons without listen options);
 *   - svcdef_format() of a definition parses back to an equal one (when the
 *     formatted value still fits SVCDEF_VALUE_MAX);
 *   - a split gives at most SVCDEF_WORDS_MAX words, no longer in total than
 *     the input.
 * The first byte, when it is a digit, picks one of a few keys instead
 * (hostile key names).  Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "str.h"
#include "svcdef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                \
    do {                                                                                        \
        if (!(x))                                                                               \
            abort();                                                                            \
    } while (0)

static void check_words(char **words, size_t count)
{
    CHECK(words != NULL);
    CHECK(words[count] == NULL);
    for (size_t i = 0; i < count; i++) {
        CHECK(words[i] != NULL);
        CHECK(str_is_printable(words[i]));
    }
}

static void check_def(const char *key, const struct svcdef *def)
{
    CHECK(def->name != NULL && strlen(def->name) >= 1 && strlen(def->name) <= SVCDEF_NAME_MAX);
    CHECK(strcmp(strchr(key, '-') + 1, def->name) == 0);
    CHECK(def->cmd_count >= 1 && def->cmd_count <= SVCDEF_WORDS_MAX);
    check_words(def->cmd, def->cmd_count);
    CHECK(def->cmd[0][0] != '\0');
    check_words(def->listen, def->listen_count);
    CHECK(def->ignored_count <= SVCDEF_IGNORED_MAX);
    if (def->kind == SVCDEF_DAEMON) {
        CHECK(strncmp(key, "daemon-", 7) == 0);
        CHECK(def->listen_count == 0 && def->prefork == 0 && def->maxchild == 1 &&
              def->maxfor == 0);
        return;
    }
    CHECK(strncmp(key, "service-", 8) == 0);
    CHECK(def->listen_count >= 1 && def->listen_count <= SVCDEF_LISTEN_MAX);
    for (size_t i = 0; i < def->listen_count; i++) {
        size_t len = strlen(def->listen[i]);
        CHECK(len >= 1 && len <= SVCDEF_ADDRESS_MAX);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(def->listen[i], def->listen[j]) != 0);
    }
    CHECK(def->prefork >= 0 && def->prefork <= SVCDEF_PREFORK_MAX);
    CHECK(def->maxchild >= 1 && def->maxchild <= SVCDEF_MAXCHILD_MAX);
    CHECK(def->maxfor >= 0 && def->maxfor <= SVCDEF_MAXFOR_MAX);
    CHECK((size_t)def->prefork * def->listen_count <= (size_t)def->maxchild);
}

static void fuzz_key(const char *key, const char *value)
{
    struct svcdef def;
    const char *error = NULL;
    if (svcdef_parse(key, value, &def, &error) < 0) {
        CHECK(error != NULL);
        CHECK(str_is_printable(error));
        CHECK(strlen(error) < 1024);
        CHECK(def.name == NULL && def.cmd == NULL && def.listen == NULL);
        /* Keys are shown as they are unless cut short or cleaned. */
        if (strlen(key) <= 60 && str_is_printable(key) && strchr(key, '"') == NULL)
            CHECK(strncmp(error, key, strlen(key)) == 0 && error[strlen(key)] == ':');
        return;
    }
    check_def(key, &def);

    struct buf out = BUF_INIT;
    svcdef_format(&def, &out);
    if (out.len <= SVCDEF_VALUE_MAX) {
        struct svcdef back;
        CHECK(svcdef_parse(key, buf_cstr(&out), &back, &error) == 0);
        CHECK(svcdef_equal(&def, &back));
        svcdef_free(&back);
    }
    buf_free(&out);
    svcdef_free(&def);
    CHECK(def.name == NULL && def.cmd == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    static const char *const keys[] = {
        "service-", "daemon-", "services-x", "service-a/b", "service-\x7f",
        "service-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "daemon-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "service-x.y_z-1", "admins", "",
    };
    if (text[0] >= '0' && text[0] <= '9')
        fuzz_key(keys[text[0] - '0'], text + 1);
    fuzz_key("service-fuzz", text);
    fuzz_key("daemon-fuzz", text);

    char **words;
    size_t count;
    const char *error;
    if (svcdef_words_split(text, &words, &count, &error) == 0) {
        check_words(words, count);
        CHECK(count <= SVCDEF_WORDS_MAX);
        size_t total = 0;
        for (size_t i = 0; i < count; i++)
            total += strlen(words[i]);
        CHECK(total <= strlen(text));
        svcdef_words_free(words);
    } else {
        CHECK(error != NULL && str_is_printable(error));
    }
    free(text);
    return 0;
}
