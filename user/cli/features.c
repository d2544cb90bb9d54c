// SPDX-License-Identifier: GPL-2.0
/*
 * bbscope features: what this host allows and what bbscope does with it,
 * as `bpftool feature probe` does for BPF.  The kernel facts come from
 * user/host/kernel.c; as root the tracer is also opened (its programs
 * loaded and attached, then closed), so what is said of programs,
 * tracepoints and phases is what `hist` and `record` would get.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cli/cmd.h"
#include "cli/options.h"
#include "host/caps.h"
#include "host/kernel.h"
#include "host/util.h"
#include "host/version.h"
#include "model/report.h"
#include "trace/tracer.h"

static const char *const where_name[] = {
	[BTRFS_ABSENT] = "absent",
	[BTRFS_NOT_LOADED] = "not_loaded",
	[BTRFS_BUILTIN] = "built_in",
	[BTRFS_MODULE] = "module",
};

static const char *const class_name[] = {
	[CLASS_NONE] = "none",
	[CLASS_BBIO] = "btrfs_bio",
	[CLASS_RAID] = "raid56_strip",
	[CLASS_SUPER] = "superblock",
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bbscope features [--json]\n"
		   "\n"
		   "What this host allows and what bbscope will do with it: the kernel, its\n"
		   "BTF, where btrfs is (built in, a module) and whether its types can be read,\n"
		   "the BPF features the tracer needs (tp_btf, raw_tp, fentry, kprobes), the\n"
		   "btrfs functions found and where each bio's end_io runs, every tracepoint,\n"
		   "and each phase per op: observable, or why not.  As root the tracer is\n"
		   "loaded and attached for a moment, so the answer is what 'hist' gets.\n"
		   "\n"
		   "  -j, --json    one JSON object (docs/json.md)\n"
		   "  -h, --help    show this text\n");
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

/* Why tracing cannot start here, as the tracer would say it; NULL if it can. */
static const char *blocker(const struct bbs_kernel *k)
{
	if (!k->btf)
		return "this kernel has no BTF (/sys/kernel/btf/vmlinux): bbscope needs "
		       "CONFIG_DEBUG_INFO_BTF";
	if (k->btrfs == BTRFS_ABSENT)
		return "this kernel has no btrfs (not built in, no module)";
	if (k->btrfs == BTRFS_NOT_LOADED)
		return "the btrfs module is not loaded (modprobe btrfs, or mount a btrfs)";
	if (!bbs_kernel_has_btrfs_bios(k))
		return "no btrfs end_io function of any known kernel generation is in "
		       "/proc/kallsyms";
	return NULL;
}

/*
 * What an unprivileged run cannot see, each with why: [{what, why}].  Empty
 * as root.  The keys it names are then unknown, not "no".
 */
static json_t *unseen_json(bool no_kallsyms)
{
	json_t *a = json_array();

	if (no_kallsyms)
		json_array_append_new(a,
				      json_pack("{s:s,s:s}", "what", "functions", "why",
						"btrfs functions and end_io: /proc/kallsyms "
						"shows no addresses (kptr_restrict; run as root)"));
	if (geteuid() != 0)
		json_array_append_new(a, json_pack("{s:s,s:s}", "what", "bpf", "why",
						   "BPF features: loading a probe program needs "
						   "root (CAP_BPF)"));
	return a;
}

static json_t *kernel_json(const struct bbs_kernel *k)
{
	json_t *fns = json_object(), *endio = json_array();

	for (int i = 0; i < NR_FNS; i++)
		json_object_set_new(fns, bbs_fn_candidates(i)[0],
				    k->fn_name[i] ? json_string(k->fn_name[i]) : json_null());
	for (int i = 0; i < FN_NR_END_IO; i++)
		if (k->fn[i])
			json_array_append_new(endio,
					      json_pack("{s:s,s:s}", "function", k->fn_name[i],
							"class", class_name[k->fn_class[i]]));
	return json_pack("{s:s,s:b,s:s,s:b,s:s,s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b},s:b,s:o,s:o}",
			 "kernel", k->release, "btf", k->btf, "btrfs", where_name[k->btrfs],
			 "btrfs_btf", k->btrfs_btf, "lockdown", k->lockdown, "bpf", "tp_btf",
			 k->tp_btf, "raw_tp", k->btf, "rdonly_cast", k->rdonly_cast, "task_storage",
			 k->task_storage, "cmpxchg", k->cmpxchg, "fentry", k->fentry, "kprobes",
			 k->kprobes, "tp_preemptible", k->tp_preemptible, "functions", fns,
			 "end_io", endio);
}

