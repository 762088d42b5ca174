/* test_peer_proc.c - finding who holds the client end of a loopback TCP
 * connection (connectors/exec/peer_proc.c) with real sockets and real child
 * processes: the socket's owner and inode through sock_diag and through
 * /proc/net/tcp, a client that is gone, and the holder found in the
 * process itself, a child, a grandchild (through the hint too), and not
 * outside the tree. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/exec/peer_proc.h"
#include "unit.h"

static int listener(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        perror("listener");
        exit(2);
    }
    return fd;
}

/* A connected client socket; its own address in local. */
static int dial(const struct sockaddr_in *to, struct sockaddr_in *local)
{
    socklen_t len = sizeof(*local);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
        getsockname(fd, (struct sockaddr *)local, &len) < 0) {
        perror("dial");
        exit(2);
    }
    return fd;
}

static unsigned long inode_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static void test_socket(int lfd, const struct sockaddr_in *server)
{
    struct sockaddr_in local, wrong;
    struct peer_sock ps = {0};
    int fd = dial(server, &local);
    int afd = accept(lfd, NULL, NULL);

    CHECK_INT(peer_sock_find(&local, server, &ps), 0);
    CHECK(ps.inode == inode_of(fd) && ps.inode != 0);
    CHECK_INT(ps.uid, geteuid());
    memset(&ps, 0, sizeof(ps));
    CHECK_INT(peer_sock_find_proc(&local, server, &ps), 0);
    CHECK(ps.inode == inode_of(fd));
    CHECK_INT(ps.uid, geteuid());

    /* The server's end is not the client's; nor is a port nobody uses. */
    CHECK(peer_sock_find(server, &local, &ps) < 0 || ps.inode != inode_of(fd));
    wrong = local;
    wrong.sin_port = htons((uint16_t)(ntohs(local.sin_port) ^ 1));
    CHECK_INT(peer_sock_find(&wrong, server, &ps), -1);
    CHECK_INT(peer_sock_find_proc(&wrong, server, &ps), -1);

    /* A client that closed first leaves an orphan with no inode. */
    close(fd);
    CHECK_INT(peer_sock_find(&local, server, &ps), -1);
    CHECK_INT(peer_sock_find_proc(&local, server, &ps), -1);
    close(afd);
}

/* A child (depth 1) or grandchild (depth 2) that connects to server, says
 * its pid and socket inode on a pipe, and waits to be killed. Returns the
 * child's pid; *holder and *inode are the connecting process's. */
static pid_t spawn_holder(const struct sockaddr_in *server, int depth, pid_t *holder,
                          unsigned long *inode)
{
    int p[2];
    if (pipe(p) < 0)
        exit(2);
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        close(p[0]);
        if (depth > 1 && fork() != 0) {
            for (;;)
                pause();
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct sockaddr_in local;
        int fd = dial(server, &local);
        struct { pid_t pid; unsigned long inode; } msg = {getpid(), inode_of(fd)};
        if (write(p[1], &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    struct { pid_t pid; unsigned long inode; } msg = {0, 0};
    if (read(p[0], &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
        exit(2);
    close(p[0]);
    *holder = msg.pid;
    *inode = msg.inode;
    return child;
}

static void reap(pid_t child)
{
    kill(-child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void test_tree(const struct sockaddr_in *server)
{
    struct sockaddr_in local;
    pid_t self = getpid(), holder, grand_holder;
    unsigned long inode, grand_inode;
    pid_t child = spawn_holder(server, 1, &holder, &inode);
    pid_t grand = spawn_holder(server, 2, &grand_holder, &grand_inode);
    int fd = dial(server, &local);          /* after the forks: ours alone */

    CHECK_INT(peer_tree_holder(self, inode_of(fd), 0), self);
    CHECK_INT(holder, child);
    CHECK_INT(peer_tree_holder(self, inode, 0), child);
    CHECK_INT(peer_tree_holder(self, inode, child), child);     /* by the hint */
    CHECK(grand_holder != grand);
    CHECK_INT(peer_tree_holder(self, grand_inode, 0), grand_holder);
    CHECK_INT(peer_tree_holder(self, grand_inode, grand_holder), grand_holder);
    CHECK_INT(peer_tree_holder(grand, grand_inode, 0), grand_holder);

    /* Outside the tree: our socket is not the child's, nor a sibling's. */
    CHECK_INT(peer_tree_holder(child, inode_of(fd), 0), 0);
    CHECK_INT(peer_tree_holder(child, grand_inode, grand_holder), 0);
    CHECK_INT(peer_tree_holder(grand, inode, child), 0);
    CHECK_INT(peer_tree_holder(self, 0, 0), 0);
    CHECK_INT(peer_tree_holder(0, inode, 0), 0);

    close(fd);
    reap(child);
    reap(grand);
}

static void test_uid(void)
{
    CHECK_INT(peer_proc_uid(getpid()), geteuid());
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    CHECK(peer_proc_uid(child) == (uid_t)-1);       /* gone */
}

int main(void)
{
    struct sockaddr_in server;
    int lfd = listener(&server);
    test_socket(lfd, &server);
    test_tree(&server);
    test_uid();
    close(lfd);
    return UNIT_DONE("peer_proc");
}
