/*
 * hpcdk-lab-poolfs: the namespace lab's stand-in for an imported ZFS pool, a FUSE file system
 * run by the node that imported the pool, over the pool's shared directory (the "disks").
 *
 * Like ZFS, file data written to it stays in the node's memory until it is flushed: by fsync
 * (what an NFS server does for a stable WRITE or a COMMIT), by the transaction-group timer
 * (--txg-sec, ZFS' zfs_txg_timeout, 5 s by default; 0: never), when the dirty data passes
 * --dirty-max-mb, or at export. A power cut (the node's init killed) kills this process and
 * loses exactly the data not yet flushed. A dataset with sync=disabled (zfs set, kept in the
 * pool's properties file) ignores fsync, as ZFS does: acknowledged writes can then be lost.
 * Directory operations (create, rename, unlink, ...) reach the disks at once.
 *
 * NFS servers need file handles that survive a failover: a FUSE node id here is the backing
 * ext4 file handle (inode and generation), the same on every node, and an unknown node id is
 * opened by handle (FUSE_CAP_EXPORT_SUPPORT), so a client's handle works on the new server.
 *
 * While it runs it writes the pool's MMP heartbeat (--mmp-file, every --mmp-interval-ms): the
 * stand-in's import on another node watches it, as ZFS' activity check watches the uberblocks.
 *
 * Build: cc -O2 -Wall -o hpcdk-lab-poolfs poolfs.c $(pkg-config --cflags --libs fuse3) -lpthread
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct extent {
	off_t off;
	size_t len;
	struct extent *next;
	char data[];
};

struct inode {
	fuse_ino_t id;
	int fd; /* O_PATH */
	uint64_t nlookup;
	struct extent *dirty, *dirty_tail;
	size_t dirty_bytes;
	off_t dirty_end;
	struct inode *next;
};

#define BUCKETS 4096
static struct inode *table[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode root;
/* open_by_handle_at takes a real descriptor of the file system, not an O_PATH one. */
static int mount_fd = -1;
static char backing[PATH_MAX];
static size_t backing_len;
static int txg_sec = 5;
static size_t dirty_max = 256u << 20;
static size_t dirty_total;
static const char *props_file;
static const char *mmp_file;
static int mmp_interval_ms = 1000;
static int mmp_fail_intervals = 10;
static unsigned long hostid;
static const char *blkdev;
static struct fuse_session *session;
static volatile int stopping;
static volatile sig_atomic_t exporting;

/* SIGTERM is an export (zpool export): flush, mark the pool exported, unmount. The session can
 * also end because the mount went away (the node's mount namespace died): then the pool was not
 * exported, and its heartbeat just stops, as a dead host's does. */
static void on_term(int sig)
{
	(void)sig;
	exporting = 1;
	if (session)
		fuse_session_exit(session);
}

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct inode *find(fuse_ino_t id)
{
	if (id == FUSE_ROOT_ID)
		return &root;
	for (struct inode *i = table[id % BUCKETS]; i; i = i->next)
		if (i->id == id)
			return i;
	return NULL;
}

/* The node id of a backing file: its ext4 handle (inode, generation), 1 for the root. */
static int id_of(int fd, fuse_ino_t *id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[MAX_HANDLE_SZ];
	} h;
	int mount_id;
	struct stat st, rst;
	if (fstat(fd, &st) < 0 || fstat(root.fd, &rst) < 0)
		return -errno;
	if (st.st_ino == rst.st_ino && st.st_dev == rst.st_dev) {
		*id = FUSE_ROOT_ID;
		return 0;
	}
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0)
		return -errno;
	if (h.fh.handle_bytes != 8)
		return -EOPNOTSUPP;
	uint32_t ino, gen;
	memcpy(&ino, h.fh.f_handle, 4);
	memcpy(&gen, h.fh.f_handle + 4, 4);
	*id = ((uint64_t)ino << 32) | gen;
	return 0;
}

