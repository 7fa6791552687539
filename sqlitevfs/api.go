// Package sqlitevfs wraps an SQLite VFS to encrypt and authenticate every
// page that reaches disk with AES-256-GCM.
//
// It wraps a base [vfs.VFS] of github.com/ncruces/go-sqlite3 (usually the OS
// VFS) and seals every page image written to the main database, to the WAL
// (frame contents) and to rollback journals (page records), and masks the
// checksums SQLite computes over plaintext (WAL frames, journal records).
// Temporary files (temp databases, statement journals, VACUUM's scratch
// space) never touch the filesystem: they live in memory.
//
// # Page format
//
// Every database created through this VFS has [ReserveBytes] (32) reserved
// bytes at the end of each page, set with [SetReserve] before the first
// write. On disk they hold the page trailer epoch[4] ‖ nonce[12] ‖ tag[16]
// (see internal/pagecrypt for the construction and its nonce bound: 2^48
// page writes per key keep the nonce-collision probability below 2^-32).
// The associated data binds each image to its kind (database page or
// journal record) and page number. Page numbers come from the page offset
// for the database, from the frame header for WAL frames and from the
// record header for journal records. A WAL frame holds the page sealed
// exactly as it will be in the database file, so a checkpoint copies it
// without opening and resealing it: a written page costs one AES pass, not
// three.
//
// Page 1 keeps its bytes 16..23 (page size, file format versions, reserved
// bytes, payload fractions) in plaintext so the VFS can learn the page size
// before decrypting anything; bytes 0..15 ("SQLite format 3\0") are replaced
// on disk by this package's magic and an 8-byte key check value, and the
// whole 24-byte prefix is authenticated with the page. So a file reveals:
// that it is a store of this package, its page size, whether it is in WAL
// mode, and (key check) whether two files share a key. Nothing else.
//
// # Rollback journal
//
// In the rollback journal modes (delete, truncate, persist) the -journal
// file of a write transaction holds headers (SQLite's magic, the record
// count, a checksum seed SQLite draws at random for each journal, the
// database size in pages before the transaction, the sector and page
// sizes) and one record per page the transaction changed: the page number
// in plaintext, the page's previous image sealed as a journal record bound
// to that page number, and SQLite's record checksum masked with a value
// only the key yields (SQLite computes it from the plaintext page: the
// seed plus every 200th byte; the mask is new for every record, see
// internal/pagecrypt). A transaction over several attached databases adds
// the file name of its super-journal. So an attacker who reads the journal
// learns which pages a transaction changed, the database size, and when;
// nothing of their contents. One who can write it cannot make a record
// with a modified, truncated, moved or foreign image play back: the
// rollback of a transaction in progress fails with sqlite3.IOERR_DATA, and
// the playback of a hot journal (after a crash) ends at that record, as at
// a record a crash left half written (SQLite's checksum rejects it). A
// modified checksum, record count or header ends playback at that record,
// as if the journal were truncated there; that, deleting or truncating a hot
// journal, and putting an older journal of the same database in its place
// are undetectable (see Threat model).
//
// The journal accepts only the writes SQLite's pager makes to it (headers,
// records, a header and its first record in one write, the super-journal
// pointer, the persist mode's zeroed header) and refuses anything else with
// [ErrUnalignedWrite] without writing it. The VFS therefore hides the atomic-write device capabilities
// (IOCAP_BATCH_ATOMIC, which the OS VFS reports on F2FS, and
// IOCAP_ATOMIC*): with them SQLite keeps the journal in memory and, when it
// must spill it, copies it to the file in chunks that are neither records
// nor headers. Transactions then journal as on any other filesystem.
//
// # Read-ahead
//
// A connection that reads database pages in ascending order (a table or
// index scan) gets a helper goroutine that reads and opens the next pages
// (up to 256 KiB ahead, 32 KiB per read call) on another core while SQLite
// works on the current one. The reader still reads every page itself and
// takes the helper's plaintext only when its bytes are identical to the
// sealed image the helper authenticated, so a page rewritten or modified
// in between is opened (and, if damaged, reported) as without read-ahead.
// It never waits for the helper. The helper costs up to 512 KiB of buffers
// per connection that scanned, released at close, and an extra read and open
// per page it opened that the scan did not reach (at most one window). It
// stays off with GOMAXPROCS < 2. Opened pages wait in its buffers until
// taken or overwritten, in plaintext like SQLite's page cache.
// [VFS.SetReadAhead] turns it off.
//
// # What each file reveals
//
// An attacker who can read the files learns, besides file sizes and which
// pages change when:
//
//   - database: that it is a store of this package, its page size, whether
//     it is in WAL mode, and (key check) whether two files share a key;
//   - -wal: its header (page size, checkpoint sequence, salts and their
//     checksum), and per frame the page number, the database size after a
//     commit frame and the salts. SQLite's frame checksum, a running sum
//     over the plaintext, is stored masked (below);
//   - -shm, the WAL index: SQLite keeps it in memory shared by every
//     connection, mapped from a file next to the database, and the first
//     connection to open the database rebuilds it from the WAL. Besides
//     frame counts, salts and page numbers it holds SQLite's running
//     checksum of the last valid frame (8 bytes) and a checksum of the
//     index header over it: the one value on disk derived from plaintext.
//     It is a sum over every frame of the current WAL generation, so it
//     tells nothing about one page unless all the others are known. It
//     cannot be masked (SQLite reads and writes it as memory, not through
//     the VFS). SQLite deletes the file when the last connection closes
//     after checkpointing the whole WAL; otherwise (a crash, a failed
//     open, a connection that could not checkpoint) it stays until the
//     next first open rebuilds it.
//
// WAL frame checksums are stored XORed with HMAC-SHA256, under a key
// derived from the DEK, of the frame's page number, commit marker, salts,
// offset and its sealed image's trailer (random epoch and nonce): a fresh,
// uniformly random value per write. Unmasked on read, SQLite sees its own
// checksums, and a frame whose header was altered (commit marker, salts,
// page number) unmasks to a checksum SQLite rejects: an attacker cannot
// forge a commit, or make the frames of a rolled-back transaction
// committed, without the key.
//
// An attacker who can write the files can destroy data, and roll back (see
// the threat model), but cannot make SQLite read altered or forged
// content: every page image is authenticated, and so are the WAL's commit
// structure and, through SQLite's own checks, the journal's. The -shm is
// trusted while connections have it open, as SQLite's memory is: writing
// it under a running process can make readers see older or wrong pages of
// the same database (SQLite's structure checks catch most); it cannot make
// them see content that was never written under the key.
//
// # Threat model
//
// Protects against an attacker who reads or modifies the files at rest
// (stolen laptop, backup copies, a malicious sync service): contents stay
// confidential and any modified, truncated-inside-a-page, moved or swapped
// page is detected and reported as an error, never returned as data.
//
// Does not protect against: rollback of a whole file (or of single pages,
// also by putting an older image of a page into a WAL frame) to an older
// valid version, truncation of the WAL or of the database at a page
// boundary, deletion or truncation of a hot rollback journal (which leaves
// an interrupted transaction partly in the database), transplanting a page
// between two databases that share a key (give each database its own key;
// package keyring does), anyone who can read the process's memory, and
// traffic analysis (which pages change and when, file sizes). Sign or
// checksum backups if rollback matters.
//
// Durability: a page larger than what the storage writes atomically (4 KiB
// on most disks) can be torn by a power loss while a checkpoint writes it
// to the database. SQLite recovers such a page from the WAL, which still
// holds it, except page 1: SQLite reads the database header from the file
// before it looks at the WAL, and a torn page 1 fails authentication, so
// the store does not open. Keep the default 4096-byte pages on such
// storage.
//
// # Key management
//
// A VFS made by [Wrap] with a key encrypts every database it opens with that
// key: no key ever appears in a URI, file name, error or log. That is how the
// host layer uses it, registering one uniquely named VFS per store.
//
// [Register] installs the stable-name VFS [Name] ("aesgcm"), which takes
// the key from the "hexkey" URI parameter (64 hex digits):
//
//	file:sessions.db?vfs=aesgcm&hexkey=…
//
// A URI key is visible to anything that sees the URI: SQLite keeps it in the
// connection's filename, and every VFS can read it through
// [vfs.Filename.URIParameters]. This package decodes it once per database
// open, straight from the copy it reads, and clears that copy and the
// decoded key (the database's cipher keeps the key until it is garbage
// collected), but cannot scrub SQLite's. Prefer [Wrap].
//
// # Checking files
//
// [CheckFiles] authenticates every page image of a database file and
// every frame of its WAL with the key, without SQLite, reading the files
// as they stand: it creates and changes nothing and works beside open
// connections. Damaged pages and frames come back as [*PageError]s in a
// [CheckReport]; database pages a committed WAL frame replaces, frames
// after the log's last valid commit and frames of older log generations
// are counted, not reported, and the WAL is judged by the same rule as
// WAL recovery (a frame that breaks the log is damage only when intact
// frames of a later transaction follow it). Rollback journals are not
// checked.
//
// # Errors
//
// Every failure of this package is a typed error ([*PageError],
// [ErrWrongKey], [ErrNotEncrypted], [ErrReserve], [ErrUnalignedWrite],
// [ErrUnalignedRead]) reported to SQLite with a result code:
//
//   - a page that fails authentication: sqlite3.IOERR_DATA ([*PageError],
//     whose Err is [ErrAuth], [ErrEpochLimit] or, from WAL recovery,
//     [ErrWALDamaged]);
//   - a wrong key: sqlite3.IOERR_BADKEY;
//   - a file that is not an encrypted database of this package, or has the
//     wrong reserved bytes, found when the database is opened:
//     sqlite3.CANTOPEN; found on a later read (the file was empty at open):
//     sqlite3.IOERR_READ. Both errors also match sqlite3.NOTADB for
//     [errors.Is], but [sqlite3.Error.Code] reports CANTOPEN or IOERR, not
//     NOTADB: go-sqlite3 drops the VFS error of a NOTADB;
//   - a write without [SetReserve] or not of whole pages: sqlite3.IOERR_WRITE;
//     a partial read of a WAL page image: sqlite3.IOERR_READ.
//
// The typed error reaches only the connection whose call failed, in the
// error that call returns, for [errors.Is] and [errors.As]; the VFS keeps
// no error of its own. go-sqlite3 attaches it to the *sqlite3.Error when it
// is still the connection's last VFS error at the end of the call: always
// for a failed open (including a page 1 that fails authentication during
// the open), and in rollback-journal mode, where the database file's
// unlock hands it back. In WAL mode SQLite's cleanup (a WAL-index unlock)
// replaces it; call [ConnError] on the error, right after the failing call
// and before the connection is used again, to add it from the connection's
// own record. ConnError is harmless where the error is already there, so
// callers can apply it to every error of an encrypted connection. A backup
// into an encrypting VFS ([sqlite3.Conn.Backup]) writes through a handle
// inside the source connection, which ConnError cannot reach: such a
// failure carries only its result code (use [sqlite3.Conn.Restore] on the
// destination connection instead).
//
// WAL recovery is the one lenient path: when SQLite rebuilds the WAL index
// it reads whole frames, and a frame that fails authentication there is
// returned as random bytes so that SQLite's own frame checksum rejects it
// and truncates the log at that frame (a torn tail after a crash is
// normal). Damage in the middle of the log is not a torn tail: when intact
// frames of a later transaction follow an invalid frame, recovery fails
// with a [PageError] whose Err is [ErrWALDamaged], naming the frame, rather
// than silently dropping acknowledged transactions. Damage to a frame of
// the last transaction cannot be told from a torn write and is treated as
// one; under synchronous=NORMAL or OFF a power loss can leave holes that
// look like damage and are reported the same way (see recovery.go for the
// exact rule). Every other read fails loudly. A checkpoint copies frames
// without opening them, so a frame modified on disk is reported when its
// page is next read from the database rather than during the checkpoint.
package sqlitevfs

