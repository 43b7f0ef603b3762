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
};

enum {
	RIPSEC_A_UNSPEC,
	RIPSEC_A_VERSION = 1,
	RIPSEC_A_FAMILY_VERSION = 2,
	RIPSEC_A_ALG = 3,
	RIPSEC_A_NETNS_COOKIE = 4,
	RIPSEC_A_NETNS_REQUESTS = 5,
	RIPSEC_A_PAD = 6,
	RIPSEC_A_MAX = 6
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

/* Request policy for the top-level attribute set. */
#define RIPSEC_POLICY_INIT { \
	[RIPSEC_A_VERSION] = { .type = NLA_NUL_STRING }, \
	[RIPSEC_A_FAMILY_VERSION] = { .type = NLA_U8 }, \
	[RIPSEC_A_ALG] = { .type = NLA_REJECT }, \
	[RIPSEC_A_NETNS_COOKIE] = { .type = NLA_U64 }, \
	[RIPSEC_A_NETNS_REQUESTS] = { .type = NLA_U64 }, \
	[RIPSEC_A_PAD] = { .type = NLA_REJECT }, \
}

#define RIPSEC_MCGRPS_INIT { \
	{ .name = "events" }, \
}

#endif /* RIPSEC_UAPI_H */
