/* peer_proc.c - who holds the client end of a loopback TCP connection.
 *
 * TCP has no SO_PEERCRED, but on loopback both ends live in this kernel.
 * sock_diag looks the client's socket up by its four addresses (one
 * netlink round trip, no dump) and gives its owner and inode;
 * /proc/net/tcp gives the same where the kernel has no inet_diag. A
 * process holds the socket if one of its /proc/PID/fd links reads
 * "socket:[inode]". Descendants are found through the parent pid in
 * /proc/PID/stat, since /proc/PID/task/TID/children is not in every
 * kernel. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer_proc.h"

/* Descendants followed in a scan, and how deep a parent chain is walked:
 * a runtime's process tree is a handful of processes. */
#define MAX_TREE 256
#define MAX_DEPTH 64
/* TCP_LISTEN in the kernel's numbering of TCP states. */
#define STATE_LISTEN 10

/* ------------------------------------------------------ the socket */

static bool same_conn(const struct inet_diag_sockid *id, const struct sockaddr_in *client,
                      const struct sockaddr_in *server)
{
    return id->idiag_sport == client->sin_port && id->idiag_dport == server->sin_port &&
           id->idiag_src[0] == client->sin_addr.s_addr &&
           id->idiag_dst[0] == server->sin_addr.s_addr;
}

/* The kernel answers an exact lookup while sendto runs, so the reply is
 * read without waiting. -1 if there is no such socket or no sock_diag. */
static int diag_find(const struct sockaddr_in *client, const struct sockaddr_in *server,
                     struct peer_sock *out)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    union {
        struct nlmsghdr nlh;
        char buf[1024];
    } reply;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_INET;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0u;
    msg.req.id.idiag_sport = client->sin_port;
    msg.req.id.idiag_dport = server->sin_port;
    msg.req.id.idiag_src[0] = client->sin_addr.s_addr;
    msg.req.id.idiag_dst[0] = server->sin_addr.s_addr;
    msg.req.id.idiag_cookie[0] = msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    ssize_t n = -1;
    if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) ==
        (ssize_t)sizeof(msg))
        n = recv(fd, &reply, sizeof(reply), MSG_DONTWAIT);
    close(fd);
    /* NLMSG_OK and NLMSG_NEXT mix signed and unsigned (clang warns): the
     * same walk, in sizes. */
    size_t left = n > 0 ? (size_t)n : 0;
    for (const struct nlmsghdr *h = &reply.nlh;
         left >= sizeof(*h) && h->nlmsg_len >= sizeof(*h) && h->nlmsg_len <= left;
         left -= left < NLMSG_ALIGN(h->nlmsg_len) ? left : NLMSG_ALIGN(h->nlmsg_len),
         h = (const struct nlmsghdr *)((const char *)h + NLMSG_ALIGN(h->nlmsg_len))) {
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
            h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
            continue;
        const struct inet_diag_msg *m = NLMSG_DATA(h);
        if (!same_conn(&m->id, client, server) || m->idiag_state == STATE_LISTEN ||
            !m->idiag_inode)
            continue;
        out->uid = m->idiag_uid;
        out->inode = m->idiag_inode;
        return 0;
    }
    return -1;
}