/* The backing file of a node id the kernel no longer knows (an NFS client's handle, a new mount). */
static int open_by_id(fuse_ino_t id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[8];
	} h;
	uint32_t ino = id >> 32, gen = id & 0xffffffffu;
	h.fh.handle_bytes = 8;
	h.fh.handle_type = 1; /* FILEID_INO32_GEN */
	memcpy(h.fh.f_handle, &ino, 4);
	memcpy(h.fh.f_handle + 4, &gen, 4);
	int fd = open_by_handle_at(mount_fd, &h.fh, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* Only files of this pool's disk, and directories under the pool: a directory opened by
	 * handle is always connected, so its path shows where it is. A file's may not be (the kernel
	 * need not know its parent), so a file is only checked to be on the same file system: the
	 * lab's pools live on the lab machine's disk, and a forged handle could name another file
	 * of that file system. A lab stand-in; ZFS checks its object numbers against the dataset. */
	struct stat st, rst;
	if (fstat(fd, &st) < 0 || fstat(root.fd, &rst) < 0 || st.st_dev != rst.st_dev) {
		close(fd);
		return -ESTALE;
	}
	if (S_ISDIR(st.st_mode)) {
		char link[64], path[PATH_MAX];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, path, sizeof path - 1);
		if (n < 0 || (size_t)n < backing_len || memcmp(path, backing, backing_len) != 0 || (path[backing_len] != '/' && (size_t)n != backing_len)) {
			close(fd);
			return -ESTALE;
		}
	}
	return fd;
}

static struct inode *remember(int fd, fuse_ino_t id)
{
	struct inode *i = find(id);
	if (i) {
		close(fd);
		i->nlookup++;
		return i;
	}
	i = calloc(1, sizeof *i);
	i->id = id;
	i->fd = fd;
	i->nlookup = 1;
	i->next = table[id % BUCKETS];
	table[id % BUCKETS] = i;
	return i;
}

static struct inode *inode_of(fuse_req_t req, fuse_ino_t id)
{
	struct inode *i = find(id);
	if (!i)
		fuse_reply_err(req, ESTALE);
	return i;
}

