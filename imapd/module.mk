# imapd: the IMAP server (see docs/imapd.md).
ifneq ($(wildcard imapd/imapd.c),)
PROGRAMS += imapd
imapd_SRCS := $(wildcard imapd/*.c)
endif