static json_t *why_json(int why)
{
	if (!why)
		return json_pack("{s:b}", "observable", 1);
	return json_pack("{s:b,s:s,s:s}", "observable", 0, "reason", bbs_why_name[why], "detail",
			 bbs_why_detail[why]);
}

static json_t *tracer_json(const struct bbs_tracer *t)
{
	const struct bbs_kernel *k = bbs_tracer_kernel(t);
	json_t *tps = json_array(), *phases = json_object(), *endio = json_array();
	uint8_t why[BBS_NR_OPS][NR_PHASES];

	for (size_t i = 0; i < bbs_tracer_nr_tps(); i++) {
		struct bbs_tp_info tp;

		bbs_tracer_tp(t, i, &tp);
		json_array_append_new(tps, json_pack("{s:s,s:s?,s:s?,s:b,s:s?}", "name", tp.name,
						     "attach", tp.attach, "as", tp.as, "attached",
						     tp.attached, "why", tp.why));
	}
	bbs_tracer_phase_why(t, why);
	for (int op = 0; op < BBS_NR_OPS; op++) {
		json_t *o = json_object();

		for (int p = 0; p < NR_PHASES; p++)
			if (bbs_phase_has_op(p, op))
				json_object_set_new(o, bbs_phase_name[p], why_json(why[op][p]));
		json_object_set_new(phases, bbs_op_name[op], o);
	}
	for (int i = 0; i < FN_NR_END_IO; i++) {
		uint8_t w = bbs_tracer_work_ops(t, i);

		if (!k->fn[i] || k->fn_class[i] != CLASS_BBIO)
			continue;
		json_array_append_new(
			endio, json_pack("{s:s,s:s,s:s}", "function", k->fn_name[i], "read",
					 w & (1U << BBS_OP_READ) ? "work" : "inline", "write",
					 w & (1U << BBS_OP_WRITE) ? "work" : "inline"));
	}
	return json_pack("{s:s,s:s?,s:s,s:o,s:o,s:o}", "programs", bbs_tracer_attach_type(t),
			 "programs_why", bbs_tracer_attach_why(t), "contexts",
			 bbs_tracer_ctx_from_preempt_count(t) ? "preempt_count" : "irq_tracepoints",
			 "end_io", endio, "tracepoints", tps, "phases", phases);
}

static void print_kernel(const struct bbs_kernel *k)
{
	printf("kernel       %s\n", k->release);
	printf("BTF          %s\n", yes(k->btf));
	printf("btrfs        %s, %s BTF\n", where_name[k->btrfs],
	       k->btrfs_btf ? "with" : "without");
	printf("lockdown     %s\n", k->lockdown[0] ? k->lockdown : "unknown");
	printf("BPF          tp_btf %s, raw_tp %s, bpf_rdonly_cast %s, task storage %s, "
	       "cmpxchg %s\n",
	       yes(k->tp_btf), yes(k->btf), yes(k->rdonly_cast), yes(k->task_storage),
	       yes(k->cmpxchg));
	printf("fentry       %s (on btrfs functions)\n", yes(k->fentry));
	printf("kprobes      %s\n", yes(k->kprobes));
	printf("tracepoints  %s\n", k->tp_preemptible
					    ? "preemptible (SRCU-fast): BPF accounts with atomics"
					    : "not preemptible");
}

