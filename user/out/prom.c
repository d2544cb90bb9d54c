// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "out/prom.h"
#include "host/util.h"

struct bbs_prom {
	int fd;
};

int bbs_prom_open(struct bbs_prom **out, const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	char host[256], *port;
	struct bbs_prom *p;
	int fd, one = 1, err;

	snprintf(host, sizeof(host), "%s", addr ? addr : "127.0.0.1:9435");
	port = strrchr(host, ':');
	if (!port || !port[1]) {
		bbs_err("--prom %s: want HOST:PORT", host);
		return -EINVAL;
	}
	*port++ = 0;
	/* [::1]:9435 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	err = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (err) {
		bbs_err("--prom %s:%s: %s", host, port, gai_strerror(err));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto err_errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16))
		goto err_close;
	freeaddrinfo(ai);
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	p->fd = fd;
	*out = p;
	return 0;

err_close:
	err = -errno;
	close(fd);
	freeaddrinfo(ai);
	bbs_err("cannot listen on %s:%s: %s", host, port, strerror(-err));
	return err;
err_errno:
	err = -errno;
	freeaddrinfo(ai);
	bbs_err("cannot open a socket: %s", strerror(-err));
	return err;
}

void bbs_prom_close(struct bbs_prom *p)
{
	if (!p)
		return;
	close(p->fd);
	free(p);
}

int bbs_prom_fd(const struct bbs_prom *p)
{
	return p->fd;
}

/* Power-of-two bucket bounds, 1 us .. ~8.6 s, plus +Inf. */
#define PROM_LO_LOG2 10
#define PROM_HI_LOG2 33

static void labels(char *buf, size_t len, const struct bbs_group_data *gd)
{
	char fs[256], dev[64];

	bbs_fs_name(gd->g.fs, fs, sizeof(fs));
	if (gd->g.dev)
		bbs_dev_name(gd->g.dev, dev, sizeof(dev));
	else
		snprintf(dev, sizeof(dev), "%s", "");
	/* Paths and device names carry no quotes or backslashes worth escaping here. */
	snprintf(buf, len, "fs=\"%s\",dev=\"%s\",op=\"%s\",kind=\"%s\"", fs, dev,
		 bbs_op_name[gd->g.op], bbs_kind_name[gd->g.kind]);
}

static void write_hist(FILE *f, const char *name, const char *lbl, const struct bbs_hist *h)
{
	uint64_t cum = 0;
	int s = 0;

	for (int k = PROM_LO_LOG2; k <= PROM_HI_LOG2; k++) {
		uint64_t bound = 1ULL << k;

		/* Slots tile the line, so a power of two is always a slot boundary. */
		while (s < HIST_SLOTS && bbs_hist_slot_hi(s) <= bound)
			cum += h->slots[s++];
		fprintf(f, "%s_bucket{%s,le=\"%.9g\"} %llu\n", name, lbl, bound / 1e9,
			(unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lbl, (unsigned long long)h->count);
	fprintf(f, "%s_sum{%s} %.9f\n", name, lbl, h->sum_ns / 1e9);
	fprintf(f, "%s_count{%s} %llu\n", name, lbl, (unsigned long long)h->count);
}

enum counter_kind {
	CNT_BIOS,
	CNT_BYTES,
	CNT_COMPLETE_CTX,
	CNT_ENDIO_CTX,
};

/* One counter family over the device groups. */
static void counter(FILE *f, const struct bbs_report *r, enum counter_kind kind, const char *name,
		    const char *help)
{
	char lbl[512];

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (size_t i = 0; i < r->nr_groups; i++) {
		const struct bbs_stats *s = &r->groups[i].stats;
		const __u64 *ctx = kind == CNT_COMPLETE_CTX ? s->complete_ctx : s->endio_ctx;

		if (!r->groups[i].g.dev)
			continue;
		labels(lbl, sizeof(lbl), &r->groups[i]);
		if (kind == CNT_BIOS || kind == CNT_BYTES) {
			fprintf(f, "%s{%s} %llu\n", name, lbl,
				(unsigned long long)(kind == CNT_BIOS ? s->bios : s->bytes));
			continue;
		}
		for (int x = 0; x < NR_CTX; x++)
			fprintf(f, "%s{%s,ctx=\"%s\"} %llu\n", name, lbl, bbs_ctx_name[x],
				(unsigned long long)ctx[x]);
	}
}

/* Function phases (--func): one histogram family, phase="func:NAME", total and self. */
static void write_funcs(FILE *f, const struct bbs_report *r)
{
	static const char *const name = "bbscope_func_seconds";
	char lbl[512], fs[256];

	if (!r->nr_funcs)
		return;
	fprintf(f,
		"# HELP %s Kernel function call time (hist --func): total, and self "
		"(less the traced calls it made).\n# TYPE %s histogram\n",
		name, name);
	for (size_t i = 0; i < r->nr_funcs; i++) {
		const struct bbs_func_data *fd = &r->funcs[i];

		if (!fd->total.count || fd->slot >= MAX_FUNCS)
			continue;
		bbs_fs_name(fd->fs, fs, sizeof(fs));
		for (int self = 0; self < 2; self++) {
			snprintf(lbl, sizeof(lbl),
				 "fs=\"%s\",phase=\"func:%s\",under=\"%s\",time=\"%s\"", fs,
				 r->func[fd->slot].name, bbs_under_name[fd->under],
				 self ? "self" : "total");
			write_hist(f, name, lbl, self ? &fd->self : &fd->total);
		}
	}
}

void bbs_prom_write(FILE *f, const struct bbs_report *r)
{
	char lbl[512], name[64];

	for (int p = 0; p < NR_PHASES; p++) {
		snprintf(name, sizeof(name), "bbscope_%s_seconds", bbs_phase_name[p]);
		fprintf(f, "# HELP %s btrfs bio %s phase latency.\n# TYPE %s histogram\n", name,
			bbs_phase_name[p], name);
		for (size_t i = 0; i < r->nr_groups; i++) {
			const struct bbs_group_data *gd = &r->groups[i];

			if (!gd->phases[p].count)
				continue;
			labels(lbl, sizeof(lbl), gd);
			write_hist(f, name, lbl, &gd->phases[p]);
		}
	}
	counter(f, r, CNT_BIOS, "bbscope_bios_total", "btrfs bios finished.");
	counter(f, r, CNT_BYTES, "bbscope_bytes_total", "Bytes of btrfs bios finished.");
	counter(f, r, CNT_COMPLETE_CTX, "bbscope_complete_ctx_total",
		"Bio completions by the context the block layer completed them in.");
	counter(f, r, CNT_ENDIO_CTX, "bbscope_endio_ctx_total",
		"btrfs end_io runs by the context they ran in.");
	write_funcs(f, r);
	fputs("# HELP bbscope_lost_total Observations lost (map full, ring buffer, evicted).\n"
	      "# TYPE bbscope_lost_total counter\n",
	      f);
	for (int i = 0; i < NR_LOST_BPF; i++)
		fprintf(f, "bbscope_lost_total{reason=\"%s\"} %llu\n", bbs_lost_name[i],
			(unsigned long long)r->lost[i]);
	fprintf(f, "bbscope_lost_total{reason=\"evicted\"} %llu\n", (unsigned long long)r->evicted);
}

void bbs_prom_serve(struct bbs_prom *p, const struct bbs_report *r)
{
	struct pollfd pfd;
	char req[2048], *body = NULL;
	size_t body_len = 0;
	ssize_t n;
	FILE *f;
	int c;

	c = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	/* One request per connection; a client that sends nothing in 1 s is dropped. */
	pfd.fd = c;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 1000) <= 0)
		goto out;
	n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0)
		goto out;
	req[n] = 0;
	f = open_memstream(&body, &body_len);
	if (!f)
		goto out;
	if (strncmp(req, "GET ", 4)) {
		fclose(f);
		dprintf(c, "HTTP/1.0 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
		goto out;
	}
	bbs_prom_write(f, r);
	fclose(f);
	dprintf(c,
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		body_len);
	for (size_t off = 0; off < body_len;) {
		n = send(c, body + off, body_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += n;
	}
out:
	free(body);
	close(c);
}
