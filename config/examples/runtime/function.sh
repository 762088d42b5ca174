# function.sh - an example handler for the shell runtime (bootstrap), with
# _HANDLER=function.handler.
#
# handler EVENT: appends the event (one JSON line) to $RESULTS and answers
# that every record was handled. Print the response on stdout; return
# non-zero (with a message on stderr) to fail the invocation, which is
# then retried.
handler() {
    printf '%s\n' "$1" >>"${RESULTS:-/dev/null}" || {
        echo "cannot write to $RESULTS" >&2
        return 1
    }
    echo '{"batchItemFailures":[]}'
}