import (
	"errors"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

const (
	// Name is the name [Register] registers the URI-keyed VFS under.
	Name = "aesgcm"
	// KeySize is the size of a key: 32 bytes of a uniformly random DEK.
	KeySize = pagecrypt.KeySize
	// ReserveBytes is the number of reserved bytes per page every database
	// of this VFS has: the per-page trailer.
	ReserveBytes = pagecrypt.Overhead
)

// A VFS encrypts the databases it opens. It is safe for concurrent use.
type VFS struct {
	vfs.VFS                   // base VFS: Delete, Access, FullPathname
	cipher  *pagecrypt.Cipher // nil: key from the URI
	noAhead atomic.Bool       // SetReadAhead(false)
}

var (
	_ vfs.VFSFilename = (*VFS)(nil)
)

// Wrap returns a VFS that wraps base (nil means the OS VFS) and encrypts
// every database it opens with key, which must be [KeySize] bytes. The key
// is copied. If key is nil, each database's key is taken from its "hexkey"
// URI parameter instead (see the package doc for what that exposes).
func Wrap(base vfs.VFS, key []byte) (*VFS, error) {
	if base == nil {
		base = vfs.Find("")
	}
	v := &VFS{VFS: base}
	if key != nil {
		c, err := pagecrypt.New(key)
		if err != nil {
			return nil, errKeySize
		}
		v.cipher = c
	}
	return v, nil
}

var errKeySize = errors.New("sqlitevfs: key must be 32 bytes")

// Register registers the URI-keyed VFS under [Name], wrapping the OS VFS.
// It is idempotent.
func Register() {
	if vfs.Find(Name) != nil {
		return
	}
	v, _ := Wrap(nil, nil)
	vfs.Register(Name, v)
}

// SetReserve sets the reserved bytes per page of schema ("main", or an
// attached schema) to [ReserveBytes]. Call it on every new connection before
// the first write and before every VACUUM INTO (SQLite forgets the request
// after a VACUUM INTO). It does nothing to an existing database's pages.
func SetReserve(c *sqlite3.Conn, schema string) error {
	_, err := c.FileControl(schema, sqlite3.FCNTL_RESERVE_BYTES, ReserveBytes)
	return err
}

// SetReadAhead turns read-ahead (see the package doc) on or off for every
// connection of v, from its next page read on. It is on by default. Off
// trades scan speed for CPU: each page is opened by the reading connection
// alone. A connection keeps the buffers of a helper it already started
// until it closes.
func (v *VFS) SetReadAhead(on bool) { v.noAhead.Store(!on) }

// report returns err tagged with code for SQLite. go-sqlite3 keeps err in
// the failing connection's own state and attaches it to the *sqlite3.Error
// that connection returns, if no later VFS call of the same API call
// replaced it (see [ConnError]). Nothing is kept in v.
func (v *VFS) report(err error, code sqlite3.ExtendedErrorCode) error {
	return vfs.SystemError(err, code)
}

// Open implements [vfs.VFS]; SQLite calls OpenFilename instead.
func (v *VFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if name == "" {
		return v.OpenFilename(nil, flags)
	}
	return nil, flags, sqlite3.CANTOPEN
}

// OpenFilename implements [vfs.VFSFilename].
func (v *VFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	switch {
	case flags&vfs.OPEN_MEMORY != 0, flags&vfs.OPEN_SUPER_JOURNAL != 0:
		// In-memory databases never reach disk; super journals hold only
		// file names.
		return vfsutil.WrapOpenFilename(v.VFS, name, flags)
	case name == nil || flags&(vfs.OPEN_TEMP_DB|vfs.OPEN_TEMP_JOURNAL|vfs.OPEN_TRANSIENT_DB|vfs.OPEN_SUBJOURNAL) != 0:
		// Temporary files stay in memory.
		return &memFile{}, flags | vfs.OPEN_MEMORY, nil
	}

	var c *pagecrypt.Cipher
	var db *dbFile
	if flags&vfs.OPEN_MAIN_DB != 0 {
		var err error
		if c, err = v.keyFor(name); err != nil {
			return nil, flags, err
		}
	} else if f, ok := vfsutil.UnwrapFile[*dbFile](name.DatabaseFile()); ok {
		db, c = f, f.cipher // journal and WAL share the main database's key
	} else {
		return nil, flags, sqlite3.CANTOPEN
	}

	f, flags, err := vfsutil.WrapOpenFilename(v.VFS, name, flags)
	if err != nil {
		return nil, flags, err
	}
	p := pager{File: f, vfs: v, cipher: c, path: name.String()}
	if db != nil {
		p.errs = db.errs // a connection's WAL and journal report with its database
	} else {
		p.errs = new(connErrs)
	}
	// A full filesystem is recorded for the connection (ErrDiskFull).
	p.File = &fullFile{File: f, path: p.path, errs: p.errs}
	switch {
	case flags&vfs.OPEN_MAIN_DB != 0:
		db := &dbFile{pager: p}
		// xOpen's code reaches the caller unchanged, and go-sqlite3
		// attaches the typed error to CANTOPEN (not to NOTADB).
		if err := db.checkHeader(cantOpen); err != nil {
			f.Close()
			return nil, flags, err
		}
		return db, flags, nil
	case flags&vfs.OPEN_WAL != 0:
		return newWALFile(p, db), flags, nil
	case flags&vfs.OPEN_MAIN_JOURNAL != 0:
		return &journalFile{pager: p, pgnoOff: -1}, flags, nil
	}
	f.Close()
	return nil, flags, sqlite3.CANTOPEN
}

// keyFor returns the cipher for a main database: the VFS's own, or one
// made from the URI's hexkey.
func (v *VFS) keyFor(name *vfs.Filename) (*pagecrypt.Cipher, error) {
	if v.cipher != nil {
		return v.cipher, nil
	}
	// URIParameter copies the key out of SQLite's memory; hexKey decodes
	// that copy without making another and wipes it, and the decoded key
	// is cleared once the Cipher has its own copy.
	var key [KeySize]byte
	defer clear(key[:])
	if !hexKey(key[:], name.URIParameter("hexkey")) {
		return nil, v.report(errKeySize, sqlite3.IOERR_BADKEY)
	}
	return pagecrypt.New(key[:])
}
