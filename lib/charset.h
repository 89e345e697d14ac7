/* charset.h - every charset and Unicode operation of Roost, through ICU.
 *
 * NAME
 *     charset - charset conversion, UTF-8 checks, case folding for SEARCH
 *     and SORT, IMAP modified UTF-7 mailbox names, RFC 2047 header words.
 *
 * DESCRIPTION
 *     This module is the only place that includes ICU headers; nothing else
 *     in Roost knows a charset or a Unicode table.  The work is spread over
 *     small files: charset.c (names, converters, conversion, UTF-8),
 *     charset_fold.c (the comparison form), charset_mutf7.c (mailbox
 *     names), charset_header.c (RFC 2047).
 *
 *     Every function appends to its output buffer (it never resets it);
 *     on error the buffer is left as it was before the call.  All output
 *     that is said to be UTF-8 is valid UTF-8.
 *
 *     Charset names are resolved through ICU's alias table (case and
 *     punctuation insensitive: "utf-8", "UTF8", "latin1", "cp1252", "sjis",
 *     "iso-2022-jp" ...).  Names are at most CHARSET_NAME_MAX bytes of
 *     letters, digits and "-_.:+"; anything else is an unknown charset (this
 *     keeps ICU's option syntax such as "utf-8,swaplfnl" out of reach of
 *     mail).  Opening a converter is slow, so a few are kept open in a
 *     small per-process cache keyed by ICU's canonical name; roost
 *     processes are single-threaded, and so is this module.
 *
 *     Decoding labelled text follows what mail readers actually do
 *     (and the WHATWG Encoding standard), because mail labels lie in
 *     predictable ways:
 *     - "us-ascii" (any alias): pure ASCII is copied; text with 8-bit
 *       bytes gets the unlabelled-text rule below, since 8-bit mail
 *       labelled us-ascii (or not labelled at all) is common.
 *     - a few labels are decoded with the Windows superset of the charset
 *       they name: iso-8859-1 as windows-1252, iso-8859-9 as windows-1254,
 *       gb2312 and gbk as gb18030, euc-kr as windows-949.  Text valid in
 *       the label's charset decodes the same; the bytes the label leaves
 *       undefined (C1 controls, extension sequences) get the character the
 *       sender's software meant.
 *     - unlabelled 8-bit text (raw bytes in headers): UTF-8 when the whole
 *       text is valid UTF-8, windows-1252 otherwise.
 *     Malformed input never fails a decode: each malformed sequence
 *     (a maximal invalid subpart, as the Unicode standard recommends)
 *     becomes U+FFFD.  Encoding (charset_from_utf8) is strict and uses
 *     the label's own charset.
 *
 *     Case folding (charset_fold) gives the form that SEARCH and SORT
 *     compare: NFC, then Unicode full case folding, then NFC again, so
 *     that canonically equivalent spellings ("e" + U+0301 and U+00E9) and
 *     case variants ("STRASSE", "straße", "STRAẞE") fold to the same
 *     bytes.  NFC rather than NFKC (which RFC 5051's i;unicode-casemap
 *     effectively uses): compatibility mappings (full-width forms,
 *     superscripts, circled digits) change meaning often enough that a
 *     search for "2" should not hit "²"; the few compatibility-like
 *     mappings that are part of case folding itself (the "fi" ligature
 *     folds to "fi", KELVIN SIGN to "k") do apply.  Turkish: U+0130
 *     (capital I with dot) folds to plain "i" rather than "i" + U+0307,
 *     so "İstanbul" finds "istanbul"; dotless U+0131 stays itself (it is
 *     a different letter) and "I" folds to "i" as in every other language.
 *
 * DIAGNOSTICS
 *     Functions that can fail return -1 and set *error_r to a static,
 *     human-readable reason. */
#ifndef ROOST_CHARSET_H
#define ROOST_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define CHARSET_NAME_MAX 63
/* Longest modified UTF-7 or UTF-8 mailbox name accepted, in bytes. */
#define CHARSET_MAILBOX_NAME_MAX 65535

