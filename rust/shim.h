/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between ripsec's Rust code and the kernel: functions shim.c provides to Rust
 * (declared again in rust/ffi/, next to their safe wrappers) and the callbacks Rust provides to
 * shim.c (rust/entry.h, generated).
 */
#ifndef RIPSEC_SHIM_H
#define RIPSEC_SHIM_H

#include <linux/types.h>

struct net;
struct genl_info;
struct sk_buff;
struct nlattr;
struct netlink_callback;
struct xarray;
struct crypto_aead;
struct crypto_shash;
struct nf_hook_state;
struct ripsec_work;
struct xfrm_state;

/* Provided by Rust (generated from rust/ffi/entry.rs). */
#include "entry.h"

/* Provided by shim.c. */
int ripsec_shim_pernet_register(void);
void ripsec_shim_pernet_unregister(void);
void *ripsec_shim_net_state(struct net *net);
int ripsec_shim_defrag_use(struct net *net);
u64 ripsec_shim_net_cookie(struct net *net);
unsigned int ripsec_shim_mtu_expires(struct net *net, bool ipv6);
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
u8 ripsec_shim_genl_cmd(struct genl_info *info);
const struct nlattr *ripsec_shim_genl_attr(struct genl_info *info, int type);
const u8 *ripsec_shim_genl_attrs(const struct genl_info *info, unsigned int *len);
void ripsec_shim_genl_err(struct genl_info *info, int type, const char *msg);
struct genl_info *ripsec_shim_dump_info(struct netlink_callback *cb);
long *ripsec_shim_dump_args(struct netlink_callback *cb);
struct net *ripsec_shim_dump_net(struct netlink_callback *cb);
void *ripsec_shim_dump_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd);
void ripsec_shim_dump_end(struct sk_buff *skb, void *hdr);
void ripsec_shim_dump_cancel(struct sk_buff *skb, void *hdr);
const void *ripsec_shim_nla_data(const struct nlattr *nla);
int ripsec_shim_nla_len(const struct nlattr *nla);
struct xarray *ripsec_shim_xa_new(void);
void ripsec_shim_xa_free(struct xarray *xa);
void *ripsec_shim_xa_load(struct xarray *xa, unsigned long index);
void *ripsec_shim_xa_store(struct xarray *xa, unsigned long index, void *entry);
void *ripsec_shim_xa_erase(struct xarray *xa, unsigned long index);
void *ripsec_shim_xa_find(struct xarray *xa, unsigned long *index);
bool ripsec_shim_is_err(const void *ptr, int *err);
u32 ripsec_shim_random_u32(void);
u64 ripsec_shim_seconds(void);
void ripsec_shim_memzero(void *p, size_t len);
struct crypto_aead *ripsec_shim_aead_alloc(const char *name);
int ripsec_shim_aead_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int len);
int ripsec_shim_aead_setauthsize(struct crypto_aead *tfm, unsigned int len);
const char *ripsec_shim_aead_driver(struct crypto_aead *tfm);
void ripsec_shim_aead_free(struct crypto_aead *tfm);
struct crypto_shash *ripsec_shim_shash_alloc(const char *name);
int ripsec_shim_shash_setkey(struct crypto_shash *tfm, const u8 *key, unsigned int len);
unsigned int ripsec_shim_shash_digestsize(struct crypto_shash *tfm);
int ripsec_shim_shash_digest3(struct crypto_shash *tfm, const u8 *a, unsigned int alen,
			      const u8 *b, unsigned int blen, const u8 *c, unsigned int clen,
			      u8 *out);
const char *ripsec_shim_shash_driver(struct crypto_shash *tfm);
void ripsec_shim_shash_free(struct crypto_shash *tfm);
int ripsec_shim_memneq(const void *a, const void *b, size_t len);
bool ripsec_shim_crypto_has_aead(const char *name);
bool ripsec_shim_crypto_has_shash(const char *name);

struct sk_buff *ripsec_shim_event_new(struct net *net, u8 cmd, size_t size, bool atomic,
				      void **hdr);
