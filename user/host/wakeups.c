// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "host/caps.h"
#include "host/wakeups.h"
#include "wakeups.skel.h"

struct bbs_wakeups {
	struct wakeups_bpf *skel;
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

struct bbs_wakeups *bbs_wakeups_start(void)
{
	libbpf_print_fn_t old;
	struct bbs_wakeups *w;
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	char why[128];

	if (!bbs_caps_for_tracing(why, sizeof(why)) || cpus < 1 || cpus > BBS_WAKEUPS_MAX_CPUS)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	/* a kernel that refuses the programs is told apart by NULL, not by libbpf's lines */
	old = libbpf_set_print(quiet);
	w->skel = wakeups_bpf__open();
	if (w->skel) {
		w->skel->rodata->target_tgid = (__u32)getpid();
		w->skel->rodata->nr_cpus = (__u32)cpus;
		if (wakeups_bpf__load(w->skel) || wakeups_bpf__attach(w->skel)) {
			wakeups_bpf__destroy(w->skel);
			w->skel = NULL;
		}
	}
	libbpf_set_print(old);
	if (!w->skel) {
		free(w);
		return NULL;
	}
	return w;
}

void bbs_wakeups_read(const struct bbs_wakeups *w, int tid, struct bbs_wake_stat *st)
{
	__u32 key = (__u32)tid;

	if (bpf_map__lookup_elem(w->skel->maps.wake_stats, &key, sizeof(key), st, sizeof(*st), 0))
		*st = (struct bbs_wake_stat){ 0 };
}

void bbs_wakeups_stop(struct bbs_wakeups *w)
{
	if (!w)
		return;
	wakeups_bpf__destroy(w->skel);
	free(w);
}
