/* cowherd: run a helper program (mkfs, mkswap, qemu-img) with an argv,
 * never a shell string. */
#ifndef COWHERD_RUNCMD_H
#define COWHERD_RUNCMD_H

/* Run ARGV[0] (an absolute path) with ARGV and a fixed environment
 * (LC_ALL=C, PATH=/usr/sbin:/usr/bin:/sbin:/bin).  stdin and stdout are
 * /dev/null (the hook's stdout belongs to libvirt); stderr is captured.
 * 0 if it exited 0; else -1 with ch_error naming the program, its status and
 * the last line it wrote to stderr. */
int ch_run (char *const argv[]);

#endif
