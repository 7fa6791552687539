package sqlitevfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

// A CheckReport is what [CheckFiles] found in a database's files.
//
// When nothing writes the files during the check, every page image of
// the database file and every frame of the WAL's current generation is
// counted in exactly one of Pages, Superseded, Frames, Uncommitted or
// Damaged, and frames of older generations in Stale; beside writers the
// counts are those of the WAL as last scanned.
type CheckReport struct {
	// PageSize is the database's page size.
	PageSize int
	// Pages counts the database file's pages that authenticated.
	Pages int64
	// Superseded counts database pages that failed authentication (or
	// were never written: all zeros) while a committed frame of the WAL
	// holds a newer image of the same page. SQLite reads the frame, never
	// that image, and the next checkpoint overwrites it: a crash or a
	// checkpoint in progress leaves such pages, so they are not damage.
	Superseded int64
	// Frames counts the WAL frames of the current generation up to its
	// last valid commit that authenticated: the log SQLite uses.
	Frames int64
	// Uncommitted counts the frames of the current generation after the
	// last valid commit: a transaction in progress, one rolled back, or a
	// write a crash tore. SQLite ignores them; they are not damage, as far
	// as the files alone tell (see CheckFiles on the WAL index).
	Uncommitted int64
	// Stale counts the frames of older WAL generations (other salts), left
	// behind when SQLite restarted the log from its start. SQLite ignores
	// them; they are not damage.
	Stale int64
	// Damaged lists, in file order (database first), every database page
	// and WAL frame that failed authentication where it counts: Kind "db"
	// or "wal", the SQLite page number (from the frame header for a
	// frame), and the file offset of the page image or frame. Err wraps
	// [ErrAuth] for an image that does not open and [ErrWALDamaged] for a
	// frame whose header or checksum was altered; a WAL frame's error
	// names its frame number, counted from 1.
	Damaged []*PageError
}

// OK reports whether r found no damage.
func (r *CheckReport) OK() bool { return len(r.Damaged) == 0 }

// A CheckOption configures [CheckFiles].
type CheckOption func(*checkConfig)

type checkConfig struct {
	progress func(done, total int64)
}

// CheckProgress makes [CheckFiles] call fn as it goes, with the bytes
// checked so far and the total to check (the sizes of the database and
// its WAL), from the calling goroutine. The last call has done == total.
func CheckProgress(fn func(done, total int64)) CheckOption {
	return func(c *checkConfig) { c.progress = fn }
}

// Reading and re-reading.
const (
	checkChunk   = 256 << 10 // bytes read at a time from the database
	checkRetries = 3         // re-reads of an image that failed, for writers racing the check
	checkWait    = 2 * time.Millisecond
	checkRescans = 3 // scans of a WAL restarted while it was scanned
)

// CheckFiles authenticates every page of the encrypted database at path
// and every frame of its WAL (path + "-wal"), given the database's data
// key, without SQLite and without changing or creating any file. It
// reads the files as they are, so it works on a closed store as well as
// on one that other connections and processes are using: an image that
// fails while one of them may be rewriting it is read again before it
// is reported.
//
// The WAL is judged as SQLite's recovery and this package's (see the
// package doc) judge it: its frames are authenticated, and their
// checksums unmasked and chained, from the WAL header on. Frames after
// the last valid commit and frames of older generations are counted, not
// reported. A frame that breaks the chain is reported damaged when
// intact frames of a later transaction follow it (as recovery reports
// ErrWALDamaged), and the check goes on after it; otherwise the log ends
// there, as a torn tail.
//
// The WAL index (path + "-shm") is not read. Beside a live writer it says
// which frames are committed, and a frame of the log's last transaction
// that fails is then damage, where CheckFiles sees a torn tail; but the
// index is not authenticated, and one left by a process that died with
// its machine (the index and the WAL reach the disk in no set order) can
// claim frames that were never written, which SQLite discards when it
// rebuilds the index on the next open. Telling a live index from a stale
// one takes the locks of a reader; a caller that holds them, or runs a
// reader that does, learns from that reader which committed frames fail
// (host's Verify reports the frame its integrity check fails on).
//
// Damage is reported in the returned CheckReport, with a nil error. The
// error is for what keeps the check from running: a missing database (an
// error wrapping [fs.ErrNotExist]), a file that is not an encrypted
// database of this package ([ErrNotEncrypted]), a key of the wrong size,
// a key the files were not sealed with ([ErrWrongKey]: the database's
// key check differs, or the database is empty, and none of its first
// pages and WAL frames opens with the key), a read
// error, or ctx's error. A key check that differs while pages open with
// the key is damage to page 1. Errors never hold key material.
func CheckFiles(ctx context.Context, path string, key []byte, opts ...CheckOption) (*CheckReport, error) {
	var cfg checkConfig
	for _, o := range opts {
		o(&cfg)
	}
	c, err := pagecrypt.New(key)
	if err != nil {
		return nil, errKeySize
	}
	db, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitevfs: check %s: %w", path, err)
	}
	defer db.Close()
	wal, err := os.Open(path + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		wal = nil
	} else if err != nil {
		return nil, fmt.Errorf("sqlitevfs: check %s: %w", path, err)
	} else {
		defer wal.Close()
	}
	ck := &checker{ctx: ctx, cfg: cfg, cipher: c, path: path, db: db, wal: wal}
	return ck.run()
}

