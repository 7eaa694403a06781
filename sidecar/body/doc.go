// Package body holds the request bodies the proxy must read before it can
// sign them (to hash them, or to learn their length), the budgets that bound
// what all of them hold at once, the limit on a body streamed unread, and
// the errors a body can fail with. It knows nothing of HTTP routing or
// signing: sidecar's RequestSigner decides which bodies to spool
// (--payload), and sidecar's errorResponse turns these errors into answers.
//
// Its invariants, each with the tests that prove it:
//
//   - Bounded memory. One body holds at most Limits.Memory bytes in memory
//     (--body-memory), and all bodies together at most their Budget
//     (--body-memory-total); what does not fit goes to a file, and nobody
//     waits for memory. A body above Limits.Max (--max-body) fails with
//     *TooLargeError, spooled or streamed (Limit). TestSpoolBody,
//     TestSpoolBodyBudget, TestSpoolBodyBudgetConcurrent, TestMemoryBudget,
//     TestMemoryBudgetConcurrent, TestLimitedBodyNamesLimit; through the
//     proxy, sidecar's TestBodyMemoryTotalBoundsConcurrentRequests.
//   - Spool files removed. A spool file has no name on disk while it is
//     open (unlinked at once on Unix, delete-on-close on Windows), is closed
//     by Spool.Close and on every error, and counts against --spool-total
//     until then. TestSpoolBody ("no name on disk while open"); through the
//     proxy, sidecar's TestSpoolToTempFileIsRemoved, TestSpoolTotalUnbounded
//     and TestSlowBodyHeldForever.
//   - Replayable for retries. A Spool is read back whole, byte for byte, by
//     any number of independent Readers, so a retry resends what the first
//     attempt sent, and a reader of a closed spool still reads its own bytes
//     (its blocks are reused only after its last reader closes).
//     TestSpoolBody, TestSpoolBlocksReusedOnlyAfterLastReader; through the
//     proxy, sidecar's TestRetryReplaysSpool.
//
// A Spool is filled and closed by one goroutine; its readers, and Budgets,
// are safe for concurrent use.
package body