static int proc_path(int fd, char *buf, size_t size)
{
	return snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* The dataset a file is in has sync=disabled (the pool's properties file: "DIR sync=disabled"). */
static int sync_disabled(struct inode *i)
{
	if (!props_file)
		return 0;
	char link[64], path[PATH_MAX];
	proc_path(i->fd, link, sizeof link);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		return 0;
	path[n] = 0;
	const char *rel = path + backing_len;
	while (*rel == '/')
		rel++;
	FILE *f = fopen(props_file, "r");
	if (!f)
		return 0;
	char line[PATH_MAX + 64];
	int disabled = 0;
	size_t best = 0;
	while (fgets(line, sizeof line, f)) {
		char dir[PATH_MAX], prop[64];
		if (sscanf(line, "%4095s sync=%63s", dir, prop) != 2)
			continue;
		size_t len = strlen(dir);
		if (strncmp(rel, dir, len) == 0 && (rel[len] == '/' || rel[len] == 0) && len >= best) {
			best = len;
			disabled = strcmp(prop, "disabled") == 0;
		}
	}
	fclose(f);
	return disabled;
}

/* Writes an inode's dirty data to the disks (in the order it was written). */
static int flush_inode(struct inode *i)
{
	if (!i->dirty)
		return 0;
	char p[64];
	proc_path(i->fd, p, sizeof p);
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -errno;
	int err = 0;
	for (struct extent *e = i->dirty; e;) {
		if (!err && pwrite(fd, e->data, e->len, e->off) != (ssize_t)e->len)
			err = -EIO;
		struct extent *n = e->next;
		free(e);
		e = n;
	}
	close(fd);
	dirty_total -= i->dirty_bytes;
	i->dirty = i->dirty_tail = NULL;
	i->dirty_bytes = 0;
	i->dirty_end = 0;
	return err;
}

static void flush_all(void)
{
	for (int b = 0; b < BUCKETS; b++)
		for (struct inode *i = table[b]; i; i = i->next)
			flush_inode(i);
}

static void forget_one(fuse_ino_t id, uint64_t n)
{
	struct inode *i = find(id);
	if (!i || i == &root)
		return;
	i->nlookup = i->nlookup > n ? i->nlookup - n : 0;
	if (i->nlookup == 0) {
		flush_inode(i);
		struct inode **pp = &table[id % BUCKETS];
		while (*pp != i)
			pp = &(*pp)->next;
		*pp = i->next;
		close(i->fd);
		free(i);
	}
}

static int stat_of(struct inode *i, struct stat *st)
{
	if (fstatat(i->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (i->dirty_end > st->st_size)
		st->st_size = i->dirty_end;
	st->st_ino = i->id;
	return 0;
}

static void reply_entry(fuse_req_t req, int fd)
{
	fuse_ino_t id;
	int err = id_of(fd, &id);
	if (err) {
		close(fd);
		fuse_reply_err(req, -err);
		return;
	}
	struct inode *i = remember(fd, id);
	struct fuse_entry_param e = {.ino = id, .generation = 0, .attr_timeout = 1.0, .entry_timeout = 1.0};
	err = stat_of(i, &e.attr);
	if (err) {
		forget_one(id, 1);
		fuse_reply_err(req, -err);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&lock);
	struct inode *p = find(parent);
	int fd;
	if (strcmp(name, ".") == 0) {
		/* The kernel decoding a file handle whose inode it no longer caches (an NFS client's
		 * handle after a failover, or one evicted since): the node itself, which may be a file.
		 * This process may still know it (the kernel's FORGET can come after), else it is
		 * opened by handle. */
		if (p) {
			char self[64];
			proc_path(p->fd, self, sizeof self);
			fd = open(self, O_PATH);
			if (fd < 0)
				fd = -errno;
		} else {
			fd = open_by_id(parent);
		}
	} else if (!p) {
		fd = -ESTALE;
	} else {
		fd = openat(p->fd, name, O_PATH | O_NOFOLLOW);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		fuse_reply_err(req, -fd);
	else
		reply_entry(req, fd);
	pthread_mutex_unlock(&lock);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	pthread_mutex_lock(&lock);
	forget_one(ino, n);
	pthread_mutex_unlock(&lock);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	pthread_mutex_lock(&lock);
	for (size_t k = 0; k < count; k++)
		forget_one(f[k].ino, f[k].nlookup);
	pthread_mutex_unlock(&lock);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		struct stat st;
		int err = stat_of(i, &st);
		if (err)
			fuse_reply_err(req, -err);
		else
			fuse_reply_attr(req, &st, 1.0);
	}
	pthread_mutex_unlock(&lock);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (!i)
		goto out;
	char p[64];
	proc_path(i->fd, p, sizeof p);
	int err = 0;
	if (to_set & FUSE_SET_ATTR_MODE && chmod(p, attr->st_mode) < 0)
		err = errno;
	if (!err && to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t g = to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;
		if (fchownat(i->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			err = errno;
	}
	if (!err && to_set & FUSE_SET_ATTR_SIZE) {
		/* ZFS keeps a truncate in the open transaction group too; here it is written at once,
		 * with the data written before it. */
		flush_inode(i);
		if (truncate(p, attr->st_size) < 0)
			err = errno;
	}
	if (!err && to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if (utimensat(AT_FDCWD, p, tv, 0) < 0)
			err = errno;
	}
	if (err) {
		fuse_reply_err(req, err);
	} else {
		struct stat st;
		err = stat_of(i, &st);
		if (err)
			fuse_reply_err(req, -err);
		else
			fuse_reply_attr(req, &st, 1.0);
	}
out:
	pthread_mutex_unlock(&lock);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(i->fd, "", buf, sizeof buf - 1);
		if (n < 0) {
			fuse_reply_err(req, errno);
		} else {
			buf[n] = 0;
			fuse_reply_readlink(req, buf);
		}
	}
	pthread_mutex_unlock(&lock);
}

/* A new file belongs to whoever made it, as in any kernel file system (this process makes it as root). */
static int own(fuse_req_t req, int dirfd, const char *name)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	return fchownat(dirfd, name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW);
}

/* mknod, mkdir, symlink: made on the disks at once, then looked up. */
static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev, const char *link)
{
	pthread_mutex_lock(&lock);
	struct inode *p = inode_of(req, parent);
	if (!p)
		goto out;
	int rc;
	if (link)
		rc = symlinkat(link, p->fd, name);
	else if (S_ISDIR(mode))
		rc = mkdirat(p->fd, name, mode);
	else
		rc = mknodat(p->fd, name, mode, rdev);
	if (rc == 0)
		rc = own(req, p->fd, name);
	if (rc < 0) {
		fuse_reply_err(req, errno);
		goto out;
	}
	int fd = openat(p->fd, name, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, fd);
out:
	pthread_mutex_unlock(&lock);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make(req, parent, name, S_IFDIR | mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make(req, parent, name, S_IFLNK, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino), *p = i ? inode_of(req, parent) : NULL;
	if (i && p) {
		char src[64];
		proc_path(i->fd, src, sizeof src);
		if (linkat(AT_FDCWD, src, p->fd, name, AT_SYMLINK_FOLLOW) < 0) {
			fuse_reply_err(req, errno);
		} else {
			int fd = openat(p->fd, name, O_PATH | O_NOFOLLOW);
			if (fd < 0)
				fuse_reply_err(req, errno);
			else
				reply_entry(req, fd);
		}
	}
	pthread_mutex_unlock(&lock);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&lock);
	struct inode *p = inode_of(req, parent);
	if (p)
		fuse_reply_err(req, unlinkat(p->fd, name, 0) < 0 ? errno : 0);
	pthread_mutex_unlock(&lock);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&lock);
	struct inode *p = inode_of(req, parent);
	if (p)
		fuse_reply_err(req, unlinkat(p->fd, name, AT_REMOVEDIR) < 0 ? errno : 0);
	pthread_mutex_unlock(&lock);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	pthread_mutex_lock(&lock);
	struct inode *p = inode_of(req, parent), *np = p ? inode_of(req, newparent) : NULL;
	if (p && np)
		fuse_reply_err(req, renameat2(p->fd, name, np->fd, newname, flags) < 0 ? errno : 0);
	pthread_mutex_unlock(&lock);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		char p[64];
		proc_path(i->fd, p, sizeof p);
		/* Data goes through this process's buffer: the backing file is opened read-write without
		 * O_APPEND or O_SYNC (the NFS server asks for stability with fsync). */
		int flags = (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_SYNC | O_DSYNC | O_TRUNC));
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		int fd = open(p, flags);
		if (fd < 0) {
			fuse_reply_err(req, errno);
		} else {
			if (fi->flags & O_TRUNC) {
				flush_inode(i);
				if (ftruncate(fd, 0) < 0) {
					/* reported by the next write */
				}
			}
			fi->fh = fd;
			fi->keep_cache = 0;
			fuse_reply_open(req, fi);
		}
	}
	pthread_mutex_unlock(&lock);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&lock);
	struct inode *p = inode_of(req, parent);
	if (!p)
		goto out;
	int fd = openat(p->fd, name, (fi->flags | O_CREAT) & ~(O_APPEND | O_SYNC | O_DSYNC | O_NOFOLLOW), mode);
	if (fd >= 0 && own(req, p->fd, name) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
	if (fd < 0) {
		fuse_reply_err(req, errno);
		goto out;
	}
	int pfd = openat(p->fd, name, O_PATH | O_NOFOLLOW);
	fuse_ino_t id;
	int err = pfd < 0 ? -errno : id_of(pfd, &id);
	if (err) {
		if (pfd >= 0)
			close(pfd);
		close(fd);
		fuse_reply_err(req, -err);
		goto out;
	}
	struct inode *i = remember(pfd, id);
	struct fuse_entry_param e = {.ino = id, .attr_timeout = 1.0, .entry_timeout = 1.0};
	stat_of(i, &e.attr);
	fi->fh = fd;
	fuse_reply_create(req, &e, fi);
out:
	pthread_mutex_unlock(&lock);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (!i)
		goto out;
	char *buf = calloc(1, size ? size : 1);
	ssize_t n = pread(fi->fh, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, errno);
		free(buf);
		goto out;
	}
	/* What is still in memory overrides the disks, in the order it was written. */
	size_t len = (size_t)n;
	for (struct extent *e = i->dirty; e; e = e->next) {
		off_t from = e->off > off ? e->off : off;
		off_t to = (off_t)(e->off + e->len) < (off_t)(off + size) ? (off_t)(e->off + e->len) : (off_t)(off + size);
		if (from >= to)
			continue;
		memcpy(buf + (from - off), e->data + (from - e->off), to - from);
		if ((size_t)(to - off) > len)
			len = to - off;
	}
	fuse_reply_buf(req, buf, len);
	free(buf);
