package sqlitevfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

// The plaintext prefix of page 1 on disk (magic[8] ‖ key check[8] ‖
// SQLite header bytes 16..23) is laid out by package pagecrypt, which
// package keyring reads too.
const (
	// headerSize is the plaintext, authenticated prefix of page 1 on disk.
	headerSize = pagecrypt.FilePrefixSize
	// fileMagic replaces "SQLite format 3\0"'s first 8 bytes on disk; it
	// names the format version of this package's page layout.
	fileMagic = pagecrypt.FileMagic
	// page1Retries bounds re-reads of page 1 that fail authentication:
	// SQLite reads the header before taking any lock, so it may race with
	// another connection rewriting page 1.
	page1Retries = 3
	// zeroHeaderRetries and zeroHeaderWait bound the wait for page 1 of a
	// database whose first checkpoint is extending the file (checkHeader).
	zeroHeaderRetries = 40
	zeroHeaderWait    = 5 * time.Millisecond
)

var sqliteMagic = []byte("SQLite format 3\x00")

// dbFile is a main database file.
type dbFile struct {
	pager
	pageSize int    // 0 until known from the file or the first write
	page1buf []byte // page 1 with the on-disk prefix, before sealing

	// During a checkpoint the connection's WAL hands SQLite sealed frame
	// images instead of opening them, and records their trailers here;
	// SQLite copies them to the database, where a write whose trailer
	// matches the one handed out for that page is stored as is. See
	// copySealed.
	ckpt   bool
	handed map[uint32][pagecrypt.Overhead]byte

	// Read-ahead for ascending scans (readahead.go): started on the first
	// stream, nil before and where there is no second core.
	stream stream
	ra     *readAhead
	noRA   bool
}

// checkHeader reads the plaintext prefix of page 1, if the file has one,
// and learns the page size. It reports files that are not encrypted
// databases of this package, and wrong keys, without writing anything.
// A file that is not a database of this package ([ErrNotEncrypted],
// [ErrReserve]) is reported with code (CANTOPEN from xOpen, IOERR_READ
// from xRead), a code go-sqlite3 attaches the typed error to; the typed
// error still matches sqlite3.NOTADB (see notADBError).
func (d *dbFile) checkHeader(code sqlite3.ExtendedErrorCode) error {
	var hdr [headerSize]byte
	n, err := d.readFull(hdr[:], 0)
	// A checkpoint of a new database extends the file (SQLite's size
	// hint) before it writes page 1: another connection opening then
	// finds zeros where the header will be. Wait for it a little, as the
	// reads of page 1 do, rather than call the file foreign.
	for try := 0; err == nil && hdr == [headerSize]byte{} && try < zeroHeaderRetries; try++ {
		time.Sleep(zeroHeaderWait)
		n, err = d.readFull(hdr[:], 0)
	}
	switch {
	case n == 0 && err == io.EOF:
		return nil // empty: a new database
	case err == io.EOF:
		return d.fail(notADBError{ErrNotEncrypted}, code)
	case err != nil:
		return err
	case string(hdr[:8]) != fileMagic:
		return d.fail(notADBError{ErrNotEncrypted}, code)
	case !d.cipher.HasKeyCheck(hdr[:]):
		return d.fail(ErrWrongKey, sqlite3.IOERR_BADKEY)
	case hdr[20] != ReserveBytes:
		return d.fail(notADBError{ErrReserve}, code)
	}
	size := headerPageSize(hdr[:])
	if size == 0 {
		return d.fail(notADBError{ErrNotEncrypted}, code)
	}
	d.pageSize = size
	return nil
}

// headerPageSize decodes bytes 16..17 of a database header; it returns 0
// for an invalid page size.
func headerPageSize(hdr []byte) int {
	size := int(binary.BigEndian.Uint16(hdr[16:18]))
	if size == 1 {
		size = 65536
	}
	if !validPageSize(size) {
		return 0
	}
	return size
}

// validPageSize reports whether n is a power of two in 512..65536.
func validPageSize(n int) bool {
	return n >= 512 && n <= 65536 && n&(n-1) == 0
}

