/* help_config.h - `fnbridge help config`: the config reference, printed
 * from the option tables the parser applies (the core's and those of every
 * connector in the registry), so that the help, the README's reference
 * (make docs) and the parser cannot say different things. */
#ifndef BR_HELP_CONFIG_H
#define BR_HELP_CONFIG_H

/* Runs `fnbridge help config [SECTION] [--markdown]`; argv holds what
 * follows "config" (argc entries). With no SECTION, every section that is
 * a table of its own (top, pipeline, source.NAME, target.NAME), its nested
 * tables' keys flattened as dotted paths; a SECTION may also name a nested
 * table ("pipeline.retry.backoff"). --markdown prints README's tables.
 * Output goes to stdout, errors to stderr. Returns the exit code: 0, or 2
 * for a usage error or an unknown section (with a did-you-mean). */
int br_help_config_main(int argc, char **argv);

#endif
