// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz the trace file reader: any input is opened, every record read, every
 * string and name touched, so ASan/UBSan see any out-of-bounds or undefined
 * read.  The reader must never crash, hang or read past its input.
 *
 *   make fuzz                     libFuzzer (clang), FUZZ_SECS seconds from tests/fuzz/
 *   build/tools/fuzz_tracefile F  (plain build) run the inputs F... once: a reproducer
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracefile/tracefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sinks the optimiser cannot drop. */
static volatile size_t sink;

static void touch(const char *s, size_t max)
{
	sink += strnlen(s, max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bbs_tf_reader *r;
	const struct bbs_tf_header *h;
	const struct bbs_tf_lost *l;
	struct bbs_tf_event ev;
	struct bbs_bio_phases p;
	struct bbs_group g;
	char err[256];
	uint8_t *copy;

	/* An exact-size heap copy: any read past the end is a heap overflow. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (bbs_tfr_open_mem(&r, copy, size, err, sizeof(err))) {
		touch(err, sizeof(err));
		free(copy);
		return 0;
	}
	h = bbs_tfr_header(r);
	touch(h->kernel, sizeof(h->kernel));
	touch(h->host, sizeof(h->host));
	touch(h->command, sizeof(h->command));
	for (uint32_t i = 0; i < h->nr_syms; i++)
		touch(h->syms[i].name, sizeof(h->syms[i].name));
	while (bbs_tfr_next(r, &ev) == 1) {
		switch (ev.type) {
		case EV_BIO:
			touch(ev.bio.comm, sizeof(ev.bio.comm));
			touch(ev.bio.wq, sizeof(ev.bio.wq));
			bbs_bio_phases(&ev.bio, &p);
			sink += p.have;
			/* What report indexes arrays with. */
			if (ev.bio.op >= BBS_NR_OPS || ev.bio.kind >= NR_KINDS ||
			    ev.bio.complete_ctx >= NR_CTX || ev.bio.endio_ctx >= NR_CTX)
				abort();
			{
				const char *n = bbs_tfr_name(r, TF_DEV, ev.bio.dev);

				if (n)
					touch(n, TF_NAME_MAX + 1);
				n = bbs_tfr_name(r, TF_FS, ev.bio.fs);
				if (n)
					touch(n, TF_NAME_MAX + 1);
			}
			break;
		case EV_STRIPE:
			if (ev.stripe.op >= BBS_NR_OPS || ev.stripe.kind >= NR_KINDS)
				abort();
			break;
		default:
			bbs_span_group(&ev.span, &g);
			if (g.op >= BBS_NR_OPS || g.kind >= NR_KINDS || ev.span.ctx >= NR_CTX ||
			    ev.span.phase >= NR_PHASES)
				abort();
			break;
		}
	}
	l = bbs_tfr_lost(r);
	for (size_t i = 0; i < (size_t)l->ncpus * l->nr_reasons; i++)
		sink += l->percpu[i];
	touch(bbs_tfr_status(r)->why, sizeof(bbs_tfr_status(r)->why));
	bbs_tfr_close(r);
	free(copy);
	return 0;
}

#ifndef BBS_LIBFUZZER
/* Without libFuzzer: run each file given once (corpus regression, crash reproducer). */
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t len = 0, cap = 0, n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		do {
			if (len == cap) {
				cap = cap ? 2 * cap : 65536;
				buf = realloc(buf, cap);
				if (!buf)
					return 1;
			}
			n = fread(buf + len, 1, cap - len, f);
			len += n;
		} while (n);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	printf("%d inputs read\n", argc - 1);
	return 0;
}
#endif