out:
	pthread_mutex_unlock(&lock);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		struct extent *e = malloc(sizeof *e + size);
		e->off = off;
		e->len = size;
		e->next = NULL;
		memcpy(e->data, data, size);
		if (i->dirty_tail)
			i->dirty_tail->next = e;
		else
			i->dirty = e;
		i->dirty_tail = e;
		i->dirty_bytes += size;
		dirty_total += size;
		if (off + (off_t)size > i->dirty_end)
			i->dirty_end = off + size;
		if (dirty_total > dirty_max)
			flush_all();
		fuse_reply_write(req, size);
	}
	pthread_mutex_unlock(&lock);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* close() is not a sync: ZFS keeps the data in the open transaction group too. */
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close(fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	(void)fi;
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		int err = sync_disabled(i) ? 0 : flush_inode(i);
		fuse_reply_err(req, -err);
	}
	pthread_mutex_unlock(&lock);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&lock);
	struct inode *i = inode_of(req, ino);
	if (i) {
		int fd = openat(i->fd, ".", O_RDONLY | O_DIRECTORY);
		DIR *d = fd < 0 ? NULL : fdopendir(fd);
		if (!d) {
			if (fd >= 0)
				close(fd);
			fuse_reply_err(req, errno);
		} else {
			fi->fh = (uintptr_t)d;
			fuse_reply_open(req, fi);
		}
	}
	pthread_mutex_unlock(&lock);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size);
	size_t used = 0;
	seekdir(d, off);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de)
			break;
		struct stat st = {.st_ino = de->d_ino, .st_mode = de->d_type << 12};
		size_t need = fuse_add_direntry(req, buf + used, size - used, de->d_name, &st, de->d_off);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	closedir((DIR *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs s;
	if (fstatvfs(root.fd, &s) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &s);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
};

/* The MMP heartbeat: "ACTIVE hostid seq epoch interval-ms fail-intervals" while imported (what a
 * ZFS uberblock records), "EXPORTED ..." after a clean export. */
static void write_mmp(const char *state, unsigned long seq)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.%d", mmp_file, getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%s %08lx %lu %.3f %d %d\n", state, hostid, seq, now_sec(), mmp_interval_ms, mmp_fail_intervals);
	fclose(f);
	rename(tmp, mmp_file);
}

