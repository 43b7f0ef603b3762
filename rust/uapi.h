/* SPDX-License-Identifier: GPL-2.0 */
/* Generated from rust/proto/src/uapi.rs by `make uapi`. Do not edit. */
#ifndef RIPSEC_UAPI_H
#define RIPSEC_UAPI_H

#define RIPSEC_FAMILY_NAME "ripsec"
#define RIPSEC_FAMILY_VERSION 1
#define RIPSEC_VERSION "0.1.0"

enum ripsec_cmd {
	RIPSEC_CMD_UNSPEC,
	RIPSEC_CMD_GET_INFO = 1,
	RIPSEC_CMD_SA_ADD = 2,
	RIPSEC_CMD_SA_UPDATE = 3,
	RIPSEC_CMD_SA_DEL = 4,
	RIPSEC_CMD_SA_GET = 5,
	RIPSEC_CMD_SA_FLUSH = 6,
	RIPSEC_CMD_SP_ADD = 7,
	RIPSEC_CMD_SP_DEL = 8,
	RIPSEC_CMD_SP_GET = 9,
	RIPSEC_CMD_SP_FLUSH = 10,
	RIPSEC_CMD_GETSPI = 11,
	RIPSEC_CMD_GET_STATS = 12,
	RIPSEC_CMD_EXPIRE = 13,
	RIPSEC_CMD_ACQUIRE = 14,
};

enum {
	RIPSEC_A_UNSPEC,
	RIPSEC_A_VERSION = 1,
	RIPSEC_A_FAMILY_VERSION = 2,
	RIPSEC_A_ALG = 3,
	RIPSEC_A_NETNS_COOKIE = 4,
	RIPSEC_A_NETNS_REQUESTS = 5,
	RIPSEC_A_PAD = 6,
	RIPSEC_A_SA_SPI = 7,
	RIPSEC_A_SA_PROTO = 8,
	RIPSEC_A_SA_MODE = 9,
	RIPSEC_A_SA_FAMILY = 10,
	RIPSEC_A_SA_SRC = 11,
	RIPSEC_A_SA_DST = 12,
	RIPSEC_A_SA_ALG = 13,
	RIPSEC_A_SA_KEY = 14,
	RIPSEC_A_SA_REQID = 15,
	RIPSEC_A_SA_REPLAY_WINDOW = 16,
	RIPSEC_A_SA_ESN = 17,
	RIPSEC_A_SA_SOFT_BYTES = 18,
	RIPSEC_A_SA_SOFT_PACKETS = 19,
	RIPSEC_A_SA_SOFT_ADD_SECS = 20,
	RIPSEC_A_SA_SOFT_USE_SECS = 21,
	RIPSEC_A_SA_HARD_BYTES = 22,
	RIPSEC_A_SA_HARD_PACKETS = 23,
	RIPSEC_A_SA_HARD_ADD_SECS = 24,
	RIPSEC_A_SA_HARD_USE_SECS = 25,
	RIPSEC_A_STATS = 26,
	RIPSEC_A_SP_DIR = 27,
	RIPSEC_A_SP_PRIORITY = 28,
	RIPSEC_A_SP_ACTION = 29,
	RIPSEC_A_SP_ID = 30,
	RIPSEC_A_SEL_FAMILY = 31,
	RIPSEC_A_SEL_SRC = 32,
	RIPSEC_A_SEL_SRC_LEN = 33,
	RIPSEC_A_SEL_DST = 34,
	RIPSEC_A_SEL_DST_LEN = 35,
	RIPSEC_A_SEL_PROTO = 36,
	RIPSEC_A_SEL_SPORT_LO = 37,
	RIPSEC_A_SEL_SPORT_HI = 38,
	RIPSEC_A_SEL_DPORT_LO = 39,
	RIPSEC_A_SEL_DPORT_HI = 40,
	RIPSEC_A_TMPL_PROTO = 41,
	RIPSEC_A_TMPL_MODE = 42,
	RIPSEC_A_TMPL_REQID = 43,
	RIPSEC_A_TMPL_FAMILY = 44,
	RIPSEC_A_TMPL_SRC = 45,
	RIPSEC_A_TMPL_DST = 46,
	RIPSEC_A_SPI_MIN = 47,
	RIPSEC_A_SPI_MAX = 48,
	RIPSEC_A_EXPIRE_HARD = 49,
	RIPSEC_A_SA_ADD_TIME = 50,
	RIPSEC_A_SA_SEQ_OUT = 51,
	RIPSEC_A_SA_REPLAY_TOP = 52,
	RIPSEC_A_SHOW_KEYS = 53,
	RIPSEC_A_SA_COUNT = 54,
	RIPSEC_A_SP_COUNT = 55,
	RIPSEC_A_SA_CRYPTO_DRIVER = 56,
	RIPSEC_A_MAX = 56
};

