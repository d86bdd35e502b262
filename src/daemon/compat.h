/* droverd as running-process-daemon: upstream's command line, so that running-process's own
 * clients, which start `running-process-daemon start` when no daemon answers, find droverd. */
#pragma once

/* argv[0] is running-process-daemon; returns the exit code. */
int compat_main(int argc, char **argv);
