/* `sandbox template build|ls|rm` (docs/templates.md). */
#ifndef SANDBOX_TEMPLATE_CMD_H
#define SANDBOX_TEMPLATE_CMD_H

int cmd_template(int argc, char **argv);

#endif
