// SPDX-License-Identifier: GPL-2.0
/*
 * ripsec's C shim: static tables (genl family, ops, policy, pernet ops) and one-line
 * wrappers for kernel inline functions and macros that Rust cannot call directly.
 * No logic lives here; rust/ffi.rs wraps every function in a safe type.
 */
#include <linux/module.h>
#include <linux/netlink.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/xarray.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/netdevice.h>
#include <linux/scatterlist.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/route.h>
#include <net/dst.h>
#include <net/gso.h>
#include <net/icmp.h>
#include <linux/icmpv6.h>
#include <crypto/aead.h>
#include <crypto/hash.h>
#include <crypto/utils.h>
#include <net/xfrm.h>
#include <net/ipv6_frag.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include <linux/workqueue.h>
#include <linux/udp.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>
#include <net/ip6_checksum.h>
#include <net/gro_cells.h>
#include <net/dst_cache.h>
#include "shim.h"
#include "uapi.h"

/* ---- netfilter hooks (registered per netns) ---- */

/* One entry point per hook number, handing Rust the netns and the number as arguments (no
 * call back for them per packet). Each netns registers its own copy of the hooks, whose priv
 * is that netns's Rust state (no net_generic lookup per packet). */
#define RIPSEC_HOOK_ENTRY(num)                                                               \
	static unsigned int ripsec_hook_##num(void *priv, struct sk_buff *skb,               \
					      const struct nf_hook_state *state)             \
	{                                                                                    \
		return ripsec_rs_hook(priv, skb, state->net, num);                           \
	}
RIPSEC_HOOK_ENTRY(NF_INET_PRE_ROUTING)
RIPSEC_HOOK_ENTRY(NF_INET_LOCAL_IN)
RIPSEC_HOOK_ENTRY(NF_INET_FORWARD)
RIPSEC_HOOK_ENTRY(NF_INET_POST_ROUTING)

