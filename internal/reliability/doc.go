// Package reliability runs a whole workload against a store directory and
// checks what survived: test support for the fault-injection, power-loss
// and disk-full tests of this module. No library package imports it.
//
// A Workload drives, through the public API only (packages host and
// keyring), an encrypted (or plaintext) session store, its cost ledger and
// a monthly rollover, all under a fixed clock: events appended by several
// goroutines at once (group commit), tool intents and outcomes (some left
// orphaned), provider attempts, multi-record batches, ledger entries and
// attempts with a catch-up sync, pins, retention with its rewrite and a
// metadata drop, a rekey, a KEK rotation, and a rollover whose clock
// crosses into the next month. Every operation is recorded in an Oracle
// with whether it was acknowledged (returned nil).
//
// Check reopens everything without faults and holds the files to the
// store's promises: every acknowledged write is present and equal; a write
// that failed may be present, but whole, never half (a batch, a retention,
// a drop); the data reads back under exactly the keys the oracle allows
// (a rekey or rotation that failed may or may not have happened);
// host.Verify authenticates every page and WAL frame and finds
// integrity_check ok; and, for an encrypted store, no file of the directory
// holds the workload's plaintext marker.
package reliability
