/* The image subcommands: pull, load, images, rmi, inspect, prune (docs/images.md). */
#ifndef SANDBOX_IMAGE_CMD_H
#define SANDBOX_IMAGE_CMD_H

int cmd_pull(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_prune(int argc, char **argv);

#endif