enum {
	RIPSEC_A_ALG_UNSPEC,
	RIPSEC_A_ALG_NAME = 1,
	RIPSEC_A_ALG_PROTO = 2,
	RIPSEC_A_ALG_KERNEL_NAME = 3,
	RIPSEC_A_ALG_ENC_KEY_BITS = 4,
	RIPSEC_A_ALG_ICV_LEN = 5,
	RIPSEC_A_ALG_AVAILABLE = 6,
	RIPSEC_A_ALG_MAX = 6
};

enum {
	RIPSEC_A_STATS_UNSPEC,
	RIPSEC_A_STATS_PACKETS_IN = 1,
	RIPSEC_A_STATS_BYTES_IN = 2,
	RIPSEC_A_STATS_PACKETS_OUT = 3,
	RIPSEC_A_STATS_BYTES_OUT = 4,
	RIPSEC_A_STATS_DROP_REPLAY = 5,
	RIPSEC_A_STATS_DROP_AUTH = 6,
	RIPSEC_A_STATS_DROP_TRAILER = 7,
	RIPSEC_A_STATS_DROP_NO_SA = 8,
	RIPSEC_A_STATS_DROP_POLICY = 9,
	RIPSEC_A_STATS_DROP_SEQ_OVERFLOW = 10,
	RIPSEC_A_STATS_DROP_EXPIRED = 11,
	RIPSEC_A_STATS_DROP_MALFORMED = 12,
	RIPSEC_A_STATS_DROP_DISCARD = 13,
	RIPSEC_A_STATS_DROP_MTU = 14,
	RIPSEC_A_STATS_DROP_NOMEM = 15,
	RIPSEC_A_STATS_PAD = 16,
	RIPSEC_A_STATS_MAX = 16
};

