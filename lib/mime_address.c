/* mime_address.c - RFC 5322 address lists for the IMAP ENVELOPE.
 *
 * NAME
 *     mime_address_parse - From:/To:/Cc: ... values into address lists.
 *
 * DESCRIPTION
 *     A tokenizer (atoms, quoted strings, domain literals, the specials
 *     < > : ; @ , and comments, which are skipped but remembered) feeds a
 *     one-pass parser of the RFC 5322 grammar with its obsolete forms:
 *
 *       display-name <local@domain>     name, mailbox, host
 *       local@domain (Comment)          a comment stands in for a missing name
 *       <@route1,@route2:local@domain>  adl = "@route1,@route2"
 *       group: a@b, c@d;                start marker, members, end marker
 *       undisclosed-recipients:;        an empty group
 *       "quoted local"@domain           mailbox = quoted local (unquoted)
 *       local                           host = "" (missing domain)
 *       <>                              mailbox = "", host = ""
 *
 *     Names are the phrase words joined by one space, quotes removed,
 *     RFC 2047 encoded-words kept raw (IMAP sends them raw).  A mailbox
 *     always has a non-NULL host ("" when the domain is missing) because
 *     a NULL host is how IMAP marks groups.  Junk is salvaged rather than
 *     rejected: missing commas between addresses, stray brackets,
 *     unterminated quotes, comments and groups all give something; a
 *     phrase followed by an address without angle brackets ("Name"
 *     user@host) is split at its last blank.  Nested groups are flattened.
 *     Linear in the input; nothing recurses; at most MIME_MAX_ADDRESSES
 *     addresses are kept per list (plus the end marker of a group left
 *     open), so a hostile header cannot make a huge envelope. */
#include "mime.h"
#include "mime_private.h"

#include "buf.h"
#include "pool.h"

#include <string.h>

enum tok_type { T_END, T_ATOM, T_QUOTED, T_LITERAL, T_SPECIAL };

struct tok {
    enum tok_type type;
    const char *s;     /* atom/literal: raw bytes; quoted: the content */
    size_t len;
    char c;            /* T_SPECIAL */
    bool space_before; /* blanks or a comment before the token */
};

struct aparser {
    const char *p;
    struct pool *pool;
    struct tok tok;
    const char *comment;  /* the last comment seen (content, raw) */
    size_t comment_len;
    struct buf word;      /* scratch: a quoted string's unescaped text */
    struct mime_address *head, **tail;
    unsigned count;       /* addresses kept (at most MIME_MAX_ADDRESSES) */
};

static bool is_special(char c)
{
    return c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',';
}

static bool is_atom_char(char c)
{
    return c != '\0' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '(' &&
           c != ')' && c != '"' && c != '[' && c != ']' && !is_special(c);
}

static void next(struct aparser *ap)
{
    const char *p = ap->p;
    struct tok *t = &ap->tok;
    t->space_before = false;
    for (;;) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ')' || *p == ']') {
            t->space_before = true;
            p++;
        } else if (*p == '(') {
            const char *start = p + 1;
            p = mime_skip_cfws(p);   /* skips this comment and blanks after it */
            const char *end = p;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                                   end[-1] == '\n'))
                end--;
            if (end > start && end[-1] == ')')
                end--;
            ap->comment = start;
            ap->comment_len = (size_t)(end - start);
            t->space_before = true;
        } else {
            break;
        }
    }
    if (*p == '\0') {
        t->type = T_END;
    } else if (is_special(*p)) {
        t->type = T_SPECIAL;
        t->c = *p++;
    } else if (*p == '"') {
        buf_reset(&ap->word);
        p++;
        while (*p != '\0' && *p != '"') {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (*p != '\r' && *p != '\n')
                buf_append_char(&ap->word, *p);
            p++;
        }
        if (*p == '"')
            p++;
        t->type = T_QUOTED;
        t->s = buf_cstr(&ap->word);
        t->len = ap->word.len;
    } else if (*p == '[') {
        const char *start = p++;
        while (*p != '\0' && *p != ']')
            p++;
        if (*p == ']')
            p++;
        t->type = T_LITERAL;
        t->s = start;
        t->len = (size_t)(p - start);
    } else {
        const char *start = p;
        while (is_atom_char(*p))
            p++;
        t->type = T_ATOM;
        t->s = start;
        t->len = (size_t)(p - start);
    }
    ap->p = p;
}

