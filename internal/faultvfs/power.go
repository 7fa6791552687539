package faultvfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ncruces/go-sqlite3/vfs"
)

// Mode is what a power loss does to the writes made after a file's last
// successful sync.
type Mode int

const (
	Discard Mode = iota // every write (and truncate) after a file's last successful Sync is lost
	Reorder             // a random subset of the unsynced writes survives, in any order
	Tear                // as Reorder, and a surviving write may keep only some of its 512-byte sectors (PowerLoss.Sector)
)

func (m Mode) String() string {
	switch m {
	case Discard:
		return "discard"
	case Reorder:
		return "reorder"
	case Tear:
		return "tear"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// SectorSize is the default granularity of a torn write: a write survives
// [Tear] whole, or only some of the sectors it covers (the file divided
// in sectors from its start).
const SectorSize = 512

// PowerLoss says what the disk holds after the power is cut.
type PowerLoss struct {
	Mode Mode
	Seed uint64 // PRNG seed for Reorder and Tear (reproducible)
	// Sector is the unit the storage writes atomically, for Tear: a power
	// of two; 0 means SectorSize (512). Storage that writes whole 4 KiB
	// pages atomically is Sector 4096.
	Sector int
}

// Report says what [VFS.Restore] did.
type Report struct {
	Files   int // files with unsynced writes or truncates
	Pending int // unsynced writes and truncates found
	Lost    int // of them, undone
	Kept    int // of them, kept (whole or torn)
	Torn    int // of the kept writes, torn: only some of their sectors written
	Skipped int // tracked files deleted, replaced or resized outside the VFS before the cut, left alone
	ShmGone int // -shm files removed
	// Reverted counts the files of the [VFS.SnapshotAtCut] directories put
	// back as they were at the cut: changed, created or removed after it
	// (by the process, which keeps running after the cut, with the os
	// package).
	Reverted int
}

// Errors of [VFS.Restore].
var (
	// ErrOpenFiles: a file of the VFS is still open.
	ErrOpenFiles = errors.New("faultvfs: files still open")
	// ErrMode: an unknown Mode.
	ErrMode = errors.New("faultvfs: unknown power-loss mode")
	// ErrSector: a sector size that is not a power of two.
	ErrSector = errors.New("faultvfs: sector size not a power of two")
)

// change is one unsynced write or truncate of a file.
type change struct {
	off     int64  // write: offset; truncate: the new size (-1: unknown before)
	data    []byte // write: the bytes written
	old     []byte // the bytes replaced (a write) or cut off (a truncate) within oldSize
	oldSize int64
	newSize int64 // size after the change
	trunc   bool
}

// track is what a tracked file went through since its last sync.
type track struct {
	info    os.FileInfo // the file tracked (a later file under the name is another)
	size    int64       // the file's size after its last change through the VFS
	changes []change
}

// power is the tracking state of a VFS.
type power struct {
	mu       sync.Mutex
	on       bool
	tracks   map[string]*track
	dbs      map[string]bool // main databases opened: their -shm is volatile
	handles  int             // open files
	snapDirs []string        // SnapshotAtCut
	onCut    func()          // OnCut
	snap     *snapshot       // taken at the cut
	dropped  int64           // writes and truncates undone by failed syncs (DropOnSyncError)
}

// SnapshotAtCut makes the next power cut copy every file under each of
// dirs (contents, and which files and directories exist) as it is on disk
// at that instant; [VFS.Restore] then puts the directories back to that
// copy before it undoes the unsynced writes. The process keeps running
// after the cut, and what it does with the os package (rewriting a key
// header, removing the leftovers of a failed operation) would otherwise
// reach the disk with the machine off. The snapshot is taken while no
// write, truncate or sync through the VFS is under way; an os-level write
// running at the very instant of the cut may be copied half done, as a
// real power loss could leave it. It applies to one cut: Restore forgets
// the directories.
func (v *VFS) SnapshotAtCut(dirs ...string) {
	p := &v.power
	p.mu.Lock()
	p.snapDirs = slices.Clone(dirs)
	p.mu.Unlock()
}

// OnCut makes the next power cut call fn (after the snapshot of
// [VFS.SnapshotAtCut]), in the goroutine whose call cut the power: to
// cancel the workload's context, say. fn must not call the VFS. nil
// removes it; Restore forgets it.
func (v *VFS) OnCut(fn func()) {
	p := &v.power
	p.mu.Lock()
	p.onCut = fn
	p.mu.Unlock()
}

// Dropped returns the writes and truncates undone at once by syncs that
// failed under [Fault].DropOnSyncError.
func (v *VFS) Dropped() int64 {
	p := &v.power
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// atCut runs once the power is cut: the snapshot, then the OnCut function.
func (v *VFS) atCut() {
	p := &v.power
	p.mu.Lock() // waits for a write, truncate or sync under way
	if len(p.snapDirs) > 0 && p.snap == nil {
		p.snap = takeSnapshot(p.snapDirs, p.tracks)
	}
	fn := p.onCut
	p.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// open returns the number of open files.
func (p *power) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handles
}

// Track turns the recording of unsynced writes on or off. Turning it off
// forgets what was recorded.
func (v *VFS) Track(on bool) {
	p := &v.power
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = on
	if !on {
		p.tracks = nil
	}
}

// opened counts a new handle of name and says whether it is tracked.
func (p *power) opened(name string, flags vfs.OpenFlag) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handles++
	if flags&vfs.OPEN_MAIN_DB != 0 {
		if p.dbs == nil {
			p.dbs = map[string]bool{}
		}
		p.dbs[name] = true
	}
	if !p.on {
		return false
	}
	if t := p.tracks[name]; t != nil {
		if fi, err := os.Stat(name); err != nil || !os.SameFile(fi, t.info) {
			delete(p.tracks, name) // another file now has the name
		}
	}
	return true
}

func (p *power) closed() {
	p.mu.Lock()
	p.handles--
	p.mu.Unlock()
}

// forget drops the record of a deleted file.
func (p *power) forget(name string) {
	p.mu.Lock()
	delete(p.tracks, name)
	p.mu.Unlock()
}

// trackOf returns name's record, creating it; p.mu is held. nil when the
// file cannot be identified.
func (p *power) trackOf(name string) *track {
	if t := p.tracks[name]; t != nil {
		return t
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil
	}
	if p.tracks == nil {
		p.tracks = map[string]*track{}
	}
	t := &track{info: fi, size: fi.Size()}
	p.tracks[name] = t
	return t
}

// write carries out f's write, recording it when tracking.
func (p *power) write(f *file, data []byte, off int64) (int, error) {
	p.mu.Lock()
	if !p.on || f.name == "" {
		p.mu.Unlock()
		return f.File.WriteAt(data, off)
	}
	defer p.mu.Unlock()
	if f.v.off.Load() { // cut while waiting: not carried out
		return 0, f.pathErr("write", syscall.EIO)
	}
	size, err := f.File.Size()
	if err != nil {
		return 0, err
	}
	old, err := readRange(f.File, off, min(off+int64(len(data)), size))
	if err != nil {
		return 0, err
	}
	n, err := f.File.WriteAt(data, off)
	if n > 0 {
		if t := p.trackOf(f.name); t != nil {
			t.changes = append(t.changes, change{
				off: off, data: slices.Clone(data[:n]), old: old,
				oldSize: size, newSize: max(size, off+int64(n)),
			})
			t.size = max(size, off+int64(n))
		}
	}
	return n, err
}

// truncate carries out do, a truncate to size (-1: a size hint, whose
// result is read back), recording it when tracking.
func (p *power) truncate(f *file, size int64, do func() error) error {
	p.mu.Lock()
	if !p.on || f.name == "" {
		p.mu.Unlock()
		return do()
	}
	defer p.mu.Unlock()
	if f.v.off.Load() {
		return f.pathErr("truncate", syscall.EIO)
	}
	oldSize, err := f.File.Size()
	if err != nil {
		return err
	}
	var old []byte
	if size >= 0 && size < oldSize {
		if old, err = readRange(f.File, size, oldSize); err != nil {
			return err
		}
	}
	if err := do(); err != nil {
		return err
	}
	newSize, err := f.File.Size()
	if err != nil {
		return err
	}
	if newSize != oldSize {
		if t := p.trackOf(f.name); t != nil {
			t.changes = append(t.changes, change{
				trunc: true, off: newSize, old: old, oldSize: oldSize, newSize: newSize,
			})
			t.size = newSize
		}
	}
	return nil
}

// sync carries out f's sync; once it succeeds, every recorded change of
// the file is durable.
func (p *power) sync(f *file, flags vfs.SyncFlag) error {
	p.mu.Lock()
	if !p.on || f.name == "" {
		p.mu.Unlock()
		return f.File.Sync(flags)
	}
	defer p.mu.Unlock()
	if f.v.off.Load() {
		return syscall.EIO
	}
	if err := f.File.Sync(flags); err != nil {
		return err
	}
	if t := p.tracks[f.name]; t != nil {
		t.changes = nil
	}
	return nil
}

// drop undoes f's file's writes and truncates since its last successful
// sync: a sync of it failed under DropOnSyncError.
func (p *power) drop(f *file) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tracks[f.name]
	if !p.on || t == nil || len(t.changes) == 0 {
		return
	}
	changes := t.changes
	t.changes = nil
	if fi, err := os.Stat(f.name); err != nil || !os.SameFile(fi, t.info) || fi.Size() != t.size {
		return // changed outside the VFS: left alone, as Restore does
	}
	var rep Report
	if err := restoreFile(f.name, changes, Discard, SectorSize, nil, &rep); err != nil {
		return
	}
	t.size = changes[0].oldSize
	p.dropped += int64(rep.Lost)
}

// readRange reads the bytes [from, to) of f (nil if empty).
func readRange(f vfs.File, from, to int64) ([]byte, error) {
	if to <= from {
		return nil, nil
	}
	b := make([]byte, to-from)
	n, err := f.ReadAt(b, from)
	if n == len(b) {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// Restore simulates the power loss after the power was cut and every
// handle of the VFS closed: it puts the directories of
// [VFS.SnapshotAtCut] back as they were at the cut, rewrites each tracked
// file to what the disk would hold (per p.Mode), removes the -shm of every
// database opened (the WAL index lives in volatile memory), forgets the
// records, the snapshot and the OnCut function, and lets calls through
// again. Tracking stays as it was; a pending CutPowerAt is cancelled. It returns [ErrOpenFiles], changing nothing, while a handle
// is open.
func (v *VFS) Restore(pl PowerLoss) (Report, error) {
	if pl.Mode < Discard || pl.Mode > Tear {
		return Report{}, ErrMode
	}
	sector := int64(pl.Sector)
	if sector == 0 {
		sector = SectorSize
	}
	if sector < 0 || sector&(sector-1) != 0 {
		return Report{}, ErrSector
	}
	p := &v.power
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handles > 0 {
		return Report{}, fmt.Errorf("%w: %d", ErrOpenFiles, p.handles)
	}
	var rep Report
	var firstErr error
	snap := p.snap
	if snap != nil {
		if err := snap.restore(&rep); err != nil {
			firstErr = err
		}
	}
	rng := rand.New(rand.NewPCG(pl.Seed, pl.Seed^0x5851f42d4c957f2d))
	names := make([]string, 0, len(p.tracks))
	for name := range p.tracks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := p.tracks[name]
		if len(t.changes) == 0 {
			continue
		}
		var outside bool
		if snap != nil && snap.covers(name) {
			outside = snap.skip[name] // as it was at the cut
		} else {
			fi, err := os.Stat(name)
			outside = err != nil || !os.SameFile(fi, t.info) || fi.Size() != t.size
		}
		if outside {
			// Deleted, replaced, or changed outside the VFS (with the
			// os package) after its last change through it: what was
			// done outside stays, as durable as a directory entry.
			rep.Skipped++
			continue
		}
		rep.Files++
		rep.Pending += len(t.changes)
		if err := restoreFile(name, t.changes, pl.Mode, sector, rng, &rep); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	dbs := make([]string, 0, len(p.dbs))
	for name := range p.dbs {
		dbs = append(dbs, name)
	}
	slices.Sort(dbs)
	for _, name := range dbs {
		if err := os.Remove(name + "-shm"); err == nil {
			rep.ShmGone++
		} else if !errors.Is(err, os.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	p.tracks, p.dbs = nil, nil
	p.snap, p.snapDirs, p.onCut = nil, nil, nil
	v.mu.Lock()
	v.cutN = 0
	v.mu.Unlock()
	v.off.Store(false)
	return rep, firstErr
}

// restoreFile undoes every change of the file (newest first), back to its
// last synced state, then, for Reorder and Tear, plays a random subset of
// them again in random order.
func restoreFile(name string, changes []change, mode Mode, sector int64, rng *rand.Rand, rep *Report) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if c.trunc {
			if err := f.Truncate(c.oldSize); err != nil {
				return err
			}
			if len(c.old) > 0 {
				if _, err := f.WriteAt(c.old, c.off); err != nil {
					return err
				}
			}
			continue
		}
		if len(c.old) > 0 {
			if _, err := f.WriteAt(c.old, c.off); err != nil {
				return err
			}
		}
		if c.newSize > c.oldSize {
			if err := f.Truncate(c.oldSize); err != nil {
				return err
			}
		}
	}
	kept := 0
	if mode != Discard {
		order := rng.Perm(len(changes))
		for _, i := range order {
			if rng.IntN(2) == 0 {
				continue
			}
			c := changes[i]
			kept++
			if c.trunc {
				if err := f.Truncate(c.newSize); err != nil {
					return err
				}
				continue
			}
			if mode == Tear && rng.IntN(2) == 0 {
				if torn, err := tear(f, c, sector, rng); err != nil {
					return err
				} else if torn {
					rep.Torn++
					continue
				}
			}
			if _, err := f.WriteAt(c.data, c.off); err != nil {
				return err
			}
		}
	}
	rep.Kept += kept
	rep.Lost += len(changes) - kept
	return f.Sync()
}

// tear writes a random subset of the sectors c's write covers, at least
// one and not all (any of them: a disk may persist any of the sectors of
// an interrupted write), and reports whether the write spans more than
// one sector; when it does not, it writes nothing.
func tear(f *os.File, c change, sector int64, rng *rand.Rand) (bool, error) {
	end := c.off + int64(len(c.data))
	var bounds []int64 // the starts of the write's pieces, one per sector
	for at := c.off; at < end; at = (at/sector + 1) * sector {
		bounds = append(bounds, at)
	}
	if len(bounds) < 2 {
		return false, nil
	}
	keep := make([]bool, len(bounds))
	kept := 0
	for i := range keep {
		if keep[i] = rng.IntN(2) == 0; keep[i] {
			kept++
		}
	}
	switch kept {
	case 0:
		keep[rng.IntN(len(keep))] = true
	case len(keep):
		keep[rng.IntN(len(keep))] = false
	}
	for i, at := range bounds {
		if !keep[i] {
			continue
		}
		to := end
		if i+1 < len(bounds) {
			to = bounds[i+1]
		}
		if _, err := f.WriteAt(c.data[at-c.off:to-c.off], at); err != nil {
			return true, err
		}
	}
	return true, nil
}

// snapshot is the files of some directories as they were on disk at the
// power cut.
type snapshot struct {
	roots []string
	dirs  map[string]bool
	files map[string]snapFile
	skip  map[string]bool // tracked files deleted, replaced or resized outside the VFS before the cut
	err   error
}

type snapFile struct {
	data []byte
	mode fs.FileMode
}

// takeSnapshot copies the files under roots and notes which tracked files
// were changed outside the VFS before the cut.
func takeSnapshot(roots []string, tracks map[string]*track) *snapshot {
	s := &snapshot{roots: roots, dirs: map[string]bool{}, files: map[string]snapFile{}, skip: map[string]bool{}}
	for name, t := range tracks {
		if len(t.changes) == 0 {
			continue
		}
		if fi, err := os.Stat(name); err != nil || !os.SameFile(fi, t.info) || fi.Size() != t.size {
			s.skip[name] = true
		}
	}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking: gone at the cut
				}
				return err
			}
			if d.IsDir() {
				s.dirs[path] = true
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			} else if err != nil {
				return err
			}
			mode := fs.FileMode(0o600)
			if fi, err := d.Info(); err == nil {
				mode = fi.Mode().Perm()
			}
			s.files[path] = snapFile{data: data, mode: mode}
			return nil
		})
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("faultvfs: snapshot at the cut: %w", err)
		}
	}
	return s
}

