PROGRAMS += master
master_SRCS := $(wildcard master/*.c)
