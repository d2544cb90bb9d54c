/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Function phases (hist --func, record --func): which kernel functions to
 * time, and how, on this kernel.  A SPEC is a btrfs function's name or a
 * preset (`raid56`, `csum`: the functions of that path across kernel
 * generations, as far as this kernel has them).  Each function present
 * gets a slot of bpf/funcs.bpf.h, timed with fentry/fexit where the kernel
 * allows it (a test load on that function passes), else kprobe/kretprobe;
 * the others are listed with the reason.  The tracer (tracer.c) drives it:
 * plan once, prepare each object before load, attach after.
 */
#ifndef BBS_TRACE_FUNCS_H
#define BBS_TRACE_FUNCS_H

#include <stdbool.h>

#include "host/kernel.h"
#include "model/report.h"

struct bpf_object;
struct bpf_link;

struct bbs_func_slot {
	char name[BBS_FUNC_NAME]; /* as asked for, the phase's name after "func:" */
	char sym[BBS_FUNC_NAME]; /* the kallsyms symbol (a compiler copy: name.isra.0) */
	bool fentry; /* else kprobe */
	unsigned char arg; /* enum bbs_func_arg */
};

struct bbs_func_plan {
	int n; /* slots used */
	struct bbs_func_slot slot[MAX_FUNCS];
	int nr_off;
	struct bbs_func_off off[BBS_MAX_FUNC_OFF];
	/* Set when this kernel allows neither fentry nor kprobes: the one line to say. */
	char refused[160];
};

/*
 * Resolve specs on this kernel.  BBSCOPE_FUNC_ATTACH=kprobe|fentry forces
 * one way.  0, or -EINVAL after one error line (a name that is no
 * function's, an unknown preset).
 */
int bbs_funcs_plan(struct bbs_func_plan *p, const char *const *specs, int n,
		   const struct bbs_kernel *k);

/*
 * Before load: point each slot's programs at its function and load only
 * those; write each slot's argument kind into func_arg (the object's
 * read-only data).
 */
int bbs_funcs_prepare(const struct bbs_func_plan *p, struct bpf_object *obj,
		      volatile unsigned char *func_arg);

/*
 * After load: attach each slot's pair into links[2 * slot ...].  A slot
 * that does not attach moves to the not-traced list.  Returns how many
 * functions are traced.
 */
int bbs_funcs_attach(struct bbs_func_plan *p, struct bpf_object *obj, struct bpf_link **links);

/* The report's view of the plan: slots' names and attach kinds, the not-traced list. */
void bbs_funcs_describe(const struct bbs_func_plan *p, struct bbs_report *r);

#endif