static bool is_word(const struct tok *t)
{
    return t->type == T_ATOM || t->type == T_QUOTED || t->type == T_LITERAL;
}

static bool is_special_tok(const struct tok *t, char c)
{
    return t->type == T_SPECIAL && t->c == c;
}

/* Append without CR/LF (a literal or an atom never holds them; quoted
 * strings had them removed). */
static void append_tok(struct buf *b, const struct tok *t)
{
    buf_append(b, t->s, t->len);
}

static char *buf_pool_dup(struct aparser *ap, const struct buf *b)
{
    return pool_strndup(ap->pool, buf_cstr(b), b->len);
}

/* Append an address; false when the list is full (group end markers are
 * always kept so that groups stay balanced). */
static bool emit(struct aparser *ap, const char *name, const char *adl, const char *mailbox,
                 const char *host)
{
    bool end_marker = mailbox == NULL && host == NULL;
    if (!end_marker && ap->count >= MIME_MAX_ADDRESSES) {
        ap->comment = NULL;
        return false;
    }
    ap->count++;
    struct mime_address *a = pool_alloc(ap->pool, sizeof(*a));
    a->name = name;
    a->adl = adl;
    a->mailbox = mailbox;
    a->host = host;
    *ap->tail = a;
    ap->tail = &a->next;
    ap->comment = NULL;   /* used up */
    return true;
}

/* A word continues a dotted sequence (local part or domain) when nothing
 * separates it from the previous one or a dot joins them. */
static bool joins(const struct tok *t, bool prev_ends_dot)
{
    if (!t->space_before || prev_ends_dot)
        return true;
    return t->type == T_ATOM && t->len > 0 && t->s[0] == '.';
}

static bool ends_dot(const struct tok *t)
{
    return t->type == T_ATOM && t->len > 0 && t->s[t->len - 1] == '.';
}

/* domain = words joined while they join; the current token is the first
 * token after '@'. */
static char *parse_domain(struct aparser *ap)
{
    struct buf d = BUF_INIT;
    bool first = true, dot = false;
    while ((ap->tok.type == T_ATOM || ap->tok.type == T_LITERAL) &&
           (first || joins(&ap->tok, dot))) {
        append_tok(&d, &ap->tok);
        dot = ends_dot(&ap->tok);
        first = false;
        next(ap);
    }
    char *s = buf_pool_dup(ap, &d);
    buf_free(&d);
    return s;
}

static const char *comment_name(struct aparser *ap)
{
    if (ap->comment == NULL)
        return NULL;
    char *s = mime_unfold_dup(ap->pool, ap->comment, ap->comment_len);
    return s[0] == '\0' ? NULL : s;
}

