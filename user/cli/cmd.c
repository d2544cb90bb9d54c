// SPDX-License-Identifier: GPL-2.0
/* Dispatch to a command by name: bbscope's commands, replay's subcommands. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "host/util.h"

static void usage(FILE *f, const struct bbs_cmd *cmds, size_t nr, const char *prog,
		  const char *what)
{
	char upper[32];
	size_t i;

	for (i = 0; what[i] && i < sizeof(upper) - 1; i++)
		upper[i] = toupper((unsigned char)what[i]);
	upper[i] = 0;
	fprintf(f, "usage: %s %s [OPTIONS]\n\n%ss:\n", prog, upper, what);
	for (i = 0; i < nr; i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'%s %s --help' for its options%s.\n", prog, upper,
		strcmp(prog, "bbscope") ? "" : "; 'bbscope --version' for the version");
}

int bbs_dispatch(const struct bbs_cmd *cmds, size_t nr, int argc, char **argv, const char *prog,
		 const char *what)
{
	const struct bbs_cmd *match = NULL;
	size_t n;

	if (argc < 2) {
		usage(stderr, cmds, nr, prog, what);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout, cmds, nr, prog, what);
		return 0;
	}
	/* Exact name first, then a unique prefix (as bpftool does). */
	n = strlen(argv[1]);
	for (size_t i = 0; i < nr; i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			match = &cmds[i];
			break;
		}
		if (n && !strncmp(argv[1], cmds[i].name, n)) {
			if (match) {
				bbs_err("'%s' is ambiguous: it begins more than one %s", argv[1],
					what);
				return 2;
			}
			match = &cmds[i];
		}
	}
	if (!match) {
		bbs_err("unknown %s '%s' (see '%s --help')", what, argv[1], prog);
		return 2;
	}
	return match->fn(argc - 1, argv + 1);
}