#define RIPSEC_HOOK(family, num, prio) \
	{ .hook = ripsec_hook_##num, .pf = (family), .hooknum = (num), .priority = (prio) }

static const struct nf_hook_ops ripsec_nf_ops[] = {
	/* Outbound: after routing and the firewall, so every packet that leaves is seen. */
	RIPSEC_HOOK(NFPROTO_IPV4, NF_INET_POST_ROUTING, 1000),
	RIPSEC_HOOK(NFPROTO_IPV6, NF_INET_POST_ROUTING, 1000),
	/* Inbound: before the firewall, so it filters decrypted packets. */
	RIPSEC_HOOK(NFPROTO_IPV4, NF_INET_LOCAL_IN, -200),
	RIPSEC_HOOK(NFPROTO_IPV6, NF_INET_LOCAL_IN, -200),
	RIPSEC_HOOK(NFPROTO_IPV4, NF_INET_FORWARD, -200),
	RIPSEC_HOOK(NFPROTO_IPV6, NF_INET_FORWARD, -200),
	/* Just before IPv6 defragmentation, which drops some malformed packets uncounted. */
	RIPSEC_HOOK(NFPROTO_IPV6, NF_INET_PRE_ROUTING, NF_IP6_PRI_CONNTRACK_DEFRAG - 1),
};

/* ---- per-netns state: one pointer in net_generic, owned by Rust ---- */

static unsigned int ripsec_net_id;

/* The netns's slot: Rust's state, whether ripsec turned defragmentation on there, and the
 * hooks registered there (netfilter keeps pointers to them until they are unregistered). */
struct ripsec_net {
	void *state;
	bool defrag;
	struct nf_hook_ops ops[ARRAY_SIZE(ripsec_nf_ops)];
};

static struct ripsec_net *ripsec_net(struct net *net)
{
	return net_generic(net, ripsec_net_id);
}

static int __net_init ripsec_net_init(struct net *net)
{
	struct ripsec_net *rn = ripsec_net(net);
	int err = ripsec_rs_net_init(net, &rn->state);
	size_t i;

	if (err)
		return err;
	memcpy(rn->ops, ripsec_nf_ops, sizeof(rn->ops));
	for (i = 0; i < ARRAY_SIZE(rn->ops); i++)
		rn->ops[i].priv = rn->state;
	err = nf_register_net_hooks(net, rn->ops, ARRAY_SIZE(rn->ops));
	if (err) {
		/* The hooks registered before the failure may be running: unregistering does
		 * not wait for them. */
		synchronize_net();
		ripsec_rs_net_exit(rn->state);
	}
	return err;
}

/* Unregistering does not wait for hooks in flight; the netns core waits for an RCU grace
 * period between pre_exit and exit, so no hook runs on the state or reads rn->ops when exit
 * drops them. */
static void __net_exit ripsec_net_pre_exit(struct net *net)
{
	struct ripsec_net *rn = ripsec_net(net);

	nf_unregister_net_hooks(net, rn->ops, ARRAY_SIZE(rn->ops));
}

static void __net_exit ripsec_net_exit(struct net *net)
{
	struct ripsec_net *rn = ripsec_net(net);

	if (rn->defrag) {
		nf_defrag_ipv6_disable(net);
		nf_defrag_ipv4_disable(net);
	}
	ripsec_rs_net_exit(rn->state);
}

/*
 * Policy decisions need whole packets: the kernel's netfilter defragmentation reassembles
 * IPv4 and IPv6 fragments at PRE_ROUTING and LOCAL_OUT (priority -400), before ripsec's
 * hooks (IPv6 would otherwise reassemble only after LOCAL_IN). Turned on in a netns with its
 * first SA or policy, off when the netns goes.
 */
static DEFINE_MUTEX(ripsec_defrag_lock);

int ripsec_shim_defrag_use(struct net *net)
{
	struct ripsec_net *rn = ripsec_net(net);
	int err = 0;

	mutex_lock(&ripsec_defrag_lock);
	if (rn->defrag)
		goto out;
	err = nf_defrag_ipv4_enable(net);
	if (err)
		goto out;
	err = nf_defrag_ipv6_enable(net);
	if (err) {
		nf_defrag_ipv4_disable(net);
		goto out;
	}
	rn->defrag = true;
out:
	mutex_unlock(&ripsec_defrag_lock);
	return err;
}

static struct pernet_operations ripsec_net_ops = {
	.init = ripsec_net_init,
	.pre_exit = ripsec_net_pre_exit,
	.exit = ripsec_net_exit,
	.id = &ripsec_net_id,
	.size = sizeof(struct ripsec_net),
};

int ripsec_shim_pernet_register(void)
{
	return register_pernet_subsys(&ripsec_net_ops);
}

void ripsec_shim_pernet_unregister(void)
{
	unregister_pernet_subsys(&ripsec_net_ops);
}

void *ripsec_shim_net_state(struct net *net)
{
	return ripsec_net(net)->state;
}

u64 ripsec_shim_net_cookie(struct net *net)
{
	return net->net_cookie;
}

/* ---- generic netlink family ---- */

/*
 * One strict policy per command (generated in uapi.h): attributes a command does not take
 * are rejected. GENL_UNS_ADMIN_PERM: CAP_NET_ADMIN in the user namespace owning the netns.
 */
static const struct genl_ops ripsec_ops[] = RIPSEC_OPS_INIT;

static const struct genl_multicast_group ripsec_mcgrps[] = RIPSEC_MCGRPS_INIT;

static struct genl_family ripsec_family = {
	.name = RIPSEC_FAMILY_NAME,
	.version = RIPSEC_FAMILY_VERSION,
	.maxattr = RIPSEC_A_MAX,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = ripsec_ops,
	.n_ops = ARRAY_SIZE(ripsec_ops),
	.mcgrps = ripsec_mcgrps,
	.n_mcgrps = ARRAY_SIZE(ripsec_mcgrps),
};

int ripsec_shim_genl_register(void)
{
	return genl_register_family(&ripsec_family);
}

void ripsec_shim_genl_unregister(void)
{
	genl_unregister_family(&ripsec_family);
}

/* A message for the events group, or NULL when nobody listens (or no memory). */
struct sk_buff *ripsec_shim_event_new(struct net *net, u8 cmd, size_t size, bool atomic,
				      void **hdr)
{
	struct sk_buff *skb;

	if (!genl_has_listeners(&ripsec_family, net, 0))
		return NULL;
	skb = genlmsg_new(size, atomic ? GFP_ATOMIC : GFP_KERNEL);
	if (!skb)
		return NULL;
	*hdr = genlmsg_put(skb, 0, 0, &ripsec_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* Sends an event to the events group of @net; consumes @skb. */
int ripsec_shim_event_send(struct net *net, struct sk_buff *skb, void *hdr, bool atomic)
{
	genlmsg_end(skb, hdr);
	return genlmsg_multicast_netns(&ripsec_family, net, skb, 0, 0,
				       atomic ? GFP_ATOMIC : GFP_KERNEL);
}

/* ---- drops deferred past an RCU grace period, in process context ---- */

static struct workqueue_struct *ripsec_wq;

struct ripsec_deferred {
	struct rcu_work rw;
	void *obj;
	void (*drop)(void *obj);
};

static void ripsec_deferred_fn(struct work_struct *work)
{
	struct ripsec_deferred *d = container_of(to_rcu_work(work), struct ripsec_deferred, rw);

	d->drop(d->obj);
	kfree(d);
}

int ripsec_shim_wq_create(void)
{
	ripsec_wq = alloc_workqueue("ripsec", WQ_UNBOUND, 0);
	return ripsec_wq ? 0 : -ENOMEM;
}

/* Waits for every deferred drop (queued before this is called) and frees the workqueue. */
void ripsec_shim_wq_destroy(void)
{
	rcu_barrier();
	destroy_workqueue(ripsec_wq);
}

/* Calls @drop(@obj) after a grace period, from a work item; false if out of memory. */
bool ripsec_shim_defer_drop(void *obj, void (*drop)(void *obj))
{
	struct ripsec_deferred *d = kmalloc(sizeof(*d), GFP_KERNEL);

	if (!d)
		return false;
	d->obj = obj;
	d->drop = drop;
	INIT_RCU_WORK(&d->rw, ripsec_deferred_fn);
	queue_rcu_work(ripsec_wq, &d->rw);
	return true;
}

/* ---- per-netns deferred work (lifetime expiry) ---- */

struct ripsec_work {
	struct delayed_work dw;
	struct net *net;
};

static void ripsec_work_fn(struct work_struct *work)
{
	struct ripsec_work *w = container_of(to_delayed_work(work), struct ripsec_work, dw);

	ripsec_rs_work(w->net);
}

struct ripsec_work *ripsec_shim_work_new(struct net *net)
{
	struct ripsec_work *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	INIT_DELAYED_WORK(&w->dw, ripsec_work_fn);
	w->net = net;
	return w;
}

/* Runs the work now (@now) or in @ms milliseconds unless it is already pending. */
void ripsec_shim_work_queue(struct ripsec_work *w, unsigned int ms, bool now)
{
	if (now)
		mod_delayed_work(system_dfl_wq, &w->dw, 0);
	else
		queue_delayed_work(system_dfl_wq, &w->dw, msecs_to_jiffies(ms));
}

/* Cancels pending work and waits for a running (even self-requeueing) instance. */
void ripsec_shim_work_cancel(struct ripsec_work *w)
{
	cancel_delayed_work_sync(&w->dw);
}

void ripsec_shim_work_free(struct ripsec_work *w)
{
	cancel_delayed_work_sync(&w->dw);
	kfree(w);
}

struct net *ripsec_shim_genl_info_net(struct genl_info *info)
{
	return genl_info_net(info);
}

u8 ripsec_shim_genl_cmd(struct genl_info *info)
{
	return info->genlhdr->cmd;
}

const struct nlattr *ripsec_shim_genl_attr(struct genl_info *info, int type)
{
	return info->attrs[type];
}

/* The request's attribute stream (after the genetlink header) and its length. */
const u8 *ripsec_shim_genl_attrs(const struct genl_info *info, unsigned int *len)
{
	*len = nlmsg_attrlen(info->nlhdr, GENL_HDRLEN);
	return (const u8 *)nlmsg_attrdata(info->nlhdr, GENL_HDRLEN);
}

/* Copies @msg into the extack buffer and points it at attribute @type (0: none). */
void ripsec_shim_genl_err(struct genl_info *info, int type, const char *msg)
{
	NL_SET_ERR_MSG_FMT(info->extack, "%s", msg);
	if (type > 0 && type <= RIPSEC_A_MAX && info->attrs[type])
		NL_SET_BAD_ATTR(info->extack, info->attrs[type]);
	else if (type > 0)
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, type);
}

struct genl_info *ripsec_shim_dump_info(struct netlink_callback *cb)
{
	return (struct genl_info *)genl_info_dump(cb);
}

long *ripsec_shim_dump_args(struct netlink_callback *cb)
{
	return cb->args;
}

struct net *ripsec_shim_dump_net(struct netlink_callback *cb)
{
	return sock_net(cb->skb->sk);
}

void *ripsec_shim_dump_put(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd)
{
	return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, &ripsec_family,
			   NLM_F_MULTI, cmd);
}

void ripsec_shim_dump_end(struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
}

void ripsec_shim_dump_cancel(struct sk_buff *skb, void *hdr)
{
	genlmsg_cancel(skb, hdr);
}

struct sk_buff *ripsec_shim_genl_reply_new(struct genl_info *info, u8 cmd, size_t size, void **hdr)
{
	struct sk_buff *skb = genlmsg_new(size, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = genlmsg_put_reply(skb, info, &ripsec_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

int ripsec_shim_genl_reply_send(struct sk_buff *skb, void *hdr, struct genl_info *info)
{
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);
}

void ripsec_shim_nlmsg_free(struct sk_buff *skb)
{
	nlmsg_free(skb);
}

/* ---- netlink attributes ---- */

int ripsec_shim_nla_put(struct sk_buff *skb, int type, int len, const void *data)
{
	return nla_put(skb, type, len, data);
}

int ripsec_shim_nla_put_u64(struct sk_buff *skb, int type, u64 value)
{
	return nla_put_u64_64bit(skb, type, value, RIPSEC_A_PAD);
}

struct nlattr *ripsec_shim_nla_nest_start(struct sk_buff *skb, int type)
{
	return nla_nest_start(skb, type);
}

void ripsec_shim_nla_nest_end(struct sk_buff *skb, struct nlattr *nest)
{
	nla_nest_end(skb, nest);
}

const void *ripsec_shim_nla_data(const struct nlattr *nla)
{
	return nla_data(nla);
}

int ripsec_shim_nla_len(const struct nlattr *nla)
{
	return nla_len(nla);
}

/* ---- xarray (RCU-safe lookups) ---- */

struct xarray *ripsec_shim_xa_new(void)
{
	struct xarray *xa = kmalloc(sizeof(*xa), GFP_KERNEL);

	if (xa)
		xa_init(xa);
	return xa;
}

void ripsec_shim_xa_free(struct xarray *xa)
{
	xa_destroy(xa);
	kfree(xa);
}

/* xa_load() without its own RCU read-side section: the caller holds one (Rust's `load`
 * takes the guard), and a lookup per SA or policy on every packet need not nest another. */
void *ripsec_shim_xa_load(struct xarray *xa, unsigned long index)
{
	XA_STATE(xas, xa, index);
	void *entry;

	do {
		entry = xas_load(&xas);
		if (xa_is_zero(entry))
			entry = NULL;
	} while (xas_retry(&xas, entry));
	return entry;
}

/* Returns the previous entry, or an ERR_PTR. */
void *ripsec_shim_xa_store(struct xarray *xa, unsigned long index, void *entry)
{
	void *old = xa_store(xa, index, entry, GFP_KERNEL);

	return xa_is_err(old) ? ERR_PTR(xa_err(old)) : old;
}

void *ripsec_shim_xa_erase(struct xarray *xa, unsigned long index)
{
	return xa_erase(xa, index);
}

void *ripsec_shim_xa_find(struct xarray *xa, unsigned long *index)
{
	return xa_find(xa, index, ULONG_MAX, XA_PRESENT);
}

bool ripsec_shim_is_err(const void *ptr, int *err)
{
	if (!IS_ERR(ptr))
		return false;
	*err = PTR_ERR(ptr);
	return true;
}

/* ---- misc ---- */

u32 ripsec_shim_random_u32(void)
{
	return get_random_u32();
}

u64 ripsec_shim_seconds(void)
{
	return ktime_get_seconds();
}

/* How long a learnt path MTU holds in @net, in seconds: net.ipv{4,6}.route.mtu_expires. */
unsigned int ripsec_shim_mtu_expires(struct net *net, bool ipv6)
{
	int jiffies_ = READ_ONCE(net->ipv4.ip_rt_mtu_expires);

#if IS_ENABLED(CONFIG_IPV6)
	if (ipv6)
		jiffies_ = READ_ONCE(net->ipv6.sysctl.ip6_rt_mtu_expires);
#endif
	return max(jiffies_, 0) / HZ;
}

void ripsec_shim_memzero(void *p, size_t len)
{
	memzero_explicit(p, len);
}

/* ---- crypto ---- */

/* Returns a synchronous transform (the data path never waits) or an ERR_PTR. */
struct crypto_aead *ripsec_shim_aead_alloc(const char *name)
{
	return crypto_alloc_aead(name, 0, CRYPTO_ALG_ASYNC);
}

/* ---- per-CPU counters ---- */

u64 *ripsec_shim_percpu_u64_alloc(unsigned int n)
{
	return (u64 __force *)__alloc_percpu(n * sizeof(u64), sizeof(u64));
}

void ripsec_shim_percpu_u64_free(u64 *c)
{
	free_percpu((u64 __percpu __force *)c);
}

void ripsec_shim_percpu_u64_add(u64 *c, unsigned int i, u64 n)
{
	this_cpu_add(((u64 __percpu __force *)c)[i], n);
}

void ripsec_shim_percpu_u64_add2(u64 *c, unsigned int i, u64 m, unsigned int j, u64 n)
{
	this_cpu_add(((u64 __percpu __force *)c)[i], m);
	this_cpu_add(((u64 __percpu __force *)c)[j], n);
}

u64 ripsec_shim_percpu_u64_sum(u64 *c, unsigned int i)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu_ptr((u64 __percpu __force *)c, cpu)[i];
	return sum;
}

/* Per-CPU room for one AEAD request, so that the data path allocates nothing per packet.
 * Its callers keep bottom halves off, so one request at a time per CPU. */
#define RIPSEC_REQ_ROOM 1024
struct ripsec_req_room {
	u8 bytes[RIPSEC_REQ_ROOM];
} __aligned(CRYPTO_MINALIGN);
static struct ripsec_req_room __percpu *ripsec_req_room;

int ripsec_shim_req_room_alloc(void)
{
	ripsec_req_room = alloc_percpu(struct ripsec_req_room);
	return ripsec_req_room ? 0 : -ENOMEM;
}

void ripsec_shim_req_room_free(void)
{
	free_percpu(ripsec_req_room);
	ripsec_req_room = NULL;
}

/* Encrypts or decrypts @len bytes at @buf in place: @assoclen bytes of associated data, then
 * @cryptlen bytes (plaintext, or ciphertext + ICV). The request lives in this CPU's room
 * (wiped afterwards, as aead_request_free would), or is allocated if it does not fit. The
 * caller has bottom halves off. */
int ripsec_shim_aead_crypt(struct crypto_aead *tfm, u8 *buf, unsigned int len,
			   unsigned int assoclen, unsigned int cryptlen, u8 *iv, bool encrypt)
{
	unsigned int size = sizeof(struct aead_request) + crypto_aead_reqsize(tfm);
	bool room = ripsec_req_room && size <= RIPSEC_REQ_ROOM;
	struct aead_request *req;
	struct scatterlist sg = {};
	int err;

	if (room) {
		req = (struct aead_request *)this_cpu_ptr(ripsec_req_room)->bytes;
		aead_request_set_tfm(req, tfm);
	} else {
		req = aead_request_alloc(tfm, GFP_ATOMIC);
		if (!req)
			return -ENOMEM;
	}
	/* sg_init_one, without its two calls. */
	sg_set_buf(&sg, buf, len);
	sg_mark_end(&sg);
	aead_request_set_callback(req, 0, NULL, NULL);
	aead_request_set_ad(req, assoclen);
	aead_request_set_crypt(req, &sg, &sg, cryptlen, iv);
	err = encrypt ? crypto_aead_encrypt(req) : crypto_aead_decrypt(req);
	if (room)
		memzero_explicit(req, size);
	else
		aead_request_free(req);
	return err;
}

void ripsec_shim_local_bh_disable(void)
{
	local_bh_disable();
}

void ripsec_shim_local_bh_enable(void)
{
	local_bh_enable();
}

void ripsec_shim_random_bytes(u8 *buf, size_t len)
{
	get_random_bytes(buf, len);
}

int ripsec_shim_aead_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int len)
{
	return crypto_aead_setkey(tfm, key, len);
}

int ripsec_shim_aead_setauthsize(struct crypto_aead *tfm, unsigned int len)
{
	return crypto_aead_setauthsize(tfm, len);
}

const char *ripsec_shim_aead_driver(struct crypto_aead *tfm)
{
	return crypto_tfm_alg_driver_name(crypto_aead_tfm(tfm));
}

void ripsec_shim_aead_free(struct crypto_aead *tfm)
{
	crypto_free_aead(tfm);
}

/* A keyed hash for AH: synchronous by type, it hashes virtual addresses (stack included). */
struct crypto_shash *ripsec_shim_shash_alloc(const char *name)
{
	return crypto_alloc_shash(name, 0, 0);
}

int ripsec_shim_shash_setkey(struct crypto_shash *tfm, const u8 *key, unsigned int len)
{
	return crypto_shash_setkey(tfm, key, len);
}

unsigned int ripsec_shim_shash_digestsize(struct crypto_shash *tfm)
{
	return crypto_shash_digestsize(tfm);
}

/* The digest of @a then @b then @c (any may be empty) into @out (the digest size). */
int ripsec_shim_shash_digest3(struct crypto_shash *tfm, const u8 *a, unsigned int alen,
			      const u8 *b, unsigned int blen, const u8 *c, unsigned int clen,
			      u8 *out)
{
	SHASH_DESC_ON_STACK(desc, tfm);
	int err;

	desc->tfm = tfm;
	err = crypto_shash_init(desc);
	if (!err)
		err = crypto_shash_update(desc, a, alen);
	if (!err)
		err = crypto_shash_update(desc, b, blen);
	if (!err)
		err = crypto_shash_update(desc, c, clen);
	if (!err)
		err = crypto_shash_final(desc, out);
	shash_desc_zero(desc);
	return err;
}

const char *ripsec_shim_shash_driver(struct crypto_shash *tfm)
{
	return crypto_tfm_alg_driver_name(crypto_shash_tfm(tfm));
}

void ripsec_shim_shash_free(struct crypto_shash *tfm)
{
	crypto_free_shash(tfm);
}

/* Nonzero if the buffers differ; the time taken does not depend on where. */
int ripsec_shim_memneq(const void *a, const void *b, size_t len)
{
	return crypto_memneq(a, b, len);
}

bool ripsec_shim_crypto_has_aead(const char *name)
{
	return crypto_has_aead(name, 0, 0);
}

bool ripsec_shim_crypto_has_shash(const char *name)
{
	return crypto_has_shash(name, 0, 0);
}

/* ---- skb ---- */

/* Rust's copy of where a writable packet's bytes are (shim.h), so that reading them takes no
 * call. The calls below keep it true: a change is followed by a refresh, whatever the result;
 * a refusal changes nothing. */
static int ripsec_view(const struct sk_buff *skb, struct ripsec_skb_view *view, int ret)
{
	view->data = skb->data;
	view->len = skb->len;
	return ret;
}

void ripsec_shim_skb_view(const struct sk_buff *skb, struct ripsec_skb_view *view)
{
	ripsec_view(skb, view, 0);
}

/* Makes the whole packet linear, private and writable; with @checksum, also completes a
 * checksum left to the device (CHECKSUM_PARTIAL), as a packet about to be encrypted needs. */
int ripsec_shim_skb_make_writable(struct sk_buff *skb, bool checksum, struct ripsec_skb_view *view)
{
	int err = skb_linearize(skb) ? -ENOMEM : 0;

	/* A linear packet nobody else holds is writable already: no call needed. */
	if (!err && skb_cloned(skb))
		err = skb_ensure_writable(skb, skb->len);
	if (!err && checksum && skb->ip_summed == CHECKSUM_PARTIAL)
		err = skb_checksum_help(skb);
	return ripsec_view(skb, view, err);
}

/* Pulls the first @want bytes (at most skb->len: how many goes to @got) into the linear head;
 * NULL on failure. With them, what a header walk needs besides: the packet's length in @len,
 * and whether it is a GSO packet in @gso. */
const u8 *ripsec_shim_skb_walk_head(struct sk_buff *skb, unsigned int want, unsigned int *got,
				    unsigned int *len, bool *gso)
{
	*len = skb->len;
	*gso = skb_is_gso(skb);
	*got = min(want, skb->len);
	return pskb_may_pull(skb, *got) ? skb->data : NULL;
}

/* Whether the stack may fragment the packet although it is IPv6 or has DF (a local
 * datagram whose socket does not insist on path MTU discovery), or netfilter reassembled it;
 * and in @dev_mtu the MTU of the device its route leaves through (0 if it has no route): the
 * outer packet's limit. Not the route's PMTU, which already accounts for the encapsulation
 * once senders learnt it. */
bool ripsec_shim_skb_out_limits(const struct sk_buff *skb, bool ipv6, unsigned int *dev_mtu)
{
	*dev_mtu = skb_dst(skb) ? READ_ONCE(skb_dst(skb)->dev->mtu) : 0;
	return skb->ignore_df || (ipv6 ? IP6CB(skb)->frag_max_size : IPCB(skb)->frag_max_size);
}

/* Whether the IP packet at skb->data (its header linear, as at POST_ROUTING) is the output of
 * an IPsec transform (ripsec's or XFRM's). */
bool ripsec_shim_skb_transformed(const struct sk_buff *skb)
{
	bool ipv6 = skb_headlen(skb) && skb->data[0] >> 4 == 6;

	return ipv6 ? IP6CB(skb)->flags & IP6SKB_XFRM_TRANSFORMED :
		      IPCB(skb)->flags & IPSKB_XFRM_TRANSFORMED;
}

/*
 * ripsec's own reassembly queues for fragments it decrypted, one set per SA (@queue), apart
 * from the stack's: a plaintext fragment, or one another SA carried, can never complete a
 * protected datagram. Values past the kernel's defrag users.
 */
#define RIPSEC_DEFRAG_USER4 ((u32)IP_DEFRAG_MACVLAN + 0x100)
#define RIPSEC_DEFRAG_USER6 ((u32)__IP6_DEFRAG_CONNTRACK_BRIDGE_IN + 0x100)

/*
 * Queues the decrypted fragment at skb->data (a linear, private, checked IP header) for
 * reassembly. Returns 0 when @skb is now the whole datagram (or was not a fragment after all),
 * 1 when it was queued, or a negative error; @skb is consumed unless 0 is returned.
 */
int ripsec_shim_defrag(struct net *net, struct sk_buff *skb, bool ipv6, u32 queue)
{
	int err;

	skb_reset_network_header(skb);
	if (ipv6) {
		memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
		err = nf_ct_frag6_gather(net, skb, RIPSEC_DEFRAG_USER6 + queue);
		if (err && err != -EINPROGRESS)
			kfree_skb(skb);
	} else {
		memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
		err = ip_defrag(net, skb, RIPSEC_DEFRAG_USER4 + queue);
	}
	return err == -EINPROGRESS ? 1 : err;
}

unsigned int ripsec_shim_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

/* Returns the list of segments (consuming nothing) or an ERR_PTR. */
struct sk_buff *ripsec_shim_skb_gso_segment(struct sk_buff *skb)
{
	return skb_gso_segment(skb, 0);
}

/* Detaches and returns the segment after @skb. */
struct sk_buff *ripsec_shim_skb_next(struct sk_buff *skb)
{
	struct sk_buff *next = skb->next;

	skb_mark_not_on_list(skb);
	return next;
}

/* Whether the packet is linear and holds @len bytes at offset @from. */
static bool ripsec_linear_holds(const struct sk_buff *skb, unsigned int from, unsigned int len)
{
	return !skb->data_len && from <= skb_headlen(skb) && len <= skb_headlen(skb) - from;
}

/*
 * Ensures @head bytes of headroom and @tail bytes of tailroom. A packet short of one but with
 * enough to spare at its other end moves within its own buffer instead of getting a new head
 * (locally sent datagrams have little headroom and TCP's ACKs no tailroom, but both have the
 * sum): no allocation, no copy of the headroom, no free.
 */
static int ripsec_make_room(struct sk_buff *skb, unsigned int head, unsigned int tail)
{
	int dh = max_t(int, (int)head - (int)skb_headroom(skb), 0);
	int dt = max_t(int, (int)tail - (int)skb_tailroom(skb), 0);
	int shift = dh ? (int)ALIGN(dh, sizeof(long)) : -(int)ALIGN(dt, sizeof(long));

	if (!dh && !dt && !skb_cloned(skb))
		return 0;
	if (skb_cloned(skb) || (int)skb_headroom(skb) + shift < (int)head ||
	    (int)skb_tailroom(skb) - shift < (int)tail)
		return pskb_expand_head(skb, dh, dt, GFP_ATOMIC);
	memmove(skb->data + shift, skb->data, skb_headlen(skb));
	skb->data += shift;
	skb->tail += shift;
	skb_headers_offset_update(skb, shift);
	return 0;
}

/* Keeps the first @keep bytes, makes room as above, then pushes @push and puts @put bytes,
 * which that room must hold: the bounds of an ESP packet in one call. */
int ripsec_shim_skb_grow(struct sk_buff *skb, unsigned int keep, unsigned int head,
			 unsigned int tail, unsigned int push, unsigned int put,
			 struct ripsec_skb_view *view)
{
	int err;

	if (!ripsec_linear_holds(skb, 0, keep))
		return ripsec_view(skb, view, -EINVAL);
	__skb_trim(skb, keep);
	err = ripsec_make_room(skb, head, tail);
	if (!err && (push > skb_headroom(skb) || put > skb_tailroom(skb)))
		err = -ENOSPC;
	if (!err) {
		skb_put(skb, put);
		skb_push(skb, push);
	}
	return ripsec_view(skb, view, err);
}

/* The two below change a linear packet's bounds if it has the room (one call per change,
 * where a separate question first would take two); they refuse otherwise. */
int ripsec_shim_skb_push(struct sk_buff *skb, unsigned int len, struct ripsec_skb_view *view)
{
	if (len > skb_headroom(skb))
		return -ENOSPC;
	skb_push(skb, len);
	return ripsec_view(skb, view, 0);
}

/* Keeps the @len bytes at offset @from of a linear packet: what is in front and behind goes. */
int ripsec_shim_skb_keep(struct sk_buff *skb, unsigned int from, unsigned int len,
			 struct ripsec_skb_view *view)
{
	if (!ripsec_linear_holds(skb, from, len))
		return -EINVAL;
	__skb_pull(skb, from);
	__skb_trim(skb, len);
	return ripsec_view(skb, view, 0);
}

void ripsec_shim_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

/* MTU of the device the packet arrived on (0 if none). */
unsigned int ripsec_shim_skb_in_dev_mtu(const struct sk_buff *skb)
{
	return skb->dev ? READ_ONCE(skb->dev->mtu) : 0;
}

/* Tells the sender of @skb the largest packet that fits (does not consume @skb). */
void ripsec_shim_icmp_too_big(struct sk_buff *skb, u32 mtu, bool ipv6)
{
	if (ipv6)
		icmpv6_ndo_send(skb, ICMPV6_PKT_TOOBIG, 0, mtu);
	else
		icmp_ndo_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu));
}

