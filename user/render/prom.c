// SPDX-License-Identifier: GPL-2.0
/* Prometheus exposition and its endpoint (render/prom.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <netinet/in.h>
#include <microhttpd.h>

#include "render/prom.h"
#include "host/jsonstr.h"
#include "host/util.h"

struct bbs_prom {
	struct MHD_Daemon *httpd;
	pthread_mutex_t lock; /* text, len: swapped by publish, copied by scrapes */
	char *text;
	size_t len;
	char url[128];
};

/* ---- the exposition ---- */

/* Power-of-two bucket bounds, 1 us .. ~8.6 s, plus +Inf. */
#define PROM_LO_LOG2 10
#define PROM_HI_LOG2 33

/*
 * A label value as the exposition format wants it: '\', '"' and newline
 * escaped, and UTF-8 (a byte that is not part of valid UTF-8 becomes
 * U+FFFD): a mount point can hold any byte but '/' and NUL.
 */
static void label_value(char *dst, size_t len, const char *s)
{
	char *text = bbs_utf8_lossy(s);
	size_t n = 0;

	for (const char *p = text ? text : ""; *p && n + 3 < len; p++) {
		if (*p == '\\' || *p == '"' || *p == '\n') {
			dst[n++] = '\\';
			dst[n++] = *p == '\n' ? 'n' : *p;
		} else {
			dst[n++] = *p;
		}
	}
	dst[n] = 0;
	free(text);
}

static void labels(char *buf, size_t len, const struct bbs_group_data *gd)
{
	char fs[256], dev[64], efs[2 * sizeof(fs)], edev[2 * sizeof(dev)];

	bbs_fs_name(gd->g.fs, fs, sizeof(fs));
	if (gd->g.dev)
		bbs_dev_name(gd->g.dev, dev, sizeof(dev));
	else
		dev[0] = 0;
	label_value(efs, sizeof(efs), fs);
	label_value(edev, sizeof(edev), dev);
	snprintf(buf, len, "fs=\"%s\",dev=\"%s\",op=\"%s\",kind=\"%s\"", efs, edev,
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
	char lbl[1024];

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
	char lbl[1024], fs[256], efs[2 * sizeof(fs)];

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
		label_value(efs, sizeof(efs), fs);
		for (int self = 0; self < 2; self++) {
			snprintf(lbl, sizeof(lbl),
				 "fs=\"%s\",phase=\"func:%s\",under=\"%s\",time=\"%s\"", efs,
				 r->func[fd->slot].name, bbs_under_name[fd->under],
				 self ? "self" : "total");
			write_hist(f, name, lbl, self ? &fd->self : &fd->total);
		}
	}
}

/*
 * The running kernel, node_exporter's node_uname_info on bbscope's own
 * instance label: a fleet asks which hosts changed after a kernel update
 * (docs/guide.md, "From one host to a fleet").
 */
static void write_kernel(FILE *f)
{
	struct utsname u;
	char rel[2 * sizeof(u.release)];

	if (uname(&u))
		return;
	label_value(rel, sizeof(rel), u.release);
	fprintf(f,
		"# HELP bbscope_kernel_info The running kernel (uname -r), always 1.\n"
		"# TYPE bbscope_kernel_info gauge\nbbscope_kernel_info{release=\"%s\"} 1\n",
		rel);
}

void bbs_prom_write(FILE *f, const struct bbs_report *r)
{
	char lbl[1024], name[64];

	write_kernel(f);

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
	fprintf(f,
		"# HELP bbscope_sample One bio in this many is followed (--sample); counts are "
		"scaled by it.\n# TYPE bbscope_sample gauge\nbbscope_sample %u\n",
		r->sample ? r->sample : 1);
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
	/* bbscope's own BPF programs, where the kernel lets them be measured (bpf_stats). */
	if (!r->cost_measured)
		return;
	fputs("# HELP bbscope_bpf_seconds_total CPU time bbscope's BPF programs ran (bpf_stats).\n"
	      "# TYPE bbscope_bpf_seconds_total counter\n",
	      f);
	for (size_t i = 0; i < r->nr_prog_cost; i++)
		fprintf(f, "bbscope_bpf_seconds_total{prog=\"%s\"} %.9f\n", r->prog_cost[i].name,
			r->prog_cost[i].ns / 1e9);
	fputs("# HELP bbscope_bpf_runs_total Runs of bbscope's BPF programs (bpf_stats).\n"
	      "# TYPE bbscope_bpf_runs_total counter\n",
	      f);
	for (size_t i = 0; i < r->nr_prog_cost; i++)
		fprintf(f, "bbscope_bpf_runs_total{prog=\"%s\"} %llu\n", r->prog_cost[i].name,
			(unsigned long long)r->prog_cost[i].runs);
}

/* ---- the endpoint ---- */

int bbs_prom_publish(struct bbs_prom *p, const struct bbs_report *r)
{
	char *text = NULL, *old;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return -ENOMEM;
	bbs_prom_write(f, r);
	if (fclose(f)) {
		free(text);
		return -ENOMEM;
	}
	pthread_mutex_lock(&p->lock);
	old = p->text;
	p->text = text;
	p->len = len;
	pthread_mutex_unlock(&p->lock);
	free(old);
	return 0;
}