// checker is one run of CheckFiles.
type checker struct {
	ctx    context.Context
	cfg    checkConfig
	cipher *pagecrypt.Cipher
	path   string
	db     *os.File
	wal    *os.File // nil: no WAL

	pageSize   int
	dbState    fileState // at the start of the check
	walState   fileState
	dbSize     int64
	walSize    int64
	done       int64
	lastReport int64

	rep    CheckReport
	walDmg []*PageError
	dbDmg  []*PageError
	// inLog holds the page numbers of the WAL's committed frames: newer
	// images of database pages (see Superseded).
	inLog map[uint32]bool
}

func (k *checker) run() (*CheckReport, error) {
	var err error
	if k.dbState, err = stateOf(k.db); err != nil {
		return nil, k.wrap(err)
	}
	k.dbSize = k.dbState.size
	if k.wal != nil {
		if k.walState, err = stateOf(k.wal); err != nil {
			return nil, k.wrap(err)
		}
		k.walSize = k.walState.size
	}
	var hdr [headerSize]byte
	n, err := readAt(k.db, hdr[:], 0)
	if err != nil && err != io.EOF {
		return nil, k.wrap(err)
	}
	keyOK := true
	switch {
	case n == 0:
		// Empty: a new database whose pages are all in the WAL so far.
	case n < headerSize, string(hdr[:len(fileMagic)]) != fileMagic:
		return nil, k.wrap(notADBError{ErrNotEncrypted})
	default:
		keyOK = k.cipher.HasKeyCheck(hdr[:])
		k.pageSize = headerPageSize(hdr[:])
	}
	var walHdr [walHeaderSize]byte
	walPageSize := 0
	if k.walSize >= walHeaderSize {
		if _, err := readAt(k.wal, walHdr[:], 0); err != nil {
			return nil, k.wrap(err)
		}
		if magic := binary.BigEndian.Uint32(walHdr[0:4]); magic == 0x377f0682 || magic == 0x377f0683 {
			if size := int(binary.BigEndian.Uint32(walHdr[8:12])); validPageSize(size) {
				walPageSize = size
			}
		}
	}
	if k.pageSize == 0 || hdr[20] != ReserveBytes {
		// Page 1's plaintext prefix holds no usable page size: empty, or
		// damaged (it is authenticated with page 1, which then fails).
		k.pageSize = walPageSize
		if k.pageSize == 0 && n > 0 {
			k.pageSize = k.guessPageSize()
		}
		if k.pageSize == 0 {
			if n == 0 {
				return &k.rep, nil // no database yet, no WAL frames
			}
			return nil, k.wrap(notADBError{ErrNotEncrypted})
		}
	}
	if n > 0 && !k.page1Opens() {
		// A damaged page size in page 1's prefix: trust the size page
		// 2 opens under, if any.
		if size := k.guessPageSize(); size != 0 {
			k.pageSize = size
		}
	}
	k.rep.PageSize = k.pageSize
	if n == 0 && walPageSize == k.pageSize && k.frameCount() > 0 {
		keyOK = false // no key check to read: the frames tell
	}
	if !keyOK && !k.anyOpens() {
		return nil, k.wrap(ErrWrongKey)
	}

	// The WAL first: its committed frames say which database pages are
	// superseded. Its scan is repeated if SQLite restarted the log
	// meanwhile (the salts in its header changed), and if the log changed
	// during a scan that found damage: a writer that overwrote frames of
	// its transaction in place rewrites their checksums when it commits,
	// and a scan that read such a frame before the commit and the frames
	// after it later would call it damaged. Only damage found again by
	// the next scan, or by a scan during which the log did not change,
	// is reported.
	if k.wal != nil && walPageSize == k.pageSize {
		var earlier []*PageError // damage the scan before found
		again := false
		for scan := 0; ; scan++ {
			start := k.walState
			if scan > 0 {
				if start, err = stateOf(k.wal); err != nil {
					return nil, k.wrap(err)
				}
				k.walState, k.walSize = start, start.size
			}
			if err := k.checkWAL(walHdr); err != nil {
				return nil, err
			}
			stable := !k.changed(k.wal, start)
			if again && !stable {
				k.walDmg = sameFrames(k.walDmg, earlier)
			}
			var hdr [walHeaderSize]byte
			if _, err := readAt(k.wal, hdr[:], 0); err != nil && err != io.EOF {
				return nil, k.wrap(err)
			}
			if scan == checkRescans {
				break
			}
			if hdr != walHdr {
				walHdr, again = hdr, false // a new log: start over
				continue
			}
			if stable || len(k.walDmg) == 0 {
				break
			}
			earlier, again = k.walDmg, true
		}
	} else {
		k.rep.Stale = k.frameCount() // a log SQLite would ignore whole
	}
	k.progress(k.walSize, false)
	if err := k.checkDB(); err != nil {
		return nil, err
	}
	k.rep.Damaged = append(k.dbDmg, k.walDmg...)
	k.progress(0, true)
	return &k.rep, nil
}