/* Routes an outer IPv4 packet at skb->data and sends it; consumes @skb. @ignore_df lets IP
 * fragment it although DF is set (transport mode, which shares the sender's route);
 * @keep_ident keeps the header's ID (AH covers it). */
int ripsec_shim_output4(struct net *net, struct sk_buff *skb, const u8 *saddr, const u8 *daddr,
			bool ignore_df, bool keep_ident, struct dst_cache *cache)
{
	struct flowi4 fl4 = { .flowi4_proto = IPPROTO_ESP };
	struct rtable *rt = NULL;
	__be32 cached_saddr;

	memcpy(&fl4.saddr, saddr, 4);
	memcpy(&fl4.daddr, daddr, 4);
	if (cache) {
		rt = dst_cache_get_ip4(cache, &cached_saddr);
		if (rt && cached_saddr != fl4.saddr) {
			ip_rt_put(rt);
			rt = NULL;
		}
	}
	if (!rt) {
		rt = ip_route_output_key(net, &fl4);
		if (IS_ERR(rt)) {
			kfree_skb(skb);
			return PTR_ERR(rt);
		}
		if (cache)
			dst_cache_set_ip4(cache, &rt->dst, fl4.saddr);
	}
	skb_dst_drop(skb);
	skb_dst_set(skb, &rt->dst);
	skb->protocol = htons(ETH_P_IP);
	skb->ignore_df = ignore_df;
	skb_reset_network_header(skb);
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
	/* The output of an IPsec transform, as XFRM marks its own: not protected again. */
	IPCB(skb)->flags |= IPSKB_XFRM_TRANSFORMED;
	if (!keep_ident)
		ip_select_ident(net, skb, NULL);
	return ip_local_out(net, NULL, skb);
}

