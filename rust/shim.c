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
#include <crypto/aead.h>
#include <crypto/hash.h>
#include "shim.h"
#include "uapi.h"

/* ---- per-netns state: one pointer in net_generic, owned by Rust ---- */

static unsigned int ripsec_net_id;

static int __net_init ripsec_net_init(struct net *net)
{
	return ripsec_rs_net_init(net, net_generic(net, ripsec_net_id));
}

static void __net_exit ripsec_net_exit(struct net *net)
{
	ripsec_rs_net_exit(*(void **)net_generic(net, ripsec_net_id));
}

static struct pernet_operations ripsec_net_ops = {
	.init = ripsec_net_init,
	.exit = ripsec_net_exit,
	.id = &ripsec_net_id,
	.size = sizeof(void *),
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
	return *(void **)net_generic(net, ripsec_net_id);
}

u64 ripsec_shim_net_cookie(struct net *net)
{
	return net->net_cookie;
}

/* ---- generic netlink family ---- */

static const struct nla_policy ripsec_policy[RIPSEC_A_MAX + 1] = RIPSEC_POLICY_INIT;

/* GENL_UNS_ADMIN_PERM: CAP_NET_ADMIN in the user namespace owning the netns. */
static const struct genl_small_ops ripsec_ops[] = {
	{
		.cmd = RIPSEC_CMD_GET_INFO,
		.doit = ripsec_rs_get_info,
		.flags = GENL_UNS_ADMIN_PERM,
	},
};

static const struct genl_multicast_group ripsec_mcgrps[] = RIPSEC_MCGRPS_INIT;

static struct genl_family ripsec_family = {
	.name = RIPSEC_FAMILY_NAME,
	.version = RIPSEC_FAMILY_VERSION,
	.maxattr = RIPSEC_A_MAX,
	.policy = ripsec_policy,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.small_ops = ripsec_ops,
	.n_small_ops = ARRAY_SIZE(ripsec_ops),
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

struct net *ripsec_shim_genl_info_net(struct genl_info *info)
{
	return genl_info_net(info);
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

/* ---- crypto ---- */

bool ripsec_shim_crypto_has_aead(const char *name)
{
	return crypto_has_aead(name, 0, 0);
}

bool ripsec_shim_crypto_has_ahash(const char *name)
{
	return crypto_has_ahash(name, 0, 0);
}
