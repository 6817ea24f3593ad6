/*
 * The tessera command: one function per subcommand. Each parses its own
 * arguments and calls into ca/ (or enroll/); none holds logic another
 * entry point would need.
 */
#ifndef TESSERA_CLI_CLI_H
#define TESSERA_CLI_CLI_H

#include "ca/config.h"
#include "ca/principal.h"
#include "common/status.h"

int cmd_init(int argc, char **argv);
int cmd_issue(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_renew(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_store(int argc, char **argv);

/* Where a data directory is when --data is not given (and no TESSERA_DATA). */
#define CLI_DATA_DEFAULT "/var/lib/tessera"

/*
 * The data directory of every command: given (--data) when not NULL, else
 * $TESSERA_DATA when set and not empty, else CLI_DATA_DEFAULT.
 */
const char *cli_data_dir(const char *given);

/* Print "tessera CMD: <detail>" for st and return the exit code for it. */
int cli_fail(const char *cmd, enum status st);

/* Print the TLS server names of cfg (a line; nothing when it has none). */
void cli_names_print(const struct ca_config *cfg);

/* Make *who the local operator, as whom the commands act and are audited. */
void cli_operator(struct principal *who);

#endif
