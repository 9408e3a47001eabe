/* cowherd: what an incoming migration made on this host.
 *
 * The hook creates top overlays (and instance directories) on `migrate
 * begin`; if the migration then fails or is cancelled, libvirt runs
 * `stopped` and `release` here, and cowherd takes away what it made.  The
 * list lives in [hook] state_dir/incoming/<domain uuid>, written
 * atomically; it also tells `prepare` that this start is an incoming
 * migration.  /run is a tmpfs: a reboot forgets it, with the domains. */
#ifndef COWHERD_STATE_H
#define COWHERD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config.h"

/* Lists longer than this are refused (a domain has at most 256 disks). */
#define CH_STATE_ENTRIES_MAX 1024
/* A boot id as the kernel prints it: a uuid. */
#define CH_BOOT_ID_LEN 36

struct ch_made {
  char *path;
  dev_t dev;
  ino_t ino;
  /* Birth time where the filesystem keeps one (statx): an inode number
   * can be reused by the next file made, a birth time not.  0: none. */
  int64_t btime_sec;
  uint32_t btime_nsec;
  bool is_dir;
};

struct ch_made_list {
  struct ch_made *v;
  size_t n;
  /* As a record: prepare has run for the migration since migrate did, so
   * the next prepare of this uuid is a plain start. */
  bool prepared;
  /* When the migration began: the kernel's boot id and CLOCK_BOOTTIME
   * seconds in that boot (0: now, when saved).  A wall clock stepped by NTP
   * or by hand would open or close the window below; a boot-clock reading
   * means nothing without its boot.  ch_state_load sets AGE_SEC from them;
   * -1: not provably of this boot (another boot id, a start later than
   * now, or a record that names no boot). */
  char boot_id[CH_BOOT_ID_LEN + 1];
  int64_t boot_sec;
  int64_t age_sec;
};

/* Now on the boot clock: the boot's id (/proc/sys/kernel/random/boot_id)
 * and seconds since it, suspend included. */
struct ch_boot_clock {
  char id[CH_BOOT_ID_LEN + 1];
  int64_t sec;
};
int ch_boot_clock_now (struct ch_boot_clock *now);

/* migrate and the prepare that follows run within one libvirt call,
 * seconds apart.  An unprepared record older than this was left by a
 * migration libvirt gave up on before it started QEMU (it then runs no
 * stopped): a prepare seeing it is a plain start. */
#define CH_STATE_PREPARE_WINDOW_SEC 300

/* Does record LIST make this prepare part of its incoming migration?
 * Only if prepare has not used it yet and it began in this boot, within
 * the window. */
bool ch_state_licenses_prepare (const struct ch_made_list *list);

/* Append PATH, which is now the file or directory ST describes. */
int ch_made_add (struct ch_made_list *list, const char *path, const struct stat *st);
/* Append a copy of M. */
int ch_made_append (struct ch_made_list *list, const struct ch_made *m);
void ch_made_clear (struct ch_made_list *list);

/* 1 if an incoming migration of domain UUID is recorded, 0 if not, -1
 * with ch_error. */
int ch_state_exists (const struct ch_config *cfg, const char *uuid);
/* Read the record of UUID into LIST (empty if there is none).  Every path
 * must lie in CFG's instances_path.  -1 with ch_error on a malformed or
 * unreadable record. */
int ch_state_load (const struct ch_config *cfg, const char *uuid, struct ch_made_list *list);
/* The record in BUF[0..LEN) (LEN bytes, a NUL is refused) into LIST, its
 * age taken against NOW.  -1 with ch_error if it is not a record cowherd
 * wrote or a path lies outside INSTANCES; LIST is then empty. */
int ch_state_parse (const char *buf, size_t len, const char *instances,
                    const struct ch_boot_clock *now, struct ch_made_list *list);
/* Replace the record of UUID by LIST, atomically.  LIST's start is kept
 * (with this boot's id when it names none), or set to now if boot_sec is
 * 0; a negative boot_sec, before this boot, is refused. */
int ch_state_save (const struct ch_config *cfg, const char *uuid,
                   const struct ch_made_list *list);
int ch_state_remove (const struct ch_config *cfg, const char *uuid);

/* The records there are: file names (<uuid>, or <uuid>.bad for one set
 * aside), malloc'd, *N of them.  -1 with ch_error. */
int ch_state_list (const struct ch_config *cfg, char ***names, size_t *n);

/* Remove the record file NAME (as ch_state_list gave it). */
int ch_state_remove_file (const struct ch_config *cfg, const char *name);
/* Move a record that cannot be read out of the way, to <uuid>.bad beside
 * it, so it neither blocks nor steers later runs and stays for a look. */
int ch_state_set_aside (const struct ch_config *cfg, const char *uuid);

/* Take away what LIST records, last made first: a top overlay only if it
 * is still the file cowherd made and maps no data of its own (DATA_OK:
 * also when it does), a directory only if empty.  Each removal and each
 * refusal is logged for DOMAIN.  The number of entries left in place. */
size_t ch_made_undo (const struct ch_made_list *list, const char *domain, bool data_ok);

#endif