/* A per-SA cache of the outer route (per CPU; stale entries fail dst_check and are looked up
 * again). Allocated on the first packet, so SAs that never send cost nothing. */
struct dst_cache *ripsec_shim_dst_cache_new(void)
{
	struct dst_cache *c = kmalloc(sizeof(*c), GFP_ATOMIC);

	if (c && dst_cache_init(c, GFP_ATOMIC)) {
		kfree(c);
		c = NULL;
	}
	return c;
}

void ripsec_shim_dst_cache_free(struct dst_cache *c)
{
	dst_cache_destroy(c);
	kfree(c);
}

/* Gives the IPv4 header at skb->data its ID now (AH authenticates it), as output4 would. */
void ripsec_shim_ip_select_ident(struct net *net, struct sk_buff *skb, bool ignore_df)
{
	skb->ignore_df = ignore_df;
	skb_reset_network_header(skb);
	ip_select_ident(net, skb, NULL);
}

/* Routes an outer IPv6 packet at skb->data and sends it; consumes @skb. */
int ripsec_shim_output6(struct net *net, struct sk_buff *skb, const u8 *saddr, const u8 *daddr,
			bool ignore_df, struct dst_cache *cache)
{
	struct flowi6 fl6 = { .flowi6_proto = IPPROTO_ESP };
	struct dst_entry *dst = NULL;
	struct in6_addr cached_saddr;

	memcpy(&fl6.saddr, saddr, 16);
	memcpy(&fl6.daddr, daddr, 16);
	if (cache) {
		dst = dst_cache_get_ip6(cache, &cached_saddr);
		if (dst && !ipv6_addr_equal(&cached_saddr, &fl6.saddr)) {
			dst_release(dst);
			dst = NULL;
		}
	}
	if (!dst) {
		dst = ip6_route_output(net, NULL, &fl6);
		if (dst->error) {
			int err = dst->error;

			dst_release(dst);
			kfree_skb(skb);
			return err;
		}
		if (cache)
			dst_cache_set_ip6(cache, dst, &fl6.saddr);
	}
	skb_dst_drop(skb);
	skb_dst_set(skb, dst);
	skb->protocol = htons(ETH_P_IPV6);
	skb->ignore_df = ignore_df;
	skb_reset_network_header(skb);
	memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
	IP6CB(skb)->flags |= IP6SKB_XFRM_TRANSFORMED;
	return ip6_local_out(net, NULL, skb);
}