/* ---- charsets ---- */

/* True when name is a charset ICU can convert (after alias resolution). */
bool charset_is_known(const char *name);

/* Append the UTF-8 form of len bytes of in, labelled charset, with the
 * decoding rules above.  Returns 0; -1 only for an unknown charset (or an
 * internal ICU failure), never for malformed input. */
int charset_to_utf8(const char *charset, const void *in, size_t len,
                    struct buf *out, const char **error_r);

/* Append utf8 (len bytes) converted to charset.  Strict: returns -1 when
 * the charset is unknown, utf8 is not valid UTF-8, or a character cannot be
 * represented in the charset.  Stateful encodings (iso-2022-jp) end in
 * their initial state. */
int charset_from_utf8(const char *charset, const char *utf8, size_t len,
                      struct buf *out, const char **error_r);

/* ---- UTF-8 ---- */

/* True when s is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF).  NUL bytes are valid characters. */
bool charset_utf8_valid(const void *s, size_t len);
/* Append s with each maximal invalid subpart replaced by U+FFFD. */
void charset_utf8_repair(const void *s, size_t len, struct buf *out);
/* Append unlabelled text: s itself when it is valid UTF-8, else s decoded
 * as windows-1252 (which maps every byte). */
void charset_8bit_to_utf8(const void *s, size_t len, struct buf *out);

/* ---- comparison form ---- */

/* Append the folded form of utf8 (see DESCRIPTION); invalid UTF-8 is
 * repaired first (U+FFFD).  Pure ASCII never touches ICU.  Both sides of
 * a comparison must be folded by this function. */
void charset_fold(const char *utf8, size_t len, struct buf *out);
/* True when needle_folded occurs in haystack_folded (an empty needle
 * always does); both must come from charset_fold(). */
bool charset_fold_contains(const char *haystack_folded, size_t hlen,
                           const char *needle_folded, size_t nlen);

/* ---- IMAP modified UTF-7 mailbox names (RFC 3501 5.1.3) ---- */

/* Append the UTF-8 form of the NUL-terminated mutf7.  Strict, because a
 * hostile client sends these: -1 for a byte that is not printable ASCII,
 * an unterminated "&" sequence, bad modified base64, an unpaired
 * surrogate, an encoded character that must be written plainly, any
 * non-canonical form (adjacent "&...-&...-" runs, non-zero padding bits),
 * a control character (U+0000..U+001F, U+007F), or a name longer than
 * CHARSET_MAILBOX_NAME_MAX. */
int charset_mutf7_to_utf8(const char *mutf7, struct buf *out,
                          const char **error_r);
/* Append the modified UTF-7 form of the NUL-terminated utf8; -1 for
 * invalid UTF-8, a control character or an over-long name. */
int charset_utf8_to_mutf7(const char *utf8, struct buf *out,
                          const char **error_r);

/* ---- RFC 2047 header values ---- */

/* Append the UTF-8 form of a header value (the part after "Name:", CRLF
 * folding included or not):
 * - folding (CRLF or LF followed by a space or tab) is unfolded: the line
 *   break is removed, the whitespace kept;
 * - encoded-words =?charset[*language]?B|Q?text?= are decoded, wherever
 *   they appear; whitespace between two adjacent encoded-words is dropped
 *   (RFC 2047 6.2), and adjacent words in the same charset are decoded
 *   together, so a character split across two words (a common encoder
 *   bug) survives;
 * - a word with an unknown charset or malformed base64 is left as it is;
 * - other text goes through charset_8bit_to_utf8();
 * - NUL bytes (raw or encoded) are dropped.
 * Linear time and memory in len whatever the input.  Returns 1 when at
 * least one encoded-word was decoded, 0 otherwise. */
int charset_decode_header(const char *value, size_t len, struct buf *out_utf8);

/* ---- process lifetime ---- */

/* Close the cached converters and free scratch memory (for leak checkers
 * and tests); the module reopens what it needs on next use. */
void charset_deinit(void);

#endif
