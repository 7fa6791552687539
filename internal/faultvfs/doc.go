// Package faultvfs is a test-only SQLite VFS that injects the failures a
// real disk produces, the way SQLite's own test harness does: an error at
// the Nth call of chosen operations or at random, a disk that stays full,
// and a power loss.
//
// A [VFS] wraps a base [vfs.VFS] of github.com/ncruces/go-sqlite3 (the OS
// VFS by default) and sits under an encrypting VFS, so faults hit the
// files exactly as the operating system would: reads, writes, syncs,
// truncates, locks, opens and deletes fail with the error the OS VFS
// returns for them (an [*fs.PathError] wrapping the [syscall.Errno] for
// reads, writes, truncates, opens and deletes; the bare Errno for syncs;
// SQLite's lock codes for locks), so errors.Is(err, syscall.ENOSPC) holds
// wherever the OS's error would. Every optional file interface of the base
// file (shared memory, lock state, size hints, chunk size, …) is passed
// through: with no fault armed and no power cut, SQLite behaves exactly as
// on the base VFS.
//
// # Power loss
//
// [VFS.Track] records, per file, every write and truncate made since the
// file's last successful sync, with the bytes it replaced. [VFS.CutPower]
// (or [VFS.CutPowerAt], at a chosen call) turns the machine off: every
// later call fails with EIO, except unlocks and closes, which release
// process state and let the caller close its handles. [VFS.Restore] then
// rewrites the real files to what the disk could hold after the power
// loss, by [Mode]: every unsynced write lost ([Discard]); a random subset
// surviving in any order ([Reorder]); and, besides, a surviving write of
// which only some sectors (512 bytes, or [PowerLoss].Sector) reached the
// disk ([Tear]). This is the crash VFS of SQLite's test suite (test6.c) in
// spirit.
//
// The process keeps running after the cut: what it does with the os
// package (a key header rewritten, the leftovers of a failed operation
// removed) would reach the disk with the machine off. [VFS.SnapshotAtCut]
// copies chosen directories at the instant of the cut, and Restore puts
// them back to that copy before it undoes the unsynced writes, so nothing
// done after the cut survives; [VFS.OnCut] lets the caller stop its
// workload at the cut.
//
// A sync failed by a [Fault] with DropOnSyncError also loses the file's
// unsynced writes, at once, as Linux may drop the dirty pages of a file
// whose fsync failed and report success to the next fsync.
//
// What is simulated, and what is not:
//
//   - Only files opened through the VFS are simulated. Files written with
//     the os package (key headers, lock files) are durable as written, up
//     to the cut when their directory is snapshotted, and as written
//     otherwise.
//   - Directory entries are durable: a file created, deleted or renamed
//     before the cut stays so after the power loss. A tracked file that
//     was deleted, replaced (renamed over) or resized with the os package
//     after its last write through the VFS (and before the cut, with a
//     snapshot) is left alone.
//   - Writes are tracked by file name. A file written through the VFS,
//     then synced and renamed with the os package (a rekey's copy, renamed
//     over the database) is durable once renamed, even when its writes
//     were not synced: the simulation does not follow the writes to the
//     new name.
//   - A sync makes every earlier write of the file durable, whichever
//     handle made it (fsync flushes the file, not the descriptor).
//   - The -shm file (SQLite's WAL index) is volatile: Restore removes it
//     and the next open rebuilds it from the WAL. Writes SQLite makes to
//     it through shared memory are never tracked.
//   - Writes do not damage bytes they do not cover (SQLite's powersafe
//     overwrite), and a torn write keeps whole sectors of the file (512
//     bytes, or [PowerLoss].Sector): any of them, at least one, not all.
//   - Files opened while tracking do not report batch-atomic writes
//     (IOCAP_BATCH_ATOMIC), whose all-or-nothing promise the simulation
//     does not model.
//   - One process: writes by other processes are not tracked.
//
// The package is for tests and for the reliability harness; no library
// package imports it.
package faultvfs