/*
 * ripsec's mark on decrypted packets is a secpath entry (what XFRM's own checks understand)
 * holding a per-netns xfrm_state that is never installed: dead, transport mode, no selector.
 * XFRM's policy checks accept it where they accept plaintext.
 */
struct xfrm_state *ripsec_shim_marker_new(struct net *net)
{
	struct xfrm_state *x = xfrm_state_alloc(net);

	if (x)
		x->km.state = XFRM_STATE_DEAD;
	return x;
}

void ripsec_shim_marker_put(struct xfrm_state *x)
{
	xfrm_state_put(x);
}

/* Decrypted packets go back into the stack through GRO cells (per-CPU NAPI queues on a
 * dummy device), as XFRM's do, so that TCP segments are merged again before the stack sees
 * them. */
static struct net_device *ripsec_napi_dev;
static struct gro_cells ripsec_gro_cells;

int ripsec_shim_gro_cells_init(void)
{
	int err;

	ripsec_napi_dev = alloc_netdev_dummy(0);
	if (!ripsec_napi_dev)
		return -ENOMEM;
	err = gro_cells_init(&ripsec_gro_cells, ripsec_napi_dev);
	if (err) {
		free_netdev(ripsec_napi_dev);
		ripsec_napi_dev = NULL;
	}
	return err;
}

