// SPDX-License-Identifier: GPL-2.0
/* Function phases: which kernel functions --func times, and how (funcs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "trace/funcs.h"
#include "host/kallsyms.h"
#include "host/util.h"

/*
 * The presets: the functions of a path on every kernel generation bbscope
 * knows; each kernel has some (the rest are inlined or absent there).
 *   raid56: what the async_tx review asked for ("the converted functions,
 *     and major entrances like rmw_rbio()/recover_rbio()"), 6.3 and later,
 *     and their 5.10/6.1 forms (finish_rmw, raid56_rmw_stripe,
 *     __raid56_parity_recover, __raid_recover_end_io).
 *   csum: data checksums computed for writes and verified on reads.
 */
#define PRESET_MAX 24

static const struct preset {
	const char *name;
	const char *funcs[PRESET_MAX];
} presets[] = {
	{ "raid56",
	  { "rmw_rbio", "recover_rbio", "generate_pq_vertical", "generate_pq_vertical_step",
	    "recover_vertical", "recover_vertical_step", "recover_sectors",
	    "verify_one_parity_step", "verify_one_parity_sector", "finish_parity_scrub",
	    "recover_scrub_rbio", "memcpy_from_bio_to_stripe", "raid56_parity_cache_data_folios",
	    "raid56_parity_cache_data_pages", "finish_rmw", "raid56_rmw_stripe",
	    "__raid56_parity_recover", "__raid_recover_end_io" } },
	{ "csum",
	  { "btrfs_csum_one_bio", "csum_one_bio", "btree_csum_one_bio", "btrfs_check_read_bio",
	    "btrfs_data_csum_ok", "btrfs_check_data_csum", "check_data_csum",
	    "btrfs_lookup_bio_sums" } },
};

static void add_off(struct bbs_func_plan *p, const char *name, const char *why)
{
	for (int i = 0; i < p->nr_off; i++)
		if (!strcmp(p->off[i].name, name))
			return;
	if (p->nr_off == BBS_MAX_FUNC_OFF)
		return;
	snprintf(p->off[p->nr_off].name, sizeof(p->off[0].name), "%s", name);
	snprintf(p->off[p->nr_off].why, sizeof(p->off[0].why), "%s", why);
	p->nr_off++;
}

/* A function asked for, and its kallsyms symbol once found. */
struct want {
	const char *name;
	char sym[BBS_FUNC_NAME];
	bool exact; /* sym is name itself, not a compiler copy */
};

/*
 * The kallsyms symbol of a function asked for: "name" itself, else its
 * first compiler copy ("name.isra.0", "name.constprop.0").
 */
static void sym_seen(void *ctx, int i, const char *sym, const char *mod, unsigned long long addr)
{
	struct want *w = (struct want *)ctx + i;
	bool exact = !strcmp(sym, w->name);

	if (w->exact || strlen(sym) >= sizeof(w->sym) || (!exact && w->sym[0]))
		return;
	memcpy(w->sym, sym, strlen(sym) + 1);
	w->exact = exact;
}

/* Every function's symbol, in one read of /proc/kallsyms; sym empty where none. */
static void find_syms(struct want *w, int n)
{
	const char **names = calloc(n > 0 ? n : 1, sizeof(*names));

	if (!names)
		return;
	for (int i = 0; i < n; i++)
		names[i] = w[i].name;
	bbs_kallsyms_find(names, n, sym_seen, w);
	free(names);
}