// wrap returns err as an error of the check of k's database.
func (k *checker) wrap(err error) error {
	return fmt.Errorf("sqlitevfs: check %s: %w", k.path, err)
}

// progress records n more bytes checked and reports progress, at most
// every 1 MiB and at the end (final), where done and total are equal
// whatever the files did meanwhile.
func (k *checker) progress(n int64, final bool) {
	k.done += n
	if k.cfg.progress == nil || !final && k.done-k.lastReport < 1<<20 {
		return
	}
	total := max(k.dbSize+k.walSize, k.done)
	if final {
		total = k.done
	}
	k.lastReport = k.done
	k.cfg.progress(k.done, total)
}

// guessPageSize returns the page size under which page 2 of the database
// opens with the key, or 0: for a page 1 whose plaintext prefix is
// damaged and no WAL to learn the size from.
func (k *checker) guessPageSize() int {
	for size := 512; size <= 65536; size *= 2 {
		if k.dbSize < 2*int64(size) {
			break
		}
		page := make([]byte, size)
		if _, err := readAt(k.db, page, int64(size)); err != nil {
			return 0
		}
		ad := associated(kindDB, 2)
		if k.cipher.OpenScratch(page, page, 0, ad[:]) == nil {
			return size
		}
	}
	return 0
}

// page1Opens reports whether page 1 opens with the key under the page
// size k has.
func (k *checker) page1Opens() bool {
	page := make([]byte, k.pageSize)
	if _, err := readAt(k.db, page, 0); err != nil {
		return false
	}
	return k.opens(page, make([]byte, k.pageSize), 1)
}

// anyOpens reports whether one of the first database pages after page 1,
// or one of the first WAL frames, opens with the key: the key is the
// right one even though the database's key check differs (page 1 is then
// damaged).
func (k *checker) anyOpens() bool {
	size := int64(k.pageSize)
	page := make([]byte, k.pageSize)
	for pgno := int64(2); pgno <= 9 && pgno*size <= k.dbSize; pgno++ {
		if _, err := readAt(k.db, page, (pgno-1)*size); err != nil {
			break
		}
		ad := associated(kindDB, uint32(pgno))
		if k.cipher.OpenScratch(page, page, 0, ad[:]) == nil {
			return true
		}
	}
	frame := make([]byte, walFrameHeaderSize+k.pageSize)
	for i := int64(0); i < 8; i++ {
		off := walHeaderSize + i*int64(len(frame))
		if off+int64(len(frame)) > k.walSize {
			break
		}
		if _, err := readAt(k.wal, frame, off); err != nil {
			break
		}
		ad := walAD(frame)
		if k.cipher.OpenScratch(frame[walFrameHeaderSize:], frame[walFrameHeaderSize:], 0, ad[:]) == nil {
			return true
		}
	}
	return false
}

