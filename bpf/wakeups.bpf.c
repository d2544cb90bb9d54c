// SPDX-License-Identifier: GPL-2.0
/*
 * Wake-up waits of one process's threads (the bench's replays): for each
 * wake-up of a thread of target_tgid, the time from sched_wakeup to the
 * sched_switch that runs it, and how much CPU-idle time the machine had
 * meanwhile (summed over the CPUs, clamped to the wait).  A wait that
 * passed with a CPU idle is the scheduler's own delay (placement, an idle
 * CPU's wake-up); one that passed with every CPU busy is the wait for a
 * core, which the bench model's processor sharing makes again
 * (docs/design.md, "Sharing the cores").
 *
 * sched_switch fires for every context switch of the machine: this is for
 * the bench's own replays, attached only for their run, never by the tracer.
 */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "bbscope_wakeups.h"

char LICENSE[] SEC("license") = "GPL";

/* another CPU's entry is read while that CPU writes it: whole words */
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

const volatile __u32 target_tgid;
const volatile __u32 nr_cpus = 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BBS_WAKEUPS_MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bbs_cpu_idle);
} cpu_idle SEC(".maps");

struct woken {
	__u64 ts, idle;
};

/* thread id -> its pending wake-up */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BBS_WAKEUPS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct woken);
} woken SEC(".maps");

/* thread id -> its wake-ups, summed */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BBS_WAKEUPS_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct bbs_wake_stat);
} wake_stats SEC(".maps");

/* The machine's CPU-idle time until now, every CPU's summed. */
static __u64 idle_sum(__u64 now)
{
	__u64 sum = 0;

	for (__u32 i = 0; i < BBS_WAKEUPS_MAX_CPUS && i < nr_cpus; i++) {
		__u32 key = i; /* the loop counter stays in a register: its bound is known */
		struct bbs_cpu_idle *c = bpf_map_lookup_elem(&cpu_idle, &key);
		__u64 since;

		if (!c)
			break;
		since = READ_ONCE(c->since);
		sum += READ_ONCE(c->total) + (since && now > since ? now - since : 0);
	}
	return sum;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	struct woken w;
	__u32 tid;

	if (p->tgid != target_tgid)
		return 0;
	tid = p->pid;
	w.ts = bpf_ktime_get_ns();
	w.idle = idle_sum(w.ts);
	bpf_map_update_elem(&woken, &tid, &w, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id(), tid;
	struct bbs_cpu_idle *c = bpf_map_lookup_elem(&cpu_idle, &cpu);
	__u64 now = bpf_ktime_get_ns(), wait, idle;
	struct bbs_wake_stat *st, zero = {};
	struct woken *w;

	if (c) {
		if (prev->pid == 0 && c->since && now > c->since) {
			WRITE_ONCE(c->total, c->total + now - c->since);
			WRITE_ONCE(c->since, 0);
		}
		if (next->pid == 0)
			WRITE_ONCE(c->since, now);
	}
	if (next->tgid != target_tgid)
		return 0;
	tid = next->pid;
	w = bpf_map_lookup_elem(&woken, &tid);
	if (!w)
		return 0;
	wait = now > w->ts ? now - w->ts : 0;
	idle = idle_sum(now);
	idle = idle > w->idle ? idle - w->idle : 0;
	bpf_map_delete_elem(&woken, &tid);
	st = bpf_map_lookup_elem(&wake_stats, &tid);
	if (!st) {
		bpf_map_update_elem(&wake_stats, &tid, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&wake_stats, &tid);
		if (!st)
			return 0;
	}
	/* only this thread's own switch-in writes its entry */
	st->wakeups++;
	st->wait_ns += wait;
	st->wait_idle_ns += idle < wait ? idle : wait;
	return 0;
}