static void print_tracer(const struct bbs_tracer *t)
{
	uint8_t why[BBS_NR_OPS][NR_PHASES];

	bbs_tracer_describe((struct bbs_tracer *)t, stdout);
	bbs_tracer_phase_why(t, why);
	printf("phases\n");
	for (int p = 0; p < NR_PHASES; p++) {
		bool first = true;

		for (int op = 0; op < BBS_NR_OPS; op++) {
			if (!bbs_phase_has_op(p, op))
				continue;
			printf("  %-8s %-5s  %s%s\n", first ? bbs_phase_name[p] : "",
			       bbs_op_name[op], why[op][p] ? "no: " : "yes",
			       bbs_why_detail[why[op][p]]);
			first = false;
		}
	}
}

int cmd_features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct bbs_tracer_opts to = { .quiet = true };
	struct bbs_tracer *t = NULL;
	struct bbs_kernel k;
	const char *stop;
	bool failed, json = bbs_opt_json(argc, argv);
	json_t *o, *unseen;
	int c, err;

	bbs_opt_start();
	while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return BBS_EXIT_OK;
		}
		if (c != 'j')
			return bbs_opt_error(c, argv, "features");
	}
	if (optind < argc) {
		bbs_err("unexpected argument '%s'", argv[optind]);
		return BBS_EXIT_USAGE;
	}
	/* -EPERM: kallsyms shows no addresses; the other facts are there. */
	err = bbs_kernel_probe(&k);
	if (err && err != -EPERM) {
		bbs_err("cannot read /proc/kallsyms: %s", strerror(-err));
		return BBS_EXIT_FAIL;
	}
	unseen = unseen_json(err == -EPERM);
	stop = err == -EPERM ? NULL : blocker(&k);
	failed = stop != NULL;
	char missing[128], why[192];
	bool may_trace = bbs_caps_for_tracing(missing, sizeof(missing));
	uint64_t eff = bbs_caps_effective();
	static const int caps[] = { BBS_CAP_BPF, BBS_CAP_PERFMON, BBS_CAP_SYSLOG,
				    BBS_CAP_SYS_RESOURCE, BBS_CAP_SYS_ADMIN };

	if (!stop && !may_trace) {
		snprintf(why, sizeof(why), "the tracer was not tried: missing %s", missing);
		stop = why;
	} else if (!stop && bbs_tracer_open(&t, &to)) {
		stop = "the tracer cannot start here (run 'bbscope hist -v' for why)";
		failed = true;
	}
	if (json) {
		o = kernel_json(&k);
		json_object_set(o, "unseen", unseen);
		json_object_set_new(o, "version", json_string(bbs_version));
		json_object_set_new(o, "commit", json_string(bbs_commit));
		json_t *have = json_array(), *lack = json_array();

		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
			json_array_append_new(eff & (1ULL << caps[i]) ? have : lack,
					      json_string(bbs_cap_name(caps[i])));
		json_object_set_new(o, "capabilities",
				    json_pack("{s:o,s:o,s:b,s:s}", "effective", have, "absent",
					      lack, "may_trace", may_trace, "missing", missing));
		json_object_set_new(o, "traceable", json_boolean(t != NULL));
		if (t)
			json_object_set_new(o, "tracer", tracer_json(t));
		else
			json_object_set_new(o, "why", json_string(stop));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("bbscope      %s (commit %s)\n", bbs_version, bbs_commit);
		print_kernel(&k);
		for (size_t i = 0; i < json_array_size(unseen); i++)
			printf("%-12s %s\n", i ? "" : "unseen",
			       json_string_value(
				       json_object_get(json_array_get(unseen, i), "why")));
		printf("capabilities");
		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
			printf("%s %s %s", i ? "," : "", bbs_cap_name(caps[i]),
			       yes(eff & (1ULL << caps[i])));
		printf("\nmay trace    %s%s%s\n", may_trace ? "yes" : "no: missing ", missing,
		       may_trace ? "" : " (or run as root)");
		if (t)
			print_tracer(t);
		else
			printf("tracing      no: %s\n", stop);
	}
	bbs_tracer_close(t);
	json_decref(unseen);
	/* Without root the facts are all there is to say: that is no failure. */
	return failed ? BBS_EXIT_FAIL : BBS_EXIT_OK;
}