// frameCount is the number of whole frames in the WAL.
func (k *checker) frameCount() int64 {
	if k.walSize < walHeaderSize || k.pageSize == 0 {
		return 0
	}
	return (k.walSize - walHeaderSize) / int64(walFrameHeaderSize+k.pageSize)
}

// checkDB authenticates every page of the database file.
func (k *checker) checkDB() error {
	size := int64(k.pageSize)
	pages := k.dbSize / size
	per := max(1, checkChunk/k.pageSize)
	buf := make([]byte, per*k.pageSize)
	plain := make([]byte, k.pageSize)
	for first := int64(0); first < pages; first += int64(per) {
		if err := k.ctx.Err(); err != nil {
			return err
		}
		count := min(int64(per), pages-first)
		chunk := buf[:count*size]
		n, err := readAt(k.db, chunk, first*size)
		if err != nil && err != io.EOF {
			return k.wrap(err)
		}
		for i := int64(0); i < count; i++ {
			off := (first + i) * size
			pgno := uint32(first+i) + 1
			var image []byte
			if (i+1)*size <= int64(n) {
				image = chunk[i*size : (i+1)*size]
			}
			if err := k.checkPage(image, plain, pgno, off); err != nil {
				return err
			}
		}
		k.progress(count*size, false)
	}
	if rest := k.dbSize - pages*size; rest > 0 {
		// A partial last page: torn by a crash while the file grew, or cut.
		off := pages * size
		pgno := uint32(pages) + 1
		if k.inLog[pgno] {
			k.rep.Superseded++
		} else {
			k.dbDmg = append(k.dbDmg, &PageError{File: k.path, Kind: kindNames[kindDB], Page: pgno, Offset: off, Err: io.ErrUnexpectedEOF})
		}
		k.progress(rest, false)
	}
	return nil
}

// checkPage checks the database page pgno at off, whose image as first
// read is image (nil: the read came up short).
func (k *checker) checkPage(image, plain []byte, pgno uint32, off int64) error {
	for try := 0; ; try++ {
		if image != nil && k.opens(image, plain, pgno) {
			k.rep.Pages++
			return nil
		}
		if k.inLog[pgno] {
			k.rep.Superseded++
			return nil
		}
		if try == checkRetries || !k.changed(k.db, k.dbState) {
			break
		}
		// A writer (a checkpoint) is changing the file and may be
		// rewriting the page: read it again before calling it damaged.
		time.Sleep(checkWait)
		fresh := make([]byte, k.pageSize)
		if _, err := readAt(k.db, fresh, off); err != nil {
			if err == io.EOF {
				return nil // the file shrank meanwhile: the page is gone
			}
			return k.wrap(err)
		}
		image = fresh
	}
	var err error = ErrAuth
	if image == nil {
		err = io.ErrUnexpectedEOF
	}
	k.dbDmg = append(k.dbDmg, &PageError{File: k.path, Kind: kindNames[kindDB], Page: pgno, Offset: off, Err: err})
	return nil
}

// opens reports whether the database image of page pgno opens with the
// key. image is left as it was.
func (k *checker) opens(image, plain []byte, pgno uint32) bool {
	skip := 0
	if pgno == 1 {
		skip = headerSize
	}
	ad := associated(kindDB, pgno)
	return k.cipher.Open(plain, image, skip, ad[:]) == nil
}