/* What a function's first argument is, from its BTF prototype. */
static unsigned char arg_kind(const struct btf *btf, int id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_param *prm;
	const char *name;

	t = t ? btf__type_by_id(btf, t->type) : NULL;
	if (!t || !btf_is_func_proto(t) || btf_vlen(t) < 1)
		return FARG_NONE;
	prm = btf_params(t);
	t = btf__type_by_id(btf, prm->type);
	while (t && (btf_is_const(t) || btf_is_volatile(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_ptr(t))
		return FARG_NONE;
	t = btf__type_by_id(btf, t->type);
	while (t && (btf_is_const(t) || btf_is_volatile(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_struct(t))
		return FARG_NONE;
	name = btf__name_by_offset(btf, t->name_off);
	if (!strcmp(name, "btrfs_raid_bio"))
		return FARG_RBIO;
	if (!strcmp(name, "btrfs_bio"))
		return FARG_BBIO;
	if (!strcmp(name, "btrfs_inode"))
		return FARG_BTRFS_INODE;
	if (!strcmp(name, "inode"))
		return FARG_INODE;
	return FARG_NONE;
}

/* The fd of btrfs's BTF object where it is a module (fentry's target), else 0. */
static int btrfs_btf_fd(const struct bbs_kernel *k)
{
	return k->btrfs == BTRFS_MODULE ? bbs_module_btf_fd("btrfs") : 0;
}

/* Does an fentry program on this function load (BTF id in btf, object obj_fd)? */
static bool fentry_loads(int id, int obj_fd)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = id, .attach_btf_obj_fd = obj_fd > 0 ? obj_fd : 0);
	int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

struct plan_ctx {
	struct bbs_func_plan *p;
	const struct bbs_kernel *k;
	struct btf *btf; /* btrfs's (module split) or vmlinux's */
	int obj_fd;
	bool want_fentry, want_kprobe;
};

/* Plan one function: a slot, or the not-traced list with why. */
static void plan_one(struct plan_ctx *c, const struct want *w)
{
	struct bbs_func_plan *p = c->p;
	struct bbs_func_slot *s;
	int id;

	if (!w->sym[0]) {
		add_off(p, w->name, "not in this kernel (inlined or absent)");
		return;
	}
	if (p->n == MAX_FUNCS) {
		add_off(p, w->name, "no free slot (16 functions at most)");
		return;
	}
	s = &p->slot[p->n];
	snprintf(s->name, sizeof(s->name), "%s", w->name);
	snprintf(s->sym, sizeof(s->sym), "%s", w->sym);
	id = c->btf ? btf__find_by_name_kind(c->btf, w->name, BTF_KIND_FUNC) : -1;
	/* A compiler copy has its own calling convention: no BTF of its own. */
	s->fentry = c->want_fentry && id >= 0 && w->exact && fentry_loads(id, c->obj_fd);
	s->arg = id >= 0 && w->exact ? arg_kind(c->btf, id) : FARG_NONE;
	if (!s->fentry && !c->want_kprobe) {
		add_off(p, w->name,
			c->want_fentry ? "fentry refused on it, and no kprobes here"
				       : "no fentry or kprobes here");
		return;
	}
	p->n++;
}

static void add_want(struct want *w, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(w[i].name, name))
			return;
	w[(*n)++].name = name;
}

/* The functions a spec (a preset or a name) asks for, added to w. */
static int want_spec(struct want *w, int *n, const char *spec)
{
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strcmp(spec, presets[i].name))
			continue;
		for (int j = 0; j < PRESET_MAX && presets[i].funcs[j]; j++)
			add_want(w, n, presets[i].funcs[j]);
		return 0;
	}
	if (!*spec || strspn(spec, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(spec)) {
		bbs_err("--func %s: want a function name or a preset (raid56, csum)", spec);
		return -EINVAL;
	}
	add_want(w, n, spec);
	return 0;
}

int bbs_funcs_plan(struct bbs_func_plan *p, const char *const *specs, int n,
		   const struct bbs_kernel *k)
{
	const char *force = getenv("BBSCOPE_FUNC_ATTACH");
	struct plan_ctx c = { .p = p, .k = k };
	struct btf *vmlinux = NULL;
	struct want *w;
	int nw = 0, err = 0;

	memset(p, 0, sizeof(*p));
	w = calloc((size_t)n * PRESET_MAX + 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (int i = 0; i < n && !err; i++)
		err = want_spec(w, &nw, specs[i]);
	if (err) {
		free(w);
		return err;
	}
	if (force && *force && strcmp(force, "fentry") && strcmp(force, "kprobe")) {
		bbs_err("BBSCOPE_FUNC_ATTACH=%s: want fentry or kprobe", force);
		free(w);
		return -EINVAL;
	}
	c.want_fentry = k->fentry && !(force && !strcmp(force, "kprobe"));
	c.want_kprobe = k->kprobes && !(force && !strcmp(force, "fentry"));
	if (!c.want_fentry && !c.want_kprobe)
		snprintf(p->refused, sizeof(p->refused),
			 "--func: this kernel allows neither fentry (%s) nor kprobes%s: "
			 "no function phases, the rest is traced",
			 k->fentry ? "not wanted" : "refused on btrfs functions",
			 k->kprobes ? " (not wanted)" : " (CONFIG_KPROBES)");
	if (k->btrfs_btf && (c.want_fentry || c.want_kprobe)) {
		vmlinux = btf__load_vmlinux_btf();
		c.btf = k->btrfs == BTRFS_MODULE ? btf__load_module_btf("btrfs", vmlinux) : vmlinux;
		c.obj_fd = btrfs_btf_fd(k);
	}
	find_syms(w, nw);
	for (int i = 0; i < nw; i++)
		plan_one(&c, &w[i]);
	free(w);
	if (c.btf != vmlinux)
		btf__free(c.btf);
	btf__free(vmlinux);
	if (c.obj_fd > 0)
		close(c.obj_fd);
	if (p->refused[0]) {
		/* Nothing can be timed: every function asked for is listed as not traced. */
		for (int i = 0; i < p->n; i++)
			add_off(p, p->slot[i].name, "no fentry or kprobes here");
		p->n = 0;
	}
	return err;
}

static struct bpf_program *slot_prog(struct bpf_object *obj, const char *kind, int i)
{
	char name[32];

	snprintf(name, sizeof(name), "%s_%d", kind, i);
	return bpf_object__find_program_by_name(obj, name);
}

int bbs_funcs_prepare(const struct bbs_func_plan *p, struct bpf_object *obj,
		      volatile unsigned char *func_arg)
{
	static const char *const kinds[] = { "fentry", "fexit", "kprobe", "kretprobe" };

	for (int i = 0; i < MAX_FUNCS; i++) {
		bool used = i < p->n, fentry = used && p->slot[i].fentry;

		func_arg[i] = used ? p->slot[i].arg : FARG_NONE;
		/* kprobes take no BTF: their first argument is whatever the register holds. */
		for (int k = 0; k < 4; k++) {
			struct bpf_program *prog = slot_prog(obj, kinds[k], i);
			bool on = used && (k < 2) == fentry;

			if (!prog)
				return -ENOENT;
			bpf_program__set_autoload(prog, on);
			if (on && k < 2) {
				int err = bpf_program__set_attach_target(prog, 0, p->slot[i].sym);

				if (err)
					return err;
			}
		}
	}
	return 0;
}

int bbs_funcs_attach(struct bbs_func_plan *p, struct bpf_object *obj, struct bpf_link **links)
{
	int traced = 0;

	for (int i = 0; i < p->n; i++) {
		struct bbs_func_slot *s = &p->slot[i];
		char why[96];

		if (s->fentry) {
			links[2 * i] = bpf_program__attach(slot_prog(obj, "fentry", i));
			links[2 * i + 1] = links[2 * i]
						   ? bpf_program__attach(slot_prog(obj, "fexit", i))
						   : NULL;
		} else {
			links[2 * i] = bpf_program__attach_kprobe(slot_prog(obj, "kprobe", i),
								  false, s->sym);
			links[2 * i + 1] =
				links[2 * i] ? bpf_program__attach_kprobe(
						       slot_prog(obj, "kretprobe", i), true, s->sym)
					     : NULL;
		}
		if (links[2 * i] && links[2 * i + 1]) {
			traced++;
			continue;
		}
		snprintf(why, sizeof(why), "%s attach failed: %s", s->fentry ? "fentry" : "kprobe",
			 strerror(errno));
		bpf_link__destroy(links[2 * i]);
		links[2 * i] = NULL;
		add_off(p, s->name, why);
		s->name[0] = 0; /* the slot stays, unused */
	}
	return traced;
}

void bbs_funcs_describe(const struct bbs_func_plan *p, struct bbs_report *r)
{
	memset(r->func, 0, sizeof(r->func));
	for (int i = 0; i < p->n; i++) {
		snprintf(r->func[i].name, sizeof(r->func[i].name), "%s", p->slot[i].name);
		snprintf(r->func[i].attach, sizeof(r->func[i].attach), "%s",
			 p->slot[i].fentry ? "fentry" : "kprobe");
	}
	memcpy(r->func_off, p->off, sizeof(r->func_off));
	r->nr_func_off = p->nr_off;
}