// ReadAt decrypts the pages that hold p. Every page is read and
// authenticated whole, also for SQLite's 100-byte header read and its
// 16-byte change-counter read.
func (d *dbFile) ReadAt(p []byte, off int64) (int, error) {
	if d.pageSize == 0 {
		if err := d.checkHeader(sqlite3.IOERR_READ); err != nil {
			return 0, err
		}
		if d.pageSize == 0 {
			return 0, io.EOF // still empty
		}
	}
	size := int64(d.pageSize)
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		start := pos &^ (size - 1)
		raw := d.scratch(2 * d.pageSize)
		page, plain := raw[:size], raw[size:]
		whole := pos == start && len(p)-n >= d.pageSize
		if whole {
			plain = p[n : n+d.pageSize]
		}
		pgno := uint32(start/size) + 1
		d.observe(pgno)
		if err := d.readPage(page, plain, pgno, start); err != nil {
			return n, err
		}
		if !whole {
			n += copy(p[n:], plain[pos-start:])
		} else {
			n += d.pageSize
		}
	}
	return n, nil
}

// readPage reads page pgno at off into page and opens it into plain.
func (d *dbFile) readPage(page, plain []byte, pgno uint32, off int64) error {
	for try := 0; ; try++ {
		m, err := d.readFull(page, off)
		if m == 0 && err == io.EOF {
			return io.EOF // past the end: SQLite zero-fills
		}
		if err == io.EOF {
			return d.pageError(kindDB, pgno, off, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
		if d.ra != nil && pgno != 1 && d.ra.take(pgno, page, plain) {
			return nil
		}
		skip := 0
		if pgno == 1 {
			skip = headerSize
		}
		ad := associated(kindDB, pgno)
		err = d.cipher.OpenScratch(plain, page, skip, ad[:])
		if err == nil {
			if pgno == 1 {
				copy(plain, sqliteMagic)
			}
			return nil
		}
		if pgno != 1 || try == page1Retries {
			return d.pageError(kindDB, pgno, off, authError(err))
		}
		time.Sleep(time.Millisecond)
	}
}

// observe feeds a page read to stream detection and keeps the read-ahead
// window in front of an ascending scan.
func (d *dbFile) observe(pgno uint32) {
	if d.noRA || !d.stream.observe(pgno) || d.vfs.noAhead.Load() {
		return
	}
	if d.ra == nil {
		if d.ra = newReadAhead(d); d.ra == nil {
			d.noRA = true
			return
		}
	}
	d.ra.advance(pgno)
}

// Lock forgets the connection's typed error when a transaction starts in
// rollback mode (SQLite takes the SHARED lock first), so that a record the
// caller never took cannot be added to a later error (see [ConnError]).
func (d *dbFile) Lock(lock vfs.LockLevel) error {
	if lock == vfs.LOCK_SHARED {
		d.errs.reset()
	}
	return d.pager.Lock(lock)
}

// Unlock releases the lock, then hands the connection's pending typed
// error back to go-sqlite3 (see pending).
func (d *dbFile) Unlock(lock vfs.LockLevel) error {
	if err := d.pager.Unlock(lock); err != nil {
		return err
	}
	return d.pending()
}

// Close stops the read-ahead helper, then closes the file and hands the
// connection's pending typed error back to go-sqlite3 (see pending).
func (d *dbFile) Close() error {
	if d.ra != nil {
		d.ra.stop()
		d.ra = nil
	}
	if err := d.pager.Close(); err != nil {
		return err
	}
	return d.pending()
}

// pending returns the connection's recorded typed error tagged with
// SQLITE_OK, or nil. go-sqlite3 keeps a VFS error only until the
// connection's next VFS call, and SQLite's cleanup after a failure (the
// unlock in rollback mode, the close of a database that failed to open)
// comes after the failing call: success with the typed error re-attached
// keeps it for the *sqlite3.Error the connection returns, without failing
// the unlock or close. Lock forgets the record when the next transaction
// starts.
func (d *dbFile) pending() error {
	if rec := d.errs.last.Load(); rec != nil {
		return vfs.SystemError(rec.err, uint8(0)) // SQLITE_OK
	}
	return nil
}

// WriteAt encrypts whole pages. Page 1 must carry ReserveBytes reserved
// bytes; anything that is not whole, aligned pages is refused.
func (d *dbFile) WriteAt(p []byte, off int64) (int, error) {
	if off == 0 {
		if len(p) < 100 || !bytes.HasPrefix(p, sqliteMagic) || headerPageSize(p) != len(p) {
			return 0, d.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
		}
		if p[20] != ReserveBytes {
			return 0, d.fail(ErrReserve, sqlite3.IOERR_WRITE)
		}
		d.pageSize = len(p)
	}
	if d.pageSize == 0 && validPageSize(len(p)) {
		d.pageSize = len(p) // page 1 lives in the WAL so far
	}
	size := d.pageSize
	if size == 0 || len(p)%size != 0 || off%int64(size) != 0 {
		return 0, d.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
	}
	n := 0
	for ; n < len(p); n += size {
		pos := off + int64(n)
		pgno := uint32(pos/int64(size)) + 1
		page := p[n : n+size]
		if d.copySealed(pgno, page) {
			if _, err := d.File.WriteAt(page, pos); err != nil {
				return n, err
			}
			continue
		}
		skip := 0
		if pgno == 1 {
			skip = headerSize
			page = d.page1(page)
		}
		ad := associated(kindDB, pgno)
		if _, err := d.seal(page, pos, skip, ad[:]); err != nil {
			return n, err
		}
	}
	return n, nil
}

// handOut records the trailer of a sealed frame image of page pgno that
// the WAL returns unopened to SQLite's checkpoint. It reports false, and the
// WAL must open the image as usual, outside a checkpoint and for page 1
// (sealed differently in the database file).
func (d *dbFile) handOut(pgno uint32, sealed []byte) bool {
	if !d.ckpt || pgno == 1 {
		return false
	}
	if d.handed == nil {
		d.handed = make(map[uint32][pagecrypt.Overhead]byte)
	}
	d.handed[pgno] = [pagecrypt.Overhead]byte(sealed[len(sealed)-pagecrypt.Overhead:])
	return true
}

// copySealed reports whether page, written to page pgno, is a sealed image
// the WAL handed out during this checkpoint: its trailer (random epoch and
// nonce, and the tag) matches the one recorded for pgno. Such a page is
// already sealed for its position and is stored unchanged. SQLite's own
// pages always carry a zeroed reserved area, so plaintext never matches.
//
// The cost of the shortcut: a frame modified on disk is not detected during
// the checkpoint but when the page is next read from the database.
func (d *dbFile) copySealed(pgno uint32, page []byte) bool {
	if !d.ckpt {
		return false
	}
	t, ok := d.handed[pgno]
	if !ok || t != [pagecrypt.Overhead]byte(page[len(page)-pagecrypt.Overhead:]) {
		return false
	}
	delete(d.handed, pgno)
	return true
}

// CheckpointStart and CheckpointDone bracket the copy of WAL frames into
// the database (SQLITE_FCNTL_CKPT_START/DONE).
func (d *dbFile) CheckpointStart() {
	d.ckpt = true
	clear(d.handed)
	d.pager.CheckpointStart()
}

func (d *dbFile) CheckpointDone() {
	d.ckpt = false
	clear(d.handed)
	d.pager.CheckpointDone()
}

// page1 returns a copy of page 1 whose first 16 bytes are the file magic
// and the key check, ready to seal with a plaintext prefix.
func (d *dbFile) page1(p []byte) []byte {
	if cap(d.page1buf) < len(p) {
		d.page1buf = make([]byte, len(p))
	}
	c := d.page1buf[:len(p)]
	copy(c, p)
	d.cipher.PutFileHeader(c)
	return c
}

// Pragma refuses page size changes once the database exists: the pages
// already written could no longer be found.
func (d *dbFile) Pragma(name, value string) (string, error) {
	if name == "page_size" && value != "" && d.pageSize != 0 {
		return "", nil // handled: the change is ignored
	}
	return vfsutil.WrapPragma(d.File, name, value)
}