int ripsec_shim_event_send(struct net *net, struct sk_buff *skb, void *hdr, bool atomic);
int ripsec_shim_wq_create(void);
void ripsec_shim_wq_destroy(void);
bool ripsec_shim_defer_drop(void *obj, void (*drop)(void *obj));
struct ripsec_work *ripsec_shim_work_new(struct net *net);
void ripsec_shim_work_queue(struct ripsec_work *w, unsigned int ms, bool now);
void ripsec_shim_work_cancel(struct ripsec_work *w);
void ripsec_shim_work_free(struct ripsec_work *w);
u64 *ripsec_shim_percpu_u64_alloc(unsigned int n);
void ripsec_shim_percpu_u64_free(u64 *c);
void ripsec_shim_percpu_u64_add(u64 *c, unsigned int i, u64 n);
void ripsec_shim_percpu_u64_add2(u64 *c, unsigned int i, u64 m, unsigned int j, u64 n);
u64 ripsec_shim_percpu_u64_sum(u64 *c, unsigned int i);
int ripsec_shim_req_room_alloc(void);
void ripsec_shim_req_room_free(void);
int ripsec_shim_aead_crypt(struct crypto_aead *tfm, u8 *buf, unsigned int len,
			   unsigned int assoclen, unsigned int cryptlen, u8 *iv, bool encrypt);
void ripsec_shim_random_bytes(u8 *buf, size_t len);
void ripsec_shim_local_bh_disable(void);
void ripsec_shim_local_bh_enable(void);
/* Where a writable packet's bytes are; Rust's `ffi::skb::View`. */
struct ripsec_skb_view {
	u8 *data;
	unsigned int len;
};
void ripsec_shim_skb_view(const struct sk_buff *skb, struct ripsec_skb_view *view);
int ripsec_shim_skb_make_writable(struct sk_buff *skb, bool checksum, struct ripsec_skb_view *view);
const u8 *ripsec_shim_skb_walk_head(struct sk_buff *skb, unsigned int want, unsigned int *got,
				    unsigned int *len, bool *gso);
bool ripsec_shim_skb_out_limits(const struct sk_buff *skb, bool ipv6, unsigned int *dev_mtu);
int ripsec_shim_defrag(struct net *net, struct sk_buff *skb, bool ipv6, u32 queue);
bool ripsec_shim_skb_transformed(const struct sk_buff *skb);
unsigned int ripsec_shim_skb_len(const struct sk_buff *skb);
struct sk_buff *ripsec_shim_skb_gso_segment(struct sk_buff *skb);
struct sk_buff *ripsec_shim_skb_next(struct sk_buff *skb);
int ripsec_shim_skb_grow(struct sk_buff *skb, unsigned int keep, unsigned int head,
			 unsigned int tail, unsigned int push, unsigned int put,
			 struct ripsec_skb_view *view);
int ripsec_shim_skb_push(struct sk_buff *skb, unsigned int len, struct ripsec_skb_view *view);
int ripsec_shim_skb_keep(struct sk_buff *skb, unsigned int from, unsigned int len,
			 struct ripsec_skb_view *view);
void ripsec_shim_kfree_skb(struct sk_buff *skb);
int ripsec_shim_output4(struct net *net, struct sk_buff *skb, const u8 *saddr, const u8 *daddr,
			bool ignore_df, bool keep_ident, struct dst_cache *cache);
struct dst_cache *ripsec_shim_dst_cache_new(void);
void ripsec_shim_dst_cache_free(struct dst_cache *c);
void ripsec_shim_ip_select_ident(struct net *net, struct sk_buff *skb, bool ignore_df);
int ripsec_shim_output6(struct net *net, struct sk_buff *skb, const u8 *saddr, const u8 *daddr,
			bool ignore_df, struct dst_cache *cache);
struct xfrm_state *ripsec_shim_marker_new(struct net *net);
void ripsec_shim_marker_put(struct xfrm_state *x);
int ripsec_shim_gro_cells_init(void);
void ripsec_shim_gro_cells_destroy(void);
int ripsec_shim_reinject(struct sk_buff *skb, bool ipv6, struct xfrm_state *marker,
			 bool reassembled, bool checksum_ok);
bool ripsec_shim_skb_decrypted(const struct sk_buff *skb, const struct xfrm_state *marker);
void ripsec_shim_skb_spare_xfrm_check(struct net *net, struct sk_buff *skb,
				      const struct xfrm_state *marker);
unsigned int ripsec_shim_skb_in_dev_mtu(const struct sk_buff *skb);
void ripsec_shim_icmp_too_big(struct sk_buff *skb, u32 mtu, bool ipv6);
struct sock *ripsec_shim_encap_attach(struct net *net, int fd, u16 *port);
void ripsec_shim_encap_detach(struct sock *sk);
void ripsec_shim_encap_put(struct sock *sk);
void ripsec_shim_udp6_checksum(u8 *udp, unsigned int len, const u8 *saddr, const u8 *daddr);

#endif /* RIPSEC_SHIM_H */
