// Package host provides the session store of the gofastr harness: the
// Store API the harness calls on every turn, on an SQLite database that
// runs inside wazero and, when opened encrypted, is encrypted page by page
// (package sqlitevfs) under a data key kept by package keyring.
//
// # Writing
//
// [Store.AppendEvent] redacts the payload ([Config.WithRedactors], by
// default [DefaultRedactor]), compresses it with zstd when that pays, and
// stores it. Payloads, tool arguments and tool results are at most
// [MaxPayloadSize] (16 MiB, or less with [Config.WithMaxPayloadSize]) of
// JSON; a larger one is refused with [ErrPayloadTooLarge].
// When it returns nil the event is on stable storage: the store runs in WAL
// mode with synchronous=FULL, so an acknowledged event survives a killed
// process and a power loss. All writes go through one connection that
// group-commits: callers that write concurrently share one transaction and
// one fsync, each still getting its own result.
//
// Tool calls are recorded twice: [Store.RecordToolIntent] before the tool
// runs and [Store.RecordToolOutcome] after. After a crash,
// [Store.OrphanIntents] lists the calls whose outcome was never recorded;
// [Store.ToolIntents] and [Store.ToolOutcomes] list every call of a
// session, answered or not.
//
// [Store.RecordAttempt] records one HTTP attempt at a model provider: its
// session and turn, provider, model and request ID, times, how it ended,
// token counts (5-minute and 1-hour cache writes apart), the locally
// estimated cost and, optionally, the price snapshot the estimate used.
// Money is kept in integer nano-dollars ([abi.NanoUSD]) and converted to
// dollars only when read, so [Store.LocalCostInPeriod] (one provider's
// estimated cost over a period) is an exact sum. [Store.AttemptsForTurn] lists a turn's attempts,
// retries included. A store opened with [Config.WithPricing] estimates the
// cost of an attempt recorded without one from a pricing table and keeps
// the prices it used with the attempt, so that newer prices never change
// the recorded history; an attempt the table cannot price is marked so
// ([abi.AttemptPrice.Unpriced]), not stored as free. 1-hour cache writes
// are billed at twice the input price, as package pricing derives their
// price, and the snapshot keeps the price applied. Attempt IDs come from a
// counter in the database, like event IDs. The attempts table arrived
// with schema version 3 and the 1-hour cache writes with version 5; every
// Open function migrates a store to the current version, so attempts
// recorded before read 0 1-hour cache writes, and
// [Store.EnsureAttemptsSchema] only confirms the table is there.
// [Store.DropMetadata] deletes attempts as old as the events it deletes
// (pinned and exempt sessions keep theirs): the table is a session record,
// not a durable cost ledger.
//
// # Batches and idempotent imports
//
// [Store.WriteBatches] writes several [abi.Batch] values (each a group of
// events, tool intents and outcomes, attempts and pins, of any sessions)
// in one write transaction of the group-committing writer: all of them or
// none. Every record is checked, redacted, compressed and priced by the
// same code as its single-record method, before the transaction starts; a
// bad record or a key longer than [abi.MaxBatchKey] fails the whole call
// with a [*BatchError] naming the batch and the record, and writes
// nothing. A batch's Key, when not empty, makes it idempotent: the store
// records the key in the transaction that writes the batch (the
// batch_keys table, schema version 6; a store of version 5 gains it when
// it is opened), and skips, whole, any later batch under a key it holds,
// whichever Store, process or call wrote it. WriteBatches returns the
// number of batches it wrote; the others were skipped. An importer derives
// keys from its input (a transcript line's UUID, a hash of a record), so
// that importing the same input again adds nothing, and an import killed
// part way, with each call committed whole or not at all, completes when
// run again. Keys are stored like the records (encrypted when the store
// is) and are never deleted by retention. [MonthlyRollover.WriteBatches]
// looks keys up in every month before it writes to the current one.
//
// Reconciliation compares the local estimate with what a provider billed:
// an [UpstreamUsageFetcher] asks the provider's usage API, and
// [Store.ReconcileNow] (or [Reconcile], with any [LocalCoster] as the
// local side) returns a [Reconciliation] over the last period of the
// store's clock, in exact nano-dollars, with the variance upstream minus
// local (positive: the provider billed more), and the count of the
// period's attempts nobody priced ([Reconciliation.LocalUnpriced], from
// [Store.UnpricedAttemptsInPeriod] or any [UnpricedCounter]): when it is
// above zero, the local side is a lower bound. It saves nothing;
// [Store.SaveReconciliation] keeps a result (retention never deletes it),
// [Store.LatestReconciliation] and [Store.Reconciliations] read them back,
// per provider or for all. Package schedule runs such a job daily, once
// across processes.
//
// # Cost ledger
//
// A [CostLedger] is the durable record of money spent: a separate SQLite
// file ([DefaultCostLedgerPath], costs.db beside the session store) with
// a schema of its own, so retention, deleted sessions and deleted session
// stores never remove a cost. [OpenCostLedger] and
// [OpenCostLedgerWithConfig] open it with the session store's machinery
// and guarantees (store lock, concurrent creation, [ErrDatabaseLost]);
// with a KEK source it is encrypted under its own data key in
// <ledger>.dek, which [Rekey] and keyring.RotateKEK handle as a store's.
// A session store does not open as a ledger, nor a ledger as a store
// ([ErrNotStore]). [CostLedger.Record] takes dollars at the API's edge;
// [CostLedger.RecordEntry] takes a [LedgerEntry] in nano-dollars with its
// time, request and attempt IDs and token counts. Amounts are stored as
// integer nano-dollars and every total is an exact integer sum:
// [CostLedger.CostByProvider] and [CostLedger.CostBySession] in dollars,
// their Nanos variants and [CostLedger.CostInPeriod] (one provider over a
// billing period, the local side of a reconciliation; also under the
// Store's name, [CostLedger.LocalCostNanosInPeriod]) in [abi.NanoUSD].
// Each write also adds the entry to hourly totals per provider and per
// session, in the same transaction; a query reads whole hours from them
// and only the part of an hour at the edges of its period from the
// entries, so totals over a million entries take milliseconds. After
// [CostLedger.Close] every method returns [ErrLedgerClosed].
//
// The ledger is fed from the session store's attempts. A harness records
// an attempt with [Store.RecordAttempt] (or [MonthlyRollover.RecordAttempt])
// and then its cost with [CostLedger.RecordAttempt]: two files, two
// commits. The second is idempotent: the ledger keeps one entry per
// source (a name of the session store or rollover, such as its path, the
// same at every start) and attempt ID, so a retry returns the entry
// already stored. A source name belongs to one store for good: a store
// created again at the same path starts its attempt IDs over and needs
// a new name, and an attempt that differs from the entry under its
// source and ID fails with [ErrAttemptConflict]. A crash between the two commits is repaired by
// [CostLedger.SyncAttempts], which reads the store's attempts
// ([Store.AttemptsSince], [MonthlyRollover.AttemptsSince]: in ID order,
// across months) after the last one a sync confirmed and records those
// the ledger lacks, a page per transaction; its progress is the entries
// themselves, so it can be interrupted, repeated, and run by several
// processes at once. An attempt it cannot store (one that would take a
// session's total beyond int64 nano-dollars) stops it with an error
// naming the attempt, after every attempt before it is recorded. Run it after each attempt (then the manual record
// is optional), on a schedule, at start-up, and always before
// [Store.DropMetadata] or [MonthlyRollover.DropMonthsBefore] delete
// attempts: an attempt deleted before any sync read it never reaches
// the ledger. An attempt entry is dated by the attempt's start, as the
// store's period totals are, and costs its estimate in nano-dollars, so
// [CostLedger.CostInPeriod] agrees with [Store.LocalCostNanosInPeriod]
// over the attempts still in the store. The ledger's schema arrived at
// version 1 and the attempt entries, with 1-hour cache writes apart, at
// version 2 ([LedgerSchemaVersion]); an older ledger is migrated on open.
//
// # Reading
//
// [Store.EventsSince] pages through one session's events in ID order;
// [Store.ListPastSessions] lists sessions, most recently active first, from
// summaries maintained on append, so it stays fast on large stores. Reads
// use a small pool of read-only connections and never wait for writes.
//
// # Retention
//
// [Store.ApplyRetention] drops old payloads and keeps metadata-only rows;
// [Store.DropMetadata] deletes old rows. Sessions pinned with [Store.Pin]
// are exempt from both. Dropped content really leaves the files: the store
// runs with secure_delete, rewrites the database (VACUUM) and truncates the
// WAL.
// The rewrite holds the write lock while it copies the whole database, several
// seconds for hundreds of megabytes: writers in other handles and processes
// wait up to their busy timeout ([Config.WithBusyTimeout], 5 s by default) and
// then fail with [ErrBusy]. Run retention when the store is quiet, or give the
// writers a longer busy timeout.
//
// # Monthly rollover
//
// [MonthlyRollover] keeps one store per calendar month in a directory,
// sessions-YYYYMM.db, so that retention deletes whole months and a
// rewrite touches one month. The month comes from the [Config]'s clock,
// in UTC unless [WithMonthLocation] gives another location. Encrypted,
// each month has its own data key under the one KEK, in
// sessions-YYYYMM.db.dek: deleting a month's files crypto-shreds it, and
// [MonthlyRollover.RotateKEK] rewraps every month's key.
//
// When the month changes, a rollover first seals the previous month, in a
// write transaction that also reads that month's last event, attempt and
// reconciliation IDs; then it creates the new month and raises its ID
// counters above them before writing to it. Both steps run under a lock
// file in the directory, so processes sharing it create months one at a
// time and never one older than the newest. Once sealed, a month refuses
// new events, tool intents and outcomes, attempts and reconciliations
// with [ErrMonthSealed] in the same transaction that would draw their
// IDs; the rollover's write methods then retry once in the month that
// took over. So IDs stay strictly
// increasing across months, whichever process's clock changes month
// first, and a write lands in exactly one month. A process killed while
// creating a month leaves a marker file that makes the next rollover
// start that month again: it deletes the month's files and creates them
// anew, holding the month's store lock (sessions-YYYYMM.db.lock)
// exclusively, so it fails with [ErrBusy] rather than delete a month any
// handle still has open. Until the marker is gone, reads skip the month
// and never keep it open, so a reader cannot go on writing to a deleted
// copy of it.
//
// A clock whose month is not wholly within the storable range (1677 to
// 2262, Unix nanoseconds in int64) is refused with [ErrInvalidArgument]
// naming the month, before any file is created: such a month would have
// no file name readers list, or would seal the real current month with
// timestamps nothing can store. A clock that is wrong but in range is
// not detected: every clock is the caller's to inject, so there is
// nothing shared to compare it with. A handle whose clock runs ahead
// starts its month, and the other handles follow it there (a month is
// never created older than the newest), so IDs stay ordered and nothing
// is lost, but the months in between stay empty and the early month is
// current until the real clocks reach it.
//
// The rollover's read methods ([MonthlyRollover.EventsSince],
// [MonthlyRollover.ListPastSessions], [MonthlyRollover.OrphanIntents],
// [MonthlyRollover.ToolIntents], [MonthlyRollover.ToolOutcomes],
// [MonthlyRollover.AttemptsForTurn],
// [MonthlyRollover.LocalCostNanosInPeriod],
// [MonthlyRollover.LatestReconciliation],
// [MonthlyRollover.Reconciliations]) span every month: a session that
// crosses the 1st reads as one, and a tailer passing the last ID it saw
// to EventsSince sees every event once, in ID order, across the change of
// month. [MonthlyRollover.ReconcileNow] compares a provider's billing with
// the attempts of every month, and [MonthlyRollover.SaveReconciliation]
// keeps the result in the current month. [MonthlyRollover.DropMonthsBefore]
// deletes the months that ended before a horizon with all of their files;
// the pinned sessions and every reconciliation in them are first copied
// into the current month with their IDs, idempotently, so a drop killed
// between copy and deletion loses and duplicates nothing when run again.
// It deletes under the directory's lock file, database first and DEK
// header after, while readers open a month they have not opened yet only
// under that lock held shared, and only if its database is still there:
// a month dropped after a reader listed it is skipped, never created
// again, and a sealed month whose database went while a read was using
// it is skipped too, as if it had been listed a moment later.
//
// Past months are sealed, not opened read-only. A sealed month is an
// ordinary store file that the rollover opens read-write, and the seal is
// what makes it final: the seal row commits in a write transaction, and
// every later transaction that would add session data to the month
// (Append, AppendEvent, RecordToolIntent, RecordToolOutcome,
// RecordAttempt, WriteBatches, SaveReconciliation, on the rollover or on a month's
// *Store) reads it under SQLite's write lock and fails without writing, so
// nothing of that kind is committed in a month after its seal, by this
// process or any other. What still writes to a past month: its seal and
// counter floors, written once, when the month changes (or by the first
// rollover to open a directory where a rollover was killed between the
// two); [MonthlyRollover.Unpin], which removes a pin from every month;
// [MonthlyRollover.DropMonthsBefore], which deletes whole months; and
// methods called on a *Store the caller kept from
// [MonthlyRollover.Current] after its month was sealed ([Store.Pin],
// [Store.Unpin], [Store.ApplyRetention], [Store.DropMetadata]), which do
// not check the seal. Opening past months read-only instead would need the
// store's open to run without its writer (no schema migration, no write
// transaction at open, read connections with query_only), a separate
// short-lived writable handle for Unpin and for sealing a month a killed
// rollover left unsealed, and migrations of old months run before they
// turn read-only; the seal gives the guarantee that matters (no session
// data written after it) without them.
//
// # Files and keys
//
// A store is one SQLite file plus its -wal and -shm files, created 0600 in
// a 0700 directory ([DefaultPath] under the XDG state directory).
// [OpenWithConfig] opens a store as a [Config] says: plaintext by default;
// with [Config.WithKEKSource] the data key is wrapped under a
// key-encryption key in <path>.dek (see package keyring for KEK sources,
// rotation and escrow); [Config.WithKey] takes the 32-byte data key itself.
// [Open], [OpenWithKEK] and [OpenEncrypted] are shorthands for it. An encrypted
// store holds the keyring's lock file <path>.lock shared while it is open,
// so [Rekey], in this or another process, fails with
// keyring.ErrInUse instead of replacing the file under it. [Encrypt]
// converts a closed plaintext store into an encrypted one in place, with
// the crash guarantees of a rekey.
// Event IDs are strictly increasing and never reused across all Stores
// open on one file, in one process or several: each write transaction
// takes SQLite's write lock and draws IDs from a counter in the database,
// so events also commit in ID order. The schema is versioned and migrated
// forward on open, in a write transaction that re-checks the file, so
// processes opening a new path at once all succeed; a file from a newer
// version is refused with [ErrNewerSchema], a non-store file with
// [ErrNotStore], and a missing or empty database next to its DEK header
// with [ErrDatabaseLost]. A plaintext database with a DEK header beside it
// is refused by every open with keyring.ErrHeaderExists: the header's
// encrypted database was replaced or lost.
//
// Every store has an identity, [Store.ID]: 16 random bytes in hex, drawn
// once in the transaction that creates the store (or that migrates a store
// from before identities), so processes creating it at once agree, and
// never changed. It belongs to the data, not the path: a store that is
// moved, renamed, restored elsewhere from a backup, encrypted or rekeyed
// keeps it, so it names the store where a path would not, as the source
// of [CostLedger.SyncAttempts]. A copy keeps it too: synced under that
// name, the ledger counts once the attempts both copies share (the same
// IDs with the same content), and a copy that has since diverged (another
// attempt under an ID the ledger holds from the other) fails the sync
// with [ErrAttemptConflict]; sync such a copy under a name of its own.
//
// # Checking a store
//
// [Verify] checks a store's files without opening it as a Store and
// without writing to its database or WAL (it may create the empty lock
// files, and while the store is open elsewhere its read connection
// records a read mark in the WAL index, rebuilt after a crash, as every
// reader does): for an
// encrypted store it authenticates every page of the
// database and every frame of its WAL with the data key
// (sqlitevfs.CheckFiles), naming damaged pages and frames in its
// [VerifyReport], then runs SQLite's integrity_check read-only. It works
// while other handles and processes use the store. [Store.Health] is a
// cheap summary of an open store (sizes, schema version, encryption, KEK
// source, DEK header version and dates, last reconciliation, counts) for
// a status command or a health endpoint; it never holds key material.
package host