// checkWAL checks the WAL whose header is hdr, from the start: it sets
// the report's frame counts, k.walDmg and k.inLog.
func (k *checker) checkWAL(hdr [walHeaderSize]byte) error {
	k.rep.Frames, k.rep.Uncommitted, k.rep.Stale = 0, 0, 0
	k.walDmg = nil
	k.inLog = make(map[uint32]bool)
	w := newWALFile(pager{File: readOnlyFile{f: k.wal}, cipher: k.cipher, path: k.path + "-wal"}, nil)
	w.pageSize = k.pageSize
	magic := binary.BigEndian.Uint32(hdr[0:4])
	r := &recovery{bigEndian: magic&1 == 1}
	copy(r.salts[:], hdr[16:24])
	headerSum := [2]uint32{binary.BigEndian.Uint32(hdr[24:28]), binary.BigEndian.Uint32(hdr[28:32])}
	frames := k.frameCount()
	size := int64(w.frameSize())
	if walChecksum(r.bigEndian, [2]uint32{}, hdr[:24]) != headerSum {
		// SQLite ignores every frame. Recovery reports the header
		// damaged when the frames after it prove it was intact.
		if frames > 0 {
			var first [walFrameHeaderSize]byte
			if _, err := readAt(k.wal, first[:], walHeaderSize); err != nil {
				return k.wrap(err)
			}
			copy(r.salts[:], first[8:16])
			if r.damaged(w, walHeaderSize, true) {
				k.walDmg = append(k.walDmg, &PageError{File: w.path, Kind: kindNames[kindWAL], Offset: 0, Err: fmt.Errorf("%w (header)", ErrWALDamaged)})
			}
		}
		k.rep.Stale = frames
		return nil
	}

	frame := make([]byte, size)
	prev := make([]byte, size) // the raw frame before, while chained
	plain := make([]byte, k.pageSize)
	sum := headerSum
	chained := true // frames so far continue the checksum from the header
	havePrev := false
	// After a damaged frame, the next frame starts a chain on its own:
	// its image opens, but its header and checksum are authenticated only
	// once the frame after it links to it. start is its index, -1 once
	// it is authenticated.
	start := int64(-1)
	var pending []uint32 // page numbers of the frames since the last commit
	var pendingFrames int64
	next := make([]byte, size)
	dmgRaw := make([]byte, size) // the last frame reported damaged
	nextPlain := make([]byte, k.pageSize)
	for i := int64(0); i < frames; i++ {
		if i%64 == 0 {
			if err := k.ctx.Err(); err != nil {
				return err
			}
		}
		off := walHeaderSize + i*size
		if _, err := readAt(k.wal, frame, off); err != nil {
			if err == io.EOF {
				break // the log was truncated meanwhile
			}
			return k.wrap(err)
		}
		current := [8]byte(frame[8:16]) == r.salts
		valid, opened := false, false
		if current {
			valid, opened = k.frameValid(w, r, frame, off, plain, prev, havePrev, chained, &sum)
		}
		if !valid && opened && !chained && havePrev && start == i-1 {
			// Frame i opens but does not link to the chain's first
			// frame, whose header is not authenticated yet: one of the
			// two headers (or checksums) is not authentic. If the frame
			// after i links to i, i's is, and the first frame's is
			// not. If the first frame links back to the damaged frame
			// before it (whose image alone was damaged), the first
			// frame's header is authentic and frame i is the damaged
			// one. Otherwise nothing tells which: neither is reported,
			// and frame i starts the chain anew.
			resolved := false
			if _, err := readAt(k.wal, next, off+size); err == nil && i+1 < frames {
				if linked, _ := r.links(w, frame, off, next, off+size, nextPlain); linked && k.provenDamaged(w, r, off-size) {
					resolved = true
					k.walDmg = append(k.walDmg, &PageError{
						File: w.path, Kind: kindNames[kindWAL], Page: binary.BigEndian.Uint32(prev[0:4]), Offset: off - size,
						Err: fmt.Errorf("%w (frame %d)", ErrWALDamaged, i),
					})
					// Take it back from the frames counted valid.
					if binary.BigEndian.Uint32(prev[4:8]) != 0 {
						k.rep.Frames--
					} else {
						pending, pendingFrames = pending[:len(pending)-1], pendingFrames-1
					}
					valid = true
				}
			}
			if !resolved {
				if linked, _ := r.links(w, dmgRaw, off-2*size, prev, off-size, nextPlain); !linked {
					valid, havePrev = true, false // a new start
				}
			}
		}
		if valid {
			switch {
			case !chained && !havePrev:
				start = i
			case start >= 0:
				start = -1 // frame i linked to it
			}
			pending = append(pending, binary.BigEndian.Uint32(frame[0:4]))
			pendingFrames++
			if binary.BigEndian.Uint32(frame[4:8]) != 0 {
				for _, p := range pending {
					k.inLog[p] = true
				}
				k.rep.Frames += pendingFrames
				pending, pendingFrames = pending[:0], 0
			}
			copy(prev, frame)
			havePrev = true
			continue
		}
		// Frame i breaks the chain. It is damage if the frames after it
		// prove it was written and synced before (see recovery);
		// otherwise the log ends here and the rest is a tail.
		if k.provenDamaged(w, r, off) {
			// The frames of its transaction before it stay pending:
			// its commit frame may follow.
			cause := ErrWALDamaged // its header or checksum
			if current && !opened {
				cause = ErrAuth
			}
			k.walDmg = append(k.walDmg, &PageError{
				File: w.path, Kind: kindNames[kindWAL], Page: binary.BigEndian.Uint32(frame[0:4]), Offset: off,
				Err: fmt.Errorf("%w (frame %d)", cause, i+1),
			})
			// Go on after it: the next frame starts a chain of its
			// own, whose later frames must link to it.
			copy(dmgRaw, frame)
			chained, havePrev = false, false
			continue
		}
		k.rep.Uncommitted += pendingFrames
		if current {
			k.rep.Uncommitted++
		} else {
			k.rep.Stale++ // another generation: this one ends before it
		}
		for j := i + 1; j < frames; j++ {
			var salts [8]byte
			if _, err := readAt(k.wal, salts[:], walHeaderSize+j*size+8); err != nil {
				break
			}
			if salts == r.salts {
				k.rep.Uncommitted++
			} else {
				k.rep.Stale++
			}
		}
		return nil
	}
	k.rep.Uncommitted += pendingFrames
	return nil
}

