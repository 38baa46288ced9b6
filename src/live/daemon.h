#ifndef RCPTGUARD_DAEMON_H
#define RCPTGUARD_DAEMON_H

int cmd_run(int argc, char **argv);

#endif
