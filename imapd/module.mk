# imapd: the IMAP server (see docs/imapd.md).
PROGRAMS += imapd
imapd_SRCS := $(wildcard imapd/*.c)
