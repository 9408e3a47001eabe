"""same_but_ids.py KIND BEFORE AFTER: two raw images of an ephemeral or
swap disk read the same but for what mkfs or mkswap takes from the clock
or the random generator, so a base made again (by Nova or by cowherd)
passes and anything else does not.  KIND:

  vfat   FAT32 as `mkfs -t vfat -n ephemeral0` makes it (Nova's default
         ephemeral): the volume id in the boot sector and in its backup,
         and the times of the volume label's entry, first in the root
         directory
  swap   `mkswap`: the UUID in the swap header (bytes 1036-1051)

Exit 0 if BEFORE and AFTER have the same size and differ in those bytes
at most (prints how many differ); 1, with the first offsets that differ
beyond them, otherwise."""
import struct
import sys

CHUNK = 1 << 20


def vfat_ids(path):
    with open(path, 'rb') as f:
        bs = f.read(512)
        bps, spc, rsvd, nfats = struct.unpack_from('<HBHB', bs, 11)
        fatsz, = struct.unpack_from('<I', bs, 36)
        rootclus, = struct.unpack_from('<I', bs, 44)
        backup, = struct.unpack_from('<H', bs, 50)
        root = (rsvd + nfats * fatsz + (rootclus - 2) * spc) * bps
        f.seek(root)
        entry = f.read(32)
    if bs[82:87] != b'FAT32' or entry[11] != 0x08:
        sys.exit('%s: not a FAT32 file system with its label first in the root' % path)
    ids = set(range(67, 71)) | {backup * bps + o for o in range(67, 71)}
    return ids | {root + o for o in range(13, 26)}


def swap_ids(path):
    with open(path, 'rb') as f:
        f.seek(4086)
        if f.read(10) != b'SWAPSPACE2':
            sys.exit('%s: no swap signature' % path)
    return set(range(1036, 1052))


def main():
    kind, before, after = sys.argv[1:4]
    allowed = {'vfat': vfat_ids, 'swap': swap_ids}[kind](before)
    bad, n = [], 0
    with open(before, 'rb') as a, open(after, 'rb') as b:
        a.seek(0, 2)
        b.seek(0, 2)
        if a.tell() != b.tell():
            sys.exit('%s is %d bytes, %s %d' % (before, a.tell(), after, b.tell()))
        a.seek(0)
        b.seek(0)
        off = 0
        while True:
            x, y = a.read(CHUNK), b.read(CHUNK)
            if not x:
                break
            if x != y:
                for i in range(len(x)):
                    if x[i] != y[i]:
                        if off + i in allowed:
                            n += 1
                        else:
                            bad.append(off + i)
            off += len(x)
    if bad:
        print('%s differs from %s beyond what %s makes anew, at byte(s) %s' %
              (after, before, kind, ' '.join(map(str, bad[:10]))))
        return 1
    print('%d byte(s) differ, all ids %s makes anew' % (n, kind))
    return 0


sys.exit(main())
