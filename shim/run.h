#ifndef SANDBOX_RUN_H
#define SANDBOX_RUN_H

/* `sandbox run ...`: argv[0] is "run". Returns the process exit status. */
int cmd_run(int argc, char **argv);

#endif
