/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The report (model/report.h) for people and programs: plain text with
 * biolatency-style stars (render/text.c) and JSON (render/json.c).
 * docs/json.md is the schema the JSON follows.
 */
#ifndef BBS_RENDER_REPORT_H
#define BBS_RENDER_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "model/report.h"

struct bbs_print_opts {
	bool ms; /* milliseconds instead of microseconds */
	bool summary; /* the table only, no star histograms */
};

void bbs_report_print(FILE *f, const struct bbs_report *r, const struct bbs_print_opts *o);
/* The JSON object of docs/json.md; the caller adds its own keys and frees it. */
json_t *bbs_report_json(const struct bbs_report *r);
/* bbscope's own BPF cost: a line of text, the JSON object "bpf_cost". */
void bbs_report_print_cost(FILE *f, const struct bbs_report *r);
json_t *bbs_report_cost_json(const struct bbs_report *r);
/* A phase's JSON: its histogram, or {"observable": false} and why (enum bbs_why). */
json_t *bbs_phase_json(const struct bbs_hist *h, int why);
/* The name of a group's filesystem: the report's fs_label, else the mount's. */
const char *bbs_report_group_fs(const struct bbs_report *r, const struct bbs_group_data *gd,
				char *buf, size_t len);

#endif