// covers reports whether name lies under one of the snapshot's roots.
func (s *snapshot) covers(name string) bool {
	for _, root := range s.roots {
		if rel, err := filepath.Rel(root, name); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// restore puts the snapshot's directories back as they were at the cut.
func (s *snapshot) restore(rep *Report) error {
	if s.err != nil {
		return s.err
	}
	// What exists now but did not at the cut goes.
	var extraFiles, extraDirs []string
	for _, root := range s.roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if !s.dirs[path] {
					extraDirs = append(extraDirs, path)
					return fs.SkipDir
				}
				return nil
			}
			if _, ok := s.files[path]; !ok {
				extraFiles = append(extraFiles, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("faultvfs: restore the snapshot: %w", err)
		}
	}
	for _, path := range extraFiles {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("faultvfs: restore the snapshot: %w", err)
		}
		rep.Reverted++
	}
	for _, path := range extraDirs {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("faultvfs: restore the snapshot: %w", err)
		}
		rep.Reverted++
	}
	dirs := slices.Sorted(maps.Keys(s.dirs))
	for _, path := range dirs {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return fmt.Errorf("faultvfs: restore the snapshot: %w", err)
		}
	}
	names := slices.Sorted(maps.Keys(s.files))
	for _, path := range names {
		sf := s.files[path]
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, sf.data) {
			continue
		}
		// Rewritten in place when the file exists, so that it keeps its
		// identity.
		if err := os.WriteFile(path, sf.data, sf.mode); err != nil {
			return fmt.Errorf("faultvfs: restore the snapshot: %w", err)
		}
		rep.Reverted++
	}
	return nil
}