void ripsec_shim_gro_cells_destroy(void)
{
	gro_cells_destroy(&ripsec_gro_cells);
	free_netdev(ripsec_napi_dev);
	ripsec_napi_dev = NULL;
}

/* Feeds a decapsulated packet at skb->data back into the stack, marked with @marker; consumes
 * @skb. A @reassembled packet may be fragmented again on its way on. @checksum_ok: its
 * TCP/UDP checksum is taken as verified (transport mode behind a NAT, RFC 3948 §3.1.2).
 * -ELOOP: nested deeper than a secpath holds. */
int ripsec_shim_reinject(struct sk_buff *skb, bool ipv6, struct xfrm_state *marker,
			 bool reassembled, bool checksum_ok)
{
	struct sec_path *sp = secpath_set(skb);

	if (!sp || sp->len == XFRM_MAX_DEPTH) {
		kfree_skb(skb);
		return sp ? -ELOOP : -ENOMEM;
	}
	if (reassembled)
		skb->ignore_df = 1;
	xfrm_state_hold(marker);
	sp->xvec[sp->len++] = marker;
	skb_dst_drop(skb);
	nf_reset_ct(skb);
	skb->protocol = ipv6 ? htons(ETH_P_IPV6) : htons(ETH_P_IP);
	skb_reset_network_header(skb);
	skb_reset_transport_header(skb);
	/* Packet sockets see the inner packet behind its link-layer header, as XFRM shows it,
	 * not the old header followed by what decapsulation left. */
	skb_mac_header_rebuild(skb);
	skb->pkt_type = PACKET_HOST;
	skb->ip_summed = checksum_ok ? CHECKSUM_UNNECESSARY : CHECKSUM_NONE;
	local_bh_disable();
	gro_cells_receive(&ripsec_gro_cells, skb);
	local_bh_enable();
	return 0;
}

