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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <netinet/in.h>
#include <microhttpd.h>

#include "render/prom.h"
#include "host/jsonstr.h"
#include "host/util.h"

struct gate;

struct bbs_prom {
	struct MHD_Daemon *httpd;
	struct gate *gate; /* accepts, and hands MHD only what can be HTTP */
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
	fprintf(f,
		"# HELP bbscope_skipped_runs_total Runs of bbscope's BPF programs the kernel "
		"skipped (recursion_misses) that no copy made up for: a bio may be missing or "
		"partly timed.\n"
		"# TYPE bbscope_skipped_runs_total counter\nbbscope_skipped_runs_total %llu\n"
		"# HELP bbscope_rescued_runs_total Skipped runs a tracepoint's copy made up "
		"for (preemptible tracepoints).\n"
		"# TYPE bbscope_rescued_runs_total counter\nbbscope_rescued_runs_total %llu\n",
		(unsigned long long)r->skipped_runs, (unsigned long long)r->rescued_runs);
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

/* ---- the gate: bytes that cannot be HTTP get a 400 at once ---- */

/*
 * libmicrohttpd judges a request line only once its newline has come, so a
 * client sending garbage with no newline (a TLS hello, a stray binary
 * protocol) got no answer until the request timeout.  The gate accepts the
 * connections itself and peeks (MSG_PEEK) at what each one sends: while the
 * bytes are a prefix of a request line (RFC 9112 3: method SP target SP
 * HTTP/D.D, then CRLF or LF, after any empty lines; the method one that
 * HTTP defines, method_prefix()) it waits; once the line
 * is whole it hands the socket to MHD (MHD_add_connection), which reads it
 * from the start; at the first byte that cannot belong to one it answers
 * 400 and closes.  A line longer than GATE_LINE_MAX is refused the same way
 * (/metrics needs a few dozen bytes).  Slow clients keep their
 * BBS_PROM_REQUEST_TIMEOUT_S for the line, then MHD's for the headers.
 */
#define GATE_LINE_MAX 1024
#define GATE_TICK_MS 100

enum line_state { LINE_MORE, LINE_WHOLE, LINE_BAD };

/*
 * The methods of RFC 9110 9 and PATCH (RFC 5789): a method is any token, but
 * letters of another one cannot be told from garbage until a blank comes,
 * so they are refused at once.  All but GET and HEAD get MHD's 405.
 */
static bool method_prefix(const unsigned char *m, size_t n, bool whole)
{
	static const char *const methods[] = { "GET",	  "HEAD",    "POST",  "PUT",  "DELETE",
					       "CONNECT", "OPTIONS", "TRACE", "PATCH" };

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (n <= strlen(methods[i]) && !memcmp(m, methods[i], n) &&
		    (!whole || n == strlen(methods[i])))
			return true;
	return false;
}

/* What b[0..n) is: a whole request line, the start of one, or neither. */
static enum line_state request_line(const unsigned char *b, size_t n)
{
	static const char version[] = "HTTP/D.D"; /* D: a digit */
	size_t i = 0, k;

	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++; /* empty lines before a request are allowed */
	for (k = i; i < n && b[i] >= 'A' && b[i] <= 'Z'; i++)
		; /* method */
	if (!method_prefix(b + k, i - k, i < n))
		return LINE_BAD;
	if (i == n)
		return LINE_MORE;
	if (i == k || b[i++] != ' ')
		return LINE_BAD;
	for (k = i; i < n && b[i] > ' ' && b[i] < 0x7f; i++)
		; /* request-target: visible ASCII */
	if (i == n)
		return LINE_MORE;
	if (i == k || b[i++] != ' ')
		return LINE_BAD;
	for (k = 0; k < sizeof(version) - 1; k++, i++) {
		if (i == n)
			return LINE_MORE;
		if (version[k] == 'D' ? b[i] < '0' || b[i] > '9' : b[i] != version[k])
			return LINE_BAD;
	}
	if (i < n && b[i] == '\r')
		i++;
	if (i == n)
		return LINE_MORE;
	return b[i] == '\n' ? LINE_WHOLE : LINE_BAD;
}

/* A connection the gate holds until its request line is whole. */
struct waiting {
	int fd;
	uint64_t deadline_ns;
	socklen_t alen;
	struct sockaddr_storage addr;
	struct waiting *next;
};

struct gate {
	int lfd, epfd, stopfd;
	bool listening; /* lfd polled: not while at the connection limit */
	bool running; /* thread started */
	unsigned int limit, held;
	struct MHD_Daemon *httpd;
	struct waiting *list;
	pthread_t thread;
};

static void gate_drop(struct gate *g, struct waiting *w)
{
	struct waiting **pp;

	for (pp = &g->list; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	g->held--;
	free(w);
}

/*
 * 400 and close.  What the client sent is read first: closing a socket with
 * unread bytes sends a reset, which can reach the client before the 400.
 */
static void refuse(int fd)
{
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 51\r\nConnection: close\r\n\r\n"
				  "bbscope: not an HTTP request (GET /metrics wanted)\n";
	char sink[4096];

	_Static_assert(sizeof("bbscope: not an HTTP request (GET /metrics wanted)\n") - 1 == 51,
		       "Content-Length");
	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	(void)!send(fd, bad, sizeof(bad) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* Bytes came on w (or it closed): judge them. */
static void gate_judge(struct gate *g, struct waiting *w)
{
	unsigned char buf[GATE_LINE_MAX];
	ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	enum line_state st;
	int fd = w->fd;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* closed or failed: nothing to answer */
		gate_drop(g, w);
		close(fd);
		return;
	}
	st = request_line(buf, (size_t)n);
	if (st == LINE_MORE && (size_t)n < sizeof(buf))
		return;
	if (st == LINE_WHOLE) {
		struct sockaddr_storage addr = w->addr;
		socklen_t alen = w->alen;

		gate_drop(g, w);
		/* MHD owns fd from here, and closes it even when it cannot take it. */
		MHD_add_connection(g->httpd, fd, (const struct sockaddr *)&addr, alen);
		return;
	}
	gate_drop(g, w);
	refuse(fd);
}

static unsigned int mhd_conns(struct gate *g)
{
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(g->httpd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return di ? di->num_connections : 0;
}

/* Take what the backlog holds, up to the limit; stop listening at it. */
static void gate_accept(struct gate *g)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
	bool room;

	while ((room = g->held + mhd_conns(g) < g->limit)) {
		struct waiting *w = calloc(1, sizeof(*w));

		if (!w)
			break;
		w->alen = sizeof(w->addr);
		w->fd = accept4(g->lfd, (struct sockaddr *)&w->addr, &w->alen,
				SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (w->fd < 0) {
			free(w);
			break; /* EAGAIN: none left; EMFILE and such: next tick */
		}
		w->deadline_ns = bbs_now_ns() + BBS_PROM_REQUEST_TIMEOUT_S * 1000000000ULL;
		ev.data.ptr = w;
		if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, w->fd, &ev)) {
			close(w->fd);
			free(w);
			break;
		}
		w->next = g->list;
		g->list = w;
		g->held++;
		gate_judge(g, w); /* bytes that came with the connection */
	}
	if (room != g->listening) {
		ev.events = room ? EPOLLIN : 0;
		ev.data.ptr = g;
		epoll_ctl(g->epfd, EPOLL_CTL_MOD, g->lfd, &ev);
		g->listening = room;
	}
}

static void gate_expire(struct gate *g)
{
	uint64_t now = bbs_now_ns();
	struct waiting *w, *next;

	for (w = g->list; w; w = next) {
		next = w->next;
		if (now >= w->deadline_ns) { /* too slow: closed, as MHD does */
			char sink[GATE_LINE_MAX];
			int fd = w->fd;

			gate_drop(g, w);
			while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
				; /* read: a close with unread bytes is a reset */
			close(fd);
		}
	}
}

static void *gate_run(void *arg)
{
	struct gate *g = arg;
	struct epoll_event evs[64];

	for (;;) {
		/* Ticks only while something waits: a deadline, or room to accept. */
		int n = epoll_wait(g->epfd, evs, 64, g->list || !g->listening ? GATE_TICK_MS : -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &g->stopfd)
				return NULL;
			if (evs[i].data.ptr != g)
				gate_judge(g, evs[i].data.ptr);
		}
		gate_accept(g);
		gate_expire(g);
	}
}

static void gate_close(struct gate *g)
{
	if (!g)
		return;
	if (g->running) {
		uint64_t one = 1;

		(void)!write(g->stopfd, &one, sizeof(one));
		pthread_join(g->thread, NULL);
	}
	while (g->list) {
		int fd = g->list->fd;

		gate_drop(g, g->list);
		close(fd);
	}
	if (g->stopfd >= 0)
		close(g->stopfd);
	if (g->epfd >= 0)
		close(g->epfd);
	close(g->lfd);
	free(g);
}

/* Serve lfd through the gate into httpd.  Takes lfd, even on failure. */
static struct gate *gate_open(int lfd, struct MHD_Daemon *httpd, unsigned int limit)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct gate *g = calloc(1, sizeof(*g));
	int err;