static void *background(void *arg)
{
	(void)arg;
	unsigned long seq = 0;
	double next_txg = now_sec() + txg_sec;
	while (!stopping) {
		if (mmp_file)
			write_mmp("ACTIVE", ++seq);
		if (txg_sec > 0 && now_sec() >= next_txg) {
			pthread_mutex_lock(&lock);
			flush_all();
			pthread_mutex_unlock(&lock);
			next_txg = now_sec() + txg_sec;
		}
		struct timespec ts = {.tv_sec = mmp_interval_ms / 1000, .tv_nsec = (mmp_interval_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: hpcdk-lab-poolfs BACKING MOUNTPOINT [--txg-sec N] [--dirty-max-mb N] [--props FILE] [--blkdev DEVICE] [--mmp-file FILE --mmp-interval-ms N --mmp-fail-intervals N --hostid HEX]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	if (!realpath(argv[1], backing))
		return perror(argv[1]), 1;
	backing_len = strlen(backing);
	const char *mountpoint = argv[2];
	for (int k = 3; k < argc; k++) {
		if (k + 1 >= argc)
			usage();
		if (!strcmp(argv[k], "--txg-sec"))
			txg_sec = atoi(argv[++k]);
		else if (!strcmp(argv[k], "--dirty-max-mb"))
			dirty_max = (size_t)atoi(argv[++k]) << 20;
		else if (!strcmp(argv[k], "--props"))
			props_file = argv[++k];
		else if (!strcmp(argv[k], "--mmp-file"))
			mmp_file = argv[++k];
		else if (!strcmp(argv[k], "--mmp-interval-ms"))
			mmp_interval_ms = atoi(argv[++k]);
		else if (!strcmp(argv[k], "--mmp-fail-intervals"))
			mmp_fail_intervals = atoi(argv[++k]);
		else if (!strcmp(argv[k], "--blkdev"))
			blkdev = argv[++k];
		else if (!strcmp(argv[k], "--hostid"))
			hostid = strtoul(argv[++k], NULL, 16);
		else
			usage();
	}
	if (mmp_interval_ms < 100)
		mmp_interval_ms = 100;
	root.id = FUSE_ROOT_ID;
	root.nlookup = 2;
	root.fd = open(backing, O_PATH);
	mount_fd = open(backing, O_RDONLY | O_DIRECTORY);
	if (root.fd < 0 || mount_fd < 0)
		return perror(backing), 1;

	/* With --blkdev the mount is a fuseblk on the pool's block device, so its device number (what
	 * an NFS server puts in its file handles as the file system's id) is the same on every node,
	 * as a ZFS dataset's id is; a plain FUSE mount gets a new anonymous device at each mount. */
	char opts[PATH_MAX + 128];
	if (blkdev)
		snprintf(opts, sizeof opts, "blkdev,fsname=%s,subtype=hpcdk,allow_other,default_permissions", blkdev);
	else
		snprintf(opts, sizeof opts, "fsname=hpcdk-lab-pool,subtype=hpcdk,allow_other,default_permissions");
	char *fargs[] = {argv[0], "-o", opts, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargs);
	session = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!session)
		return 1;
	if (fuse_set_signal_handlers(session) != 0)
		return 1;
	if (fuse_session_mount(session, mountpoint) != 0)
		return 1;
	struct sigaction sa = {.sa_handler = on_term};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	pthread_t bg;
	pthread_create(&bg, NULL, background, NULL);
	int rc = fuse_session_loop(session);
	/* An export (SIGTERM from zpool export): everything reaches the disks first. */
	stopping = 1;
	pthread_join(bg, NULL);
	pthread_mutex_lock(&lock);
	flush_all();
	pthread_mutex_unlock(&lock);
	if (mmp_file && exporting)
		write_mmp("EXPORTED", 0);
	fuse_session_unmount(session);
	fuse_remove_signal_handlers(session);
	fuse_session_destroy(session);
	return rc < 0 ? 1 : 0;
}