/* Whether ripsec decrypted the packet (its last secpath entry is @marker). */
bool ripsec_shim_skb_decrypted(const struct sk_buff *skb, const struct xfrm_state *marker)
{
	const struct sec_path *sp = skb_sec_path(skb);

	return sp && sp->len && sp->xvec[sp->len - 1] == marker;
}

/*
 * A decrypted IPv4 packet ripsec lets through to local delivery. Its secpath mark makes the
 * socket layer run XFRM's inbound policy check on it, which passes it anyway when XFRM has no
 * inbound policy in @net, accepts by default, and the mark is the secpath's only entry: the
 * packet is told to skip that check then, as on a device with disable_policy. Socket
 * policies still apply.
 */
void ripsec_shim_skb_spare_xfrm_check(struct net *net, struct sk_buff *skb,
				      const struct xfrm_state *marker)
{
	const struct sec_path *sp = skb_sec_path(skb);

	if (sp && sp->len == 1 && sp->xvec[0] == marker &&
	    !READ_ONCE(net->xfrm.policy_count[XFRM_POLICY_IN]) &&
	    READ_ONCE(net->xfrm.policy_default[XFRM_POLICY_IN]) == XFRM_USERPOLICY_ACCEPT)
		IPCB(skb)->flags |= IPSKB_NOPOLICY;
}

