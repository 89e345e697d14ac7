# lmtpd: the LMTP server; deliver: the Cyrus-compatible command that hands a
# message on stdin to lmtpd over its unix socket (see docs/lmtpd.md).
PROGRAMS += lmtpd deliver
lmtpd_SRCS := lmtpd/lmtpd.c lmtpd/lmtp_session.c lmtpd/lmtp_input.c lmtpd/lmtp_data.c \
              lmtpd/lmtp_recipient.c lmtpd/lmtp_deliver.c
deliver_SRCS := lmtpd/deliver.c