	if (!g) {
		close(lfd);
		return NULL;
	}
	*g = (struct gate){ .lfd = lfd, .httpd = httpd, .limit = limit, .listening = true };
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	g->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->epfd < 0 || g->stopfd < 0)
		goto fail;
	ev.data.ptr = g;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, lfd, &ev))
		goto fail;
	ev.data.ptr = &g->stopfd;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, g->stopfd, &ev))
		goto fail;
	err = pthread_create(&g->thread, NULL, gate_run, g);
	if (err) {
		errno = err;
		goto fail;
	}
	g->running = true;
	return g;
fail:
	err = errno;
	gate_close(g);
	errno = err;
	return NULL;
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
	unsigned int limit;
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
	 * MHD's internal thread, epoll: many connections, none blocks another;
	 * it gets them from the gate (above), not from the socket.  A client has
	 * BBS_PROM_REQUEST_TIMEOUT_S to send its request line (the gate) and as
	 * long again for the rest (answer() then allows BBS_PROM_TIMEOUT_S
	 * between requests); each holds at most BBS_PROM_CONN_MEMORY (requests
	 * are a few hundred bytes).
	 */
	limit = conn_limit();
	p->httpd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET |
			MHD_USE_ITC,
		0, NULL, NULL, answer, p, MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)BBS_PROM_REQUEST_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)BBS_PROM_CONN_MEMORY, MHD_OPTION_END);
	if (!p->httpd) {
		bbs_err("cannot start the HTTP server on %s", p->url);
		close(fd);
		bbs_prom_close(p);
		return -EIO;
	}
	p->gate = gate_open(fd, p->httpd, limit);
	if (!p->gate) {
		int err = -errno;

		bbs_err("cannot serve %s: %s", p->url, strerror(-err));
		bbs_prom_close(p);
		return err;
	}
	*out = p;
	return 0;
}

void bbs_prom_close(struct bbs_prom *p)
{
	if (!p)
		return;
	gate_close(p->gate); /* first: it hands connections to httpd */
	if (p->httpd)
		MHD_stop_daemon(p->httpd);
	pthread_mutex_destroy(&p->lock);
	free(p->text);
	free(p);
}

const char *bbs_prom_url(const struct bbs_prom *p)
{
	return p->url;
}