/* libmicrohttpd's thread: a copy of the latest text, made under the lock. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_len, void **req)
{
	static const char not_found[] = "bbscope: the metrics are at /metrics\n";
	struct bbs_prom *p = cls;
	struct MHD_Response *resp;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;

	/* A whole request came: this client may keep the connection for the next. */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
				  (unsigned int)BBS_PROM_TIMEOUT_S);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics")) {
		resp = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						       MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		pthread_mutex_lock(&p->lock);
		resp = MHD_create_response_from_buffer(p->len, p->text ? p->text : "",
						       MHD_RESPMEM_MUST_COPY);
		pthread_mutex_unlock(&p->lock);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
						      : "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* "HOST:PORT" split; the port checked (0..65535), brackets of "[::1]" dropped. */
static int parse_addr(const char *addr, char *host, size_t len, char *port, size_t plen)
{
	unsigned long long n;
	char *colon;

	snprintf(host, len, "%s", addr);
	colon = strrchr(host, ':');
	if (!colon || bbs_parse_uint(colon + 1, 65535, &n)) {
		bbs_err("--prom %s: want HOST:PORT, a port from 0 to 65535", addr);
		return -EINVAL;
	}
	*colon = 0;
	snprintf(port, plen, "%llu", n);
	if (host[0] == '[' && colon > host + 1 && colon[-1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	/* ":PORT" keeps the default's loopback: every address only when named. */
	if (!host[0])
		snprintf(host, len, "127.0.0.1");
	return 0;
}

/* 127.0.0.0/8, ::1 or ::ffff:127.x.y.z: only this host can connect. */
static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *s6 = (const void *)ss;
	const struct sockaddr_in *s4 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family != AF_INET6)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127;
}

/* Bind and listen ourselves: the address family is the host's, and :0 can be told. */
static int listen_on(const char *host, const char *port, char *url, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai = NULL;
	char h[INET6_ADDRSTRLEN], s[16];
	int fd, one = 1, err;

	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		bbs_err("--prom %s:%s: %s", host, port, gai_strerror(err));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), s, sizeof(s),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		err = -errno;
		bbs_err("cannot listen on %s:%s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	snprintf(url, len,
		 ss.ss_family == AF_INET6 ? "http://[%s]:%s/metrics" : "http://%s:%s/metrics", h,
		 s);
	if (!is_loopback(&ss))
		bbs_warn("%s listens beyond this host: whoever can reach it reads the metrics "
			 "(firewall it, or keep the default, 127.0.0.1)",
			 url);
	return fd;
}

/*
 * How many connections at once: as many as the fd limit allows, less what the
 * tracer holds (BPF objects, files), so that stalled clients, however many a
 * local user opens, cannot take every slot and leave scrapes waiting for a
 * timeout.  The soft limit is raised to the hard one first (the select()-era
 * default of 1024 is for programs that use select(); MHD here uses epoll).
 */
static unsigned int conn_limit(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return BBS_PROM_MIN_CONNS;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	n = rl.rlim_cur;
	if (n == RLIM_INFINITY || n > BBS_PROM_MAX_CONNS + BBS_PROM_FD_RESERVE)
		return BBS_PROM_MAX_CONNS;
	if (n < BBS_PROM_MIN_CONNS + BBS_PROM_FD_RESERVE)
		return BBS_PROM_MIN_CONNS;
	return (unsigned int)(n - BBS_PROM_FD_RESERVE);
}

int bbs_prom_open(struct bbs_prom **out, const char *addr)
{
	char host[256], port[16];
	struct bbs_prom *p;
	int fd;

	if (parse_addr(addr ? addr : BBS_PROM_DEF_ADDR, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	fd = listen_on(host, port, p->url, sizeof(p->url));
	if (fd < 0) {
		bbs_prom_close(p);
		return fd;
	}
	/*
	 * One internal thread, epoll: many connections, none blocks another.  A
	 * client has BBS_PROM_REQUEST_TIMEOUT_S to send a request (answer()
	 * then allows BBS_PROM_TIMEOUT_S between requests); each holds at most
	 * BBS_PROM_CONN_MEMORY (requests are a few hundred bytes).
	 */
	p->httpd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, answer, p,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, conn_limit(),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)BBS_PROM_REQUEST_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)BBS_PROM_CONN_MEMORY, MHD_OPTION_END);
	if (!p->httpd) {
		bbs_err("cannot start the HTTP server on %s", p->url);
		close(fd);
		bbs_prom_close(p);
		return -EIO;
	}
	*out = p;
	return 0;
}

void bbs_prom_close(struct bbs_prom *p)
{
	if (!p)
		return;
	if (p->httpd)
		MHD_stop_daemon(p->httpd); /* closes the listening socket it was given too */
	pthread_mutex_destroy(&p->lock);
	free(p->text);
	free(p);
}

const char *bbs_prom_url(const struct bbs_prom *p)
{
	return p->url;
}