/* Request policy for the top-level attribute set. */
#define RIPSEC_POLICY_INIT { \
	[RIPSEC_A_VERSION] = { .type = NLA_NUL_STRING }, \
	[RIPSEC_A_FAMILY_VERSION] = { .type = NLA_U8 }, \
	[RIPSEC_A_ALG] = { .type = NLA_REJECT }, \
	[RIPSEC_A_NETNS_COOKIE] = { .type = NLA_U64 }, \
	[RIPSEC_A_NETNS_REQUESTS] = { .type = NLA_U64 }, \
	[RIPSEC_A_PAD] = { .type = NLA_REJECT }, \
	[RIPSEC_A_SA_SPI] = { .type = NLA_U32 }, \
	[RIPSEC_A_SA_PROTO] = { .type = NLA_U8 }, \
	[RIPSEC_A_SA_MODE] = { .type = NLA_U8 }, \
	[RIPSEC_A_SA_FAMILY] = { .type = NLA_U8 }, \
	[RIPSEC_A_SA_SRC] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_SA_DST] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_SA_ALG] = { .type = NLA_NUL_STRING }, \
	[RIPSEC_A_SA_KEY] = { .type = NLA_BINARY, .len = 64 }, \
	[RIPSEC_A_SA_REQID] = { .type = NLA_U32 }, \
	[RIPSEC_A_SA_REPLAY_WINDOW] = { .type = NLA_U32 }, \
	[RIPSEC_A_SA_ESN] = { .type = NLA_FLAG }, \
	[RIPSEC_A_SA_SOFT_BYTES] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_SOFT_PACKETS] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_SOFT_ADD_SECS] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_SOFT_USE_SECS] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_HARD_BYTES] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_HARD_PACKETS] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_HARD_ADD_SECS] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_HARD_USE_SECS] = { .type = NLA_U64 }, \
	[RIPSEC_A_STATS] = { .type = NLA_REJECT }, \
	[RIPSEC_A_SP_DIR] = { .type = NLA_U8 }, \
	[RIPSEC_A_SP_PRIORITY] = { .type = NLA_U32 }, \
	[RIPSEC_A_SP_ACTION] = { .type = NLA_U8 }, \
	[RIPSEC_A_SP_ID] = { .type = NLA_U32 }, \
	[RIPSEC_A_SEL_FAMILY] = { .type = NLA_U8 }, \
	[RIPSEC_A_SEL_SRC] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_SEL_SRC_LEN] = { .type = NLA_U8 }, \
	[RIPSEC_A_SEL_DST] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_SEL_DST_LEN] = { .type = NLA_U8 }, \
	[RIPSEC_A_SEL_PROTO] = { .type = NLA_U8 }, \
	[RIPSEC_A_SEL_SPORT_LO] = { .type = NLA_U16 }, \
	[RIPSEC_A_SEL_SPORT_HI] = { .type = NLA_U16 }, \
	[RIPSEC_A_SEL_DPORT_LO] = { .type = NLA_U16 }, \
	[RIPSEC_A_SEL_DPORT_HI] = { .type = NLA_U16 }, \
	[RIPSEC_A_TMPL_PROTO] = { .type = NLA_U8 }, \
	[RIPSEC_A_TMPL_MODE] = { .type = NLA_U8 }, \
	[RIPSEC_A_TMPL_REQID] = { .type = NLA_U32 }, \
	[RIPSEC_A_TMPL_FAMILY] = { .type = NLA_U8 }, \
	[RIPSEC_A_TMPL_SRC] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_TMPL_DST] = { .type = NLA_BINARY, .len = 16 }, \
	[RIPSEC_A_SPI_MIN] = { .type = NLA_U32 }, \
	[RIPSEC_A_SPI_MAX] = { .type = NLA_U32 }, \
	[RIPSEC_A_EXPIRE_HARD] = { .type = NLA_FLAG }, \
	[RIPSEC_A_SA_ADD_TIME] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_SEQ_OUT] = { .type = NLA_U64 }, \
	[RIPSEC_A_SA_REPLAY_TOP] = { .type = NLA_U64 }, \
	[RIPSEC_A_SHOW_KEYS] = { .type = NLA_FLAG }, \
	[RIPSEC_A_SA_COUNT] = { .type = NLA_U32 }, \
	[RIPSEC_A_SP_COUNT] = { .type = NLA_U32 }, \
	[RIPSEC_A_SA_CRYPTO_DRIVER] = { .type = NLA_NUL_STRING }, \
}

/* One entry per request command; Rust dispatches on the command. */
#define RIPSEC_OPS_INIT { \
	{ .cmd = RIPSEC_CMD_GET_INFO, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SA_ADD, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SA_UPDATE, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SA_DEL, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SA_GET, .doit = ripsec_rs_doit, .dumpit = ripsec_rs_dumpit, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SA_FLUSH, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SP_ADD, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SP_DEL, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SP_GET, .doit = ripsec_rs_doit, .dumpit = ripsec_rs_dumpit, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_SP_FLUSH, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_GETSPI, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
	{ .cmd = RIPSEC_CMD_GET_STATS, .doit = ripsec_rs_doit, .dumpit = NULL, \
	  .flags = GENL_UNS_ADMIN_PERM }, \
}

#define RIPSEC_MCGRPS_INIT { \
	{ .name = "events" }, \
}

#endif /* RIPSEC_UAPI_H */