/* After '<': [route ":"] local ["@" domain] ">" */
static void parse_angle(struct aparser *ap, const char *name)
{
    struct buf adl = BUF_INIT, local = BUF_INIT;
    bool have_adl = false;

    if (is_special_tok(&ap->tok, '@')) {
        while (is_special_tok(&ap->tok, '@') || is_special_tok(&ap->tok, ',')) {
            if (ap->tok.c == '@') {
                next(ap);
                char *dom = parse_domain(ap);
                buf_append_char(&adl, '@');
                buf_append_str(&adl, dom);
            } else {
                next(ap);
                if (is_special_tok(&ap->tok, '@'))
                    buf_append_char(&adl, ',');
            }
        }
        have_adl = true;
        if (is_special_tok(&ap->tok, ':'))
            next(ap);
    }
    bool dot = false, first = true;
    while (is_word(&ap->tok) && (first || joins(&ap->tok, dot))) {
        append_tok(&local, &ap->tok);
        dot = ends_dot(&ap->tok);
        first = false;
        next(ap);
    }
    const char *host = "";
    if (is_special_tok(&ap->tok, '@')) {
        next(ap);
        host = parse_domain(ap);
    }
    /* junk up to the closing bracket */
    while (ap->tok.type != T_END && !is_special_tok(&ap->tok, '>') &&
           !is_special_tok(&ap->tok, ',') && !is_special_tok(&ap->tok, ';') &&
           !is_special_tok(&ap->tok, '<'))
        next(ap);
    if (is_special_tok(&ap->tok, '>'))
        next(ap);
    if (name == NULL)
        name = comment_name(ap);
    emit(ap, name, have_adl && adl.len > 0 ? buf_pool_dup(ap, &adl) : NULL,
         buf_pool_dup(ap, &local), host);
    buf_free(&adl);
    buf_free(&local);
}

/* One mailbox or the start of a group.  Returns true when a group starts. */
static bool parse_one(struct aparser *ap, bool in_group)
{
    struct buf disp = BUF_INIT;    /* all words, space-joined: the display name */
    struct buf before = BUF_INIT;  /* words before the last split point */
    struct buf local = BUF_INIT;   /* words after it, concatenated: a local part */
    bool any = false, dot = false, group = false;

    while (is_word(&ap->tok)) {
        if (any && !joins(&ap->tok, dot)) {
            buf_reset(&before);
            buf_append(&before, disp.data, disp.len);
            buf_reset(&local);
        }
        if (any)
            buf_append_char(&disp, ' ');
        append_tok(&disp, &ap->tok);
        append_tok(&local, &ap->tok);
        dot = ends_dot(&ap->tok);
        any = true;
        next(ap);
    }
    const char *name = any ? buf_pool_dup(ap, &disp) : NULL;
    if (is_special_tok(&ap->tok, ':')) {
        next(ap);
        if (!in_group)
            group = emit(ap, NULL, NULL, name != NULL ? name : "", NULL);
    } else if (is_special_tok(&ap->tok, '<')) {
        next(ap);
        parse_angle(ap, name);
    } else if (any && is_special_tok(&ap->tok, '@')) {
        next(ap);
        char *host = parse_domain(ap);
        const char *cname = comment_name(ap);
        if (before.len > 0)
            cname = buf_pool_dup(ap, &before);
        emit(ap, cname, NULL, buf_pool_dup(ap, &local), host);
    } else if (any) {
        /* a bare local part without domain */
        emit(ap, comment_name(ap), NULL, buf_pool_dup(ap, &local), "");
    } else if (ap->tok.type != T_END && !is_special_tok(&ap->tok, ',') &&
               !is_special_tok(&ap->tok, ';')) {
        next(ap);   /* a stray '>', or '@' without local part */
    }
    buf_free(&disp);
    buf_free(&before);
    buf_free(&local);
    return group;
}

struct mime_address *mime_address_parse(const char *value, struct pool *pool)
{
    struct aparser ap = { .p = value, .pool = pool, .word = BUF_INIT };
    bool in_group = false;

    ap.tail = &ap.head;
    next(&ap);
    while (ap.tok.type != T_END) {
        if (is_special_tok(&ap.tok, ',')) {
            ap.comment = NULL;
            next(&ap);
        } else if (is_special_tok(&ap.tok, ';')) {
            if (in_group)
                emit(&ap, NULL, NULL, NULL, NULL);
            in_group = false;
            ap.comment = NULL;
            next(&ap);
        } else if (parse_one(&ap, in_group)) {
            in_group = true;
        }
    }
    if (in_group)
        emit(&ap, NULL, NULL, NULL, NULL);
    buf_free(&ap.word);
    return ap.head;
}