// frameValid reports whether the raw frame at off is valid: its image
// opens and its unmasked checksum continues the chain, from *sum (while
// chained: the running checksum since the WAL header, updated) or from
// the raw frame prev before it (havePrev); a frame with neither is the
// first of a chain after a damaged frame and only has to open. It also
// reports whether the image opened.
func (k *checker) frameValid(w *walFile, r *recovery, frame []byte, off int64, plain, prev []byte, havePrev, chained bool, sum *[2]uint32) (valid, opened bool) {
	for try := 0; ; try++ {
		if r.opens(w, frame, plain) {
			opened = true
			var h [walFrameHeaderSize]byte
			copy(h[:], frame)
			w.maskChecksum(h[:], off, frame[len(frame)-pagecrypt.Overhead:])
			switch {
			case chained:
				s := walChecksum(r.bigEndian, *sum, h[:8])
				s = walChecksum(r.bigEndian, s, plain)
				if s == storedChecksum(h[:]) {
					*sum = s
					return true, true
				}
			case havePrev:
				if linked, _ := r.links(w, prev, off-int64(len(frame)), frame, off, plain); linked {
					return true, true
				}
			default:
				return true, true
			}
		}
		if try == checkRetries || !k.changed(k.wal, k.walState) {
			return false, opened
		}
		// A writer is changing the file and may be appending or
		// rewriting the frame.
		time.Sleep(checkWait)
		if _, err := readAt(k.wal, frame, off); err != nil {
			return false, opened
		}
		opened = false
	}
}

// provenDamaged reports whether the frames after the invalid frame at off
// prove it damaged (recovery.damaged).
func (k *checker) provenDamaged(w *walFile, r *recovery, off int64) bool {
	return r.damaged(w, off, false)
}

// sameFrames returns the damage of found at the offsets of earlier.
func sameFrames(found, earlier []*PageError) []*PageError {
	var out []*PageError
	for _, d := range found {
		for _, e := range earlier {
			if d.Offset == e.Offset {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// readOnlyFile gives the WAL checks of recovery a file to read; nothing
// but ReadAt is ever called on it.
type readOnlyFile struct {
	vfs.File // nil
	f        *os.File
}

func (r readOnlyFile) ReadAt(b []byte, off int64) (int, error) { return r.f.ReadAt(b, off) }

// fileState is what tells whether a file was written: its size and
// modification time.
type fileState struct {
	size  int64
	mtime time.Time
}

func stateOf(f *os.File) (fileState, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileState{}, err
	}
	return fileState{fi.Size(), fi.ModTime()}, nil
}

// changed reports whether f was written since it was in state s: only
// then can an image that failed be one a writer was rewriting, worth
// reading again.
func (k *checker) changed(f *os.File, s fileState) bool {
	now, err := stateOf(f)
	return err != nil || now.size != s.size || !now.mtime.Equal(s.mtime)
}

// readAt reads len(b) bytes at off; it returns io.EOF when the file ends
// first.
func readAt(f *os.File, b []byte, off int64) (int, error) {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil {
		err = io.EOF
	}
	return n, err
}