int peer_sock_find_proc(const struct sockaddr_in *client, const struct sockaddr_in *server,
                        struct peer_sock *out)
{
    char line[512];
    FILE *f = fopen("/proc/net/tcp", "re");
    if (!f)
        return -1;
    int rc = -1;
    while (rc < 0 && fgets(line, sizeof(line), f)) {
        unsigned long laddr, raddr, inode;
        unsigned lport, rport, state, uid;
        /* "sl: local rem st tx:rx tr:when retrnsmt uid timeout inode"; the
         * addresses are the raw 32 bits in host order, as s_addr holds them */
        if (sscanf(line, " %*u: %lx:%x %lx:%x %x %*x:%*x %*x:%*x %*x %u %*u %lu", &laddr,
                   &lport, &raddr, &rport, &state, &uid, &inode) != 7)
            continue;
        if (laddr == client->sin_addr.s_addr && lport == ntohs(client->sin_port) &&
            raddr == server->sin_addr.s_addr && rport == ntohs(server->sin_port) &&
            state != STATE_LISTEN && inode) {
            out->uid = (uid_t)uid;
            out->inode = inode;
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

int peer_sock_find(const struct sockaddr_in *client, const struct sockaddr_in *server,
                   struct peer_sock *out)
{
    if (diag_find(client, server, out) == 0)
        return 0;
    return peer_sock_find_proc(client, server, out);
}

/* ---------------------------------------------------- the processes */

/* The first n bytes of /proc/PID/NAME, NUL-terminated; -1 if unreadable. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t n)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, n - 1);
    close(fd);
    if (len < 0)
        return -1;
    buf[len] = '\0';
    return len;
}

/* pid's parent, or -1 if pid is gone. The command name in stat may hold
 * any byte, so the fields are read after its last ')'. */
static pid_t parent_of(pid_t pid)
{
    char buf[512];
    int ppid;
    if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
        return -1;
    const char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

static bool is_descendant(pid_t pid, pid_t root)
{
    for (int depth = 0; depth < MAX_DEPTH && pid > 1; depth++) {
        pid = parent_of(pid);
        if (pid == root)
            return true;
    }
    return false;
}

static bool holds(pid_t pid, unsigned long inode)
{
    char path[64], want[48], link[48];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    int wlen = snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
        found = n == wlen && !memcmp(link, want, (size_t)wlen);
    }
    closedir(d);
    return found;
}

struct proc_pair {
    pid_t pid, ppid;
};

struct proc_list {
    struct proc_pair *v;
    size_t n, cap;
};

/* Adds every process whose pid is above (newer) or not above (older) root
 * with its parent. False if /proc cannot be read. */
static bool add_procs(struct proc_list *l, pid_t root, bool newer)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d)
        return false;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if ((pid > root) != newer)
            continue;
        pid_t ppid = parent_of(pid);
        if (ppid < 0)
            continue;
        if (l->n == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 256;
            struct proc_pair *nv = realloc(l->v, ncap * sizeof(*nv));
            if (!nv)
                break;
            l->v = nv;
            l->cap = ncap;
        }
        l->v[l->n++] = (struct proc_pair){pid, ppid};
    }
    closedir(d);
    return true;
}

static bool in_set(const pid_t *set, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == pid)
            return true;
    return false;
}

/* Grows tree (root first) with the descendants l shows, up to MAX_TREE.
 * Parents mostly come before their children in /proc's order, so this
 * ends in a pass or two. */
static void grow_tree(const struct proc_list *l, pid_t *tree, size_t *n_tree)
{
    bool grew = true;
    for (int pass = 0; grew && pass < MAX_DEPTH; pass++) {
        grew = false;
        for (size_t i = 0; i < l->n && *n_tree < MAX_TREE; i++) {
            if (in_set(tree, *n_tree, l->v[i].ppid) && !in_set(tree, *n_tree, l->v[i].pid)) {
                tree[(*n_tree)++] = l->v[i].pid;
                grew = true;
            }
        }
    }
}

/* Which of tree[from..] holds inode (skip is already known not to). */
static pid_t tree_holder(const pid_t *tree, size_t from, size_t n_tree, unsigned long inode,
                         pid_t skip)
{
    for (size_t i = from; i < n_tree; i++)
        if (tree[i] != skip && holds(tree[i], inode))
            return tree[i];
    return 0;
}

/* root's descendants, and which of them holds inode. Reading every
 * process's stat is the cost, so the processes newer than root (pid above
 * it), where its descendants are unless pids wrapped, are read first and
 * the older ones only if none of those holds the socket. */
static pid_t scan_tree(pid_t root, unsigned long inode, pid_t skip)
{
    struct proc_list l = {0};
    pid_t tree[MAX_TREE] = {root};
    size_t n_tree = 1, seen = 1;
    pid_t holder = 0;
    if (add_procs(&l, root, true)) {
        grow_tree(&l, tree, &n_tree);
        holder = tree_holder(tree, seen, n_tree, inode, skip);
        seen = n_tree;
    }
    if (!holder && add_procs(&l, root, false)) {
        grow_tree(&l, tree, &n_tree);
        holder = tree_holder(tree, seen, n_tree, inode, skip);
    }
    free(l.v);
    return holder;
}

pid_t peer_tree_holder(pid_t root, unsigned long inode, pid_t hint)
{
    if (root <= 0 || !inode)
        return 0;
    if (holds(root, inode))
        return root;
    if (hint > 0 && hint != root && is_descendant(hint, root) && holds(hint, inode))
        return hint;
    return scan_tree(root, inode, hint);
}

uid_t peer_proc_uid(pid_t pid)
{
    char buf[2048];
    unsigned real, eff, saved, fs;
    if (read_proc(pid, "status", buf, sizeof(buf)) < 0)
        return (uid_t)-1;
    const char *p = strstr(buf, "\nUid:");
    if (!p || sscanf(p + 5, "%u %u %u %u", &real, &eff, &saved, &fs) != 4)
        return (uid_t)-1;
    return (uid_t)fs;
}