/* ---- ESP in UDP (RFC 3948) on sockets the key manager hands over ---- */

/* The sk_user_data of every socket ripsec encapsulates on: marks it as ripsec's. */
static int ripsec_encap_tag;

/* UDP calls this with skb->data at the UDP header. Rust sees the packet from its IP header;
 * what it hands back goes on to the socket (IKE behind the non-ESP marker). */
static int ripsec_encap_rcv(struct sock *sk, struct sk_buff *skb)
{
	__skb_push(skb, skb_transport_header(skb) - skb_network_header(skb));
	skb = ripsec_rs_encap_rcv(sock_net(sk), skb);
	if (!skb)
		return 0;
	__skb_pull(skb, skb_transport_offset(skb));
	return 1;
}

/* The socket is being closed: Rust forgets it (and detaches). */
static void ripsec_encap_destroy(struct sock *sk)
{
	ripsec_rs_encap_closed(sock_net(sk), sk);
}

/*
 * Takes the UDP socket behind the requester's file descriptor @fd for ESP in UDP and returns
 * it with a reference held for ripsec (dropped by ripsec_shim_encap_put) and its local port
 * in @port (host order). ERR_PTR: -EBADF or -ENOTSOCK (no such
 * socket), -EPROTOTYPE (not UDP), -EXDEV (another netns), -EDESTADDRREQ (not bound),
 * -EALREADY (ripsec's already), -EBUSY (another encapsulation's).
 */
struct sock *ripsec_shim_encap_attach(struct net *net, int fd, u16 *port)
{
	struct udp_tunnel_sock_cfg cfg = {
		.sk_user_data = &ripsec_encap_tag,
		.encap_type = UDP_ENCAP_ESPINUDP,
		.encap_rcv = ripsec_encap_rcv,
		.encap_destroy = ripsec_encap_destroy,
	};
	struct socket *sock;
	struct sock *sk;
	int err = 0;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return ERR_PTR(err);
	sk = sock->sk;
	if (sk->sk_protocol != IPPROTO_UDP || sk->sk_type != SOCK_DGRAM ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		err = -EPROTOTYPE;
	else if (!net_eq(sock_net(sk), net))
		err = -EXDEV;
	if (err)
		goto out;
	lock_sock(sk);
	if (rcu_access_pointer(sk->sk_user_data) == (void *)&ripsec_encap_tag)
		err = -EALREADY;
	else if (READ_ONCE(udp_sk(sk)->encap_type) || rcu_access_pointer(sk->sk_user_data))
		err = -EBUSY;
	else if (!inet_sk(sk)->inet_sport)
		err = -EDESTADDRREQ;
	if (!err) {
		setup_udp_tunnel_sock(net, sk, &cfg);
		*port = ntohs(inet_sk(sk)->inet_sport);
		sock_hold(sk);
	}
	release_sock(sk);
out:
	sockfd_put(sock);
	return err ? ERR_PTR(err) : sk;
}

/* Undoes ripsec_shim_encap_attach's setup; packets already inside ripsec_encap_rcv finish
 * (the caller waits for an RCU grace period before dropping its reference). */
void ripsec_shim_encap_detach(struct sock *sk)
{
	lock_sock(sk);
	inet_set_bit(MC_LOOP, sk);
	inet_dec_convert_csum(sk);
	WRITE_ONCE(udp_sk(sk)->encap_type, 0);
	WRITE_ONCE(udp_sk(sk)->encap_rcv, NULL);
	WRITE_ONCE(udp_sk(sk)->encap_destroy, NULL);
	rcu_assign_sk_user_data(sk, NULL);
	release_sock(sk);
}

void ripsec_shim_encap_put(struct sock *sk)
{
	sock_put(sk);
}

/* Fills in the checksum of the IPv6 UDP datagram at @udp (@len bytes, header included). */
void ripsec_shim_udp6_checksum(u8 *udp, unsigned int len, const u8 *saddr, const u8 *daddr)
{
	struct udphdr *uh = (struct udphdr *)udp;

	uh->check = 0;
	uh->check = csum_ipv6_magic((const struct in6_addr *)saddr, (const struct in6_addr *)daddr,
				    len, IPPROTO_UDP, csum_partial(udp, len, 0));
	if (!uh->check)
		uh->check = CSUM_MANGLED_0;
}
