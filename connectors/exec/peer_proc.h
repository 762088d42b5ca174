/* peer_proc.h - which local process holds the client end of a TCP
 * connection on the loopback interface (Linux): the client socket's owner
 * and inode from the kernel, and a search for that inode among the open
 * files of a process tree in /proc. The Runtime API (runtime_api.c) uses
 * it to serve a slot's worker only. */
#ifndef BR_PEER_PROC_H
#define BR_PEER_PROC_H

#include <netinet/in.h>
#include <sys/types.h>

/* The client end of a connection, as the kernel knows it. */
struct peer_sock {
    uid_t uid;                  /* who created the socket (its fsuid) */
    unsigned long inode;        /* the socket's inode: "socket:[inode]" */
};

/* Finds the socket whose local address is client and whose remote one is
 * server (both IPv4, as accept and getsockname give them), through
 * sock_diag and, if that finds nothing, /proc/net/tcp. 0 with out filled,
 * or -1 when no live socket matches (the client is gone, or it is not on
 * this host). */
int peer_sock_find(const struct sockaddr_in *client, const struct sockaddr_in *server,
                   struct peer_sock *out);
/* The same through /proc/net/tcp only (the fallback; for tests). */
int peer_sock_find_proc(const struct sockaddr_in *client, const struct sockaddr_in *server,
                        struct peer_sock *out);

/* The process, root or one of its descendants, that has socket inode among
 * its open files; 0 if none does. hint (0 for none) is looked at right
 * after root, once checked to still be a descendant: the holder found last
 * time, which spares the scan of every process that finding a descendant
 * otherwise takes. */
pid_t peer_tree_holder(pid_t root, unsigned long inode, pid_t hint);

/* The fsuid of process pid (what its new sockets are owned by), or
 * (uid_t)-1 if it is gone. */
uid_t peer_proc_uid(pid_t pid);

#endif
