/* cowherd: run a helper program (mkfs, mkswap, qemu-img) with an argv,
 * never a shell string. */
#ifndef COWHERD_RUNCMD_H
#define COWHERD_RUNCMD_H

#include <stddef.h>

/* Run ARGV[0] (an absolute path) with ARGV and a fixed environment
 * (LC_ALL=C, PATH=/usr/sbin:/usr/bin:/sbin:/bin, MALLOC_ARENA_MAX=1).  stdin and stdout are
 * /dev/null (the hook's stdout belongs to libvirt); stderr is captured.
 * 0 if it exited 0; else -1 with ch_error naming the program, its status and
 * the last line it wrote to stderr. */
int ch_run (char *const argv[]);

/* The same, with FD open in the child as descriptor 3: a program given
 * CH_RUN_FD_PATH then works on exactly the file cowherd opened, whatever
 * happens to names in the directory meanwhile. */
#define CH_RUN_FD_PATH "/dev/fd/3"
int ch_run_fd (char *const argv[], int fd);

/* The same with N descriptors FDS, open in the child as 3, 4, ... */
int ch_run_fds (char *const argv[], const int *fds, size_t n);

/* For a program whose exit status or output means something (the CLI run
 * by the hook, qemu-img info): run it as ch_run_fds does, its stdout on
 * OUT_FD (-1: /dev/null), and return its exit status (0-255), with the
 * last line it wrote to stderr in LINE (LEN bytes); -1 with ch_error if
 * it could not be run or was killed. */
int ch_run_status (char *const argv[], const int *fds, size_t n, int out_fd, char *line,
                   size_t len);

#endif
