#ifndef FLUSHCTL_CLINUXFS_H
#define FLUSHCTL_CLINUXFS_H
// Three Linux file-system questions that Swift's Glibc module cannot ask: <sys/vfs.h>, the
// ioctl numbers of <linux/fs.h> (function-like macros, which Swift does not import) and
// statx(2)'s attributes. Each returns 0, or -1 with errno set.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

/// statfs(2)'s f_type (the filesystem's magic number) of the file open at `fd`.
static inline int flushctl_fs_type(int fd, long *type) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    *type = (long)fs.f_type;
    return 0;
}

/// FS_IOC_FSGETXATTR's fsx_xflags (FS_XFLAG_*) of the file open at `fd`.
static inline int flushctl_fs_xflags(int fd, unsigned int *flags) {
    struct fsxattr attr;
    if (ioctl(fd, FS_IOC_FSGETXATTR, &attr) != 0) return -1;
    *flags = attr.fsx_xflags;
    return 0;
}

/// FS_XFLAG_REALTIME: an XFS file whose data lives on the filesystem's realtime device.
static const unsigned int flushctl_fs_xflag_realtime = FS_XFLAG_REALTIME;

/// Whether `path` (not followed if it is a link) is the root of a mount: 1 or 0, or -1 when the
/// kernel does not report STATX_ATTR_MOUNT_ROOT (before Linux 5.8).
static inline int flushctl_is_mount_root(const char *path, int *root) {
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return -1;
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) { *root = -1; return 0; }
    *root = (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
    return 0;
}

#endif
