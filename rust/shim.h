/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between ripsec's Rust code and the kernel: functions shim.c provides to Rust
 * (declared again in rust/ffi.rs) and the callbacks Rust provides to shim.c.
 */
#ifndef RIPSEC_SHIM_H
#define RIPSEC_SHIM_H

#include <linux/types.h>

struct net;
struct genl_info;
struct sk_buff;
struct nlattr;

/* Provided by Rust. */
int ripsec_rs_net_init(struct net *net, void **state);
void ripsec_rs_net_exit(void *state);
int ripsec_rs_get_info(struct sk_buff *skb, struct genl_info *info);

/* Provided by shim.c. */
int ripsec_shim_pernet_register(void);
void ripsec_shim_pernet_unregister(void);
void *ripsec_shim_net_state(struct net *net);
u64 ripsec_shim_net_cookie(struct net *net);
int ripsec_shim_genl_register(void);
void ripsec_shim_genl_unregister(void);
struct net *ripsec_shim_genl_info_net(struct genl_info *info);
struct sk_buff *ripsec_shim_genl_reply_new(struct genl_info *info, u8 cmd, size_t size, void **hdr);
int ripsec_shim_genl_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info);
void ripsec_shim_nlmsg_free(struct sk_buff *skb);
int ripsec_shim_nla_put(struct sk_buff *skb, int type, int len, const void *data);
int ripsec_shim_nla_put_u64(struct sk_buff *skb, int type, u64 value);
struct nlattr *ripsec_shim_nla_nest_start(struct sk_buff *skb, int type);
void ripsec_shim_nla_nest_end(struct sk_buff *skb, struct nlattr *nest);
bool ripsec_shim_crypto_has_aead(const char *name);
bool ripsec_shim_crypto_has_ahash(const char *name);

#endif /* RIPSEC_SHIM_H */
