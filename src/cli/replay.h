#ifndef RCPTGUARD_REPLAY_H
#define RCPTGUARD_REPLAY_H

/* Exit codes shared by the subcommands (listed in rcptguard(8)). */
#define REPLAY_EXIT_USAGE 1	/* bad arguments or configuration */
#define REPLAY_EXIT_INPUT 2	/* a capture could not be read whole */

int cmd_replay(int argc, char **argv);

#endif
