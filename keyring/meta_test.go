package keyring_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/keyring"
)

// at makes header dates come from a settable clock for the test.
func at(t *testing.T, when *time.Time) {
	t.Helper()
	t.Cleanup(keyring.SetNow(func() time.Time { return *when }))
}

func readHeader(t *testing.T, db string) *keyring.DEKHeader {
	t.Helper()
	h, err := keyring.ReadHeader(db)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func wantTimes(t *testing.T, h *keyring.DEKHeader, created, rewrapped time.Time) {
	t.Helper()
	if !h.Created().Equal(created) || !h.Rewrapped().Equal(rewrapped) {
		t.Errorf("meta %q: created %v rewrapped %v, want %v and %v", h.Metadata, h.Created(), h.Rewrapped(), created, rewrapped)
	}
}

func TestHeaderTimes(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	at(t, &clock)
	t0 := time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC) // UTC, whole seconds

	db, kek := newDB(t), newKEK()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	writeDB(t, db, dek)
	h := readHeader(t, db)
	wantTimes(t, h, t0, time.Time{})
	if h.Source() != "raw" {
		t.Errorf("source %q, want raw", h.Source())
	}
	if h.Created().Location() != time.UTC {
		t.Errorf("created in %v, want UTC", h.Created().Location())
	}

	// Opening changes nothing.
	clock = clock.Add(time.Hour)
	if _, _, err := keyring.LoadOrCreateDEK(db, kek); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, readHeader(t, db), t0, time.Time{})

	// Rotation keeps the creation date and records the rewrap.
	clock = clock.Add(time.Hour)
	t1 := t0.Add(2 * time.Hour)
	kek2 := newKEK()
	if err := keyring.RotateKEK(db, kek, kek2); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, readHeader(t, db), t0, t1)
	// A retry of the same rotation writes nothing.
	clock = clock.Add(time.Hour)
	if err := keyring.RotateKEK(db, kek, kek2); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, readHeader(t, db), t0, t1)

	// An import over a header the local KEK does not open keeps that
	// header's creation date.
	id := newIdentity(t)
	escrow := filepath.Join(t.TempDir(), "e.age")
	if err := keyring.ExportDEK(db, kek2, []byte(id.Recipient().String()), escrow); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	t2 := t0.Add(4 * time.Hour)
	kek3 := newKEK()
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()), kek3); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, readHeader(t, db), t0, t2)

	// Without a header to take it from, the creation date is unknown.
	if err := os.Remove(keyring.HeaderPath(db)); err != nil {
		t.Fatal(err)
	}
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()), kek3); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, readHeader(t, db), time.Time{}, t2)
}

func TestHeaderTimesRekey(t *testing.T) {
	clock := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	at(t, &clock)
	db, kek, rows := newDB(t), newKEK(), rekeyRows(3)
	fillStore(t, db, kek, rows)
	wantTimes(t, readHeader(t, db), clock, time.Time{})
	clock = clock.Add(48 * time.Hour)
	if err := rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	checkStore(t, db, kek, rows)
	wantTimes(t, readHeader(t, db), clock, clock)
}

func TestParseMeta(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		meta               string
		created, rewrapped time.Time
		source             string
	}{
		{"kek=machine", time.Time{}, time.Time{}, "machine"},
		{"", time.Time{}, time.Time{}, ""},
		{"free text", time.Time{}, time.Time{}, ""},
		{"created=2026-01-02T03:04:05Z kek=raw", d("2026-01-02T03:04:05Z"), time.Time{}, "raw"},
		{"created=2026-01-02T03:04:05Z rewrapped=2026-02-02T03:04:05Z kek=file:/a b/kek=c created=x",
			d("2026-01-02T03:04:05Z"), d("2026-02-02T03:04:05Z"), "file:/a b/kek=c created=x"},
		{"rewrapped=2026-02-02T03:04:05Z kek=", time.Time{}, d("2026-02-02T03:04:05Z"), ""},
		{"created=garbage kek=raw", time.Time{}, time.Time{}, "raw"},
		{"created=2026-01-02T03:04:05Z", d("2026-01-02T03:04:05Z"), time.Time{}, ""},
		{"other=1 kek=raw", time.Time{}, time.Time{}, ""},
	}
	for _, tt := range tests {
		c, r, s := keyring.ParseMeta(tt.meta)
		if !c.Equal(tt.created) || !r.Equal(tt.rewrapped) || s != tt.source {
			t.Errorf("ParseMeta(%q) = %v, %v, %q; want %v, %v, %q", tt.meta, c, r, s, tt.created, tt.rewrapped, tt.source)
		}
	}
}

// TestHeaderTimesOldVectors reads the frozen headers written before the
// dates existed: zero times, the source from the meta.
func TestHeaderTimesOldVectors(t *testing.T) {
	for name, source := range map[string]string{"v1_raw": "raw", "v1_passphrase": "passphrase", "v1_no_meta": ""} {
		data, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
		if err != nil {
			t.Fatal(err)
		}
		// A vector file is a few comment lines, a blank line, then the
		// header.
		if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
			data = data[i+2:]
		}
		h, err := keyring.ParseHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !h.Created().IsZero() || !h.Rewrapped().IsZero() || h.Source() != source {
			t.Errorf("%s: created %v rewrapped %v source %q", name, h.Created(), h.Rewrapped(), h.Source())
		}
	}
}

func TestLoadDEK(t *testing.T) {
	db, kek := newDB(t), newKEK()
	dir := filepath.Dir(db)

	// No header: an error, and not a file created (not even a lock).
	_, _, err := keyring.LoadDEK(db, keyring.RawKEK(kek))
	wantErr(t, err, fs.ErrNotExist)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("LoadDEK of a missing store created %v", entries)
	}
	// A missing machine key is not created either.
	machine := filepath.Join(t.TempDir(), "kek")
	_, _, err = keyring.LoadDEK(db, keyring.MachineKEK(machine))
	wantErr(t, err, fs.ErrNotExist)

	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	writeDB(t, db, dek)
	before := snapshot(t, dir)
	got, h, err := keyring.LoadDEK(db, keyring.RawKEK(kek))
	if err != nil || !bytes.Equal(got, dek) || h == nil || h.Source() != "raw" {
		t.Fatalf("LoadDEK: err=%v, same DEK %v, header %v", err, bytes.Equal(got, dek), h)
	}
	_, _, err = keyring.LoadDEK(db, keyring.RawKEK(newKEK()))
	wantErr(t, err, keyring.ErrWrongKEK)
	if err != nil && bytes.Contains([]byte(err.Error()), kek) {
		t.Error("error holds the KEK")
	}
	_, _, err = keyring.LoadDEK(db, keyring.MachineKEK(machine))
	wantErr(t, err, fs.ErrNotExist)
	if _, err := os.Stat(machine); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDEK created the machine key: %v", err)
	}
	_, _, err = keyring.LoadDEK(db, nil)
	wantErr(t, err, keyring.ErrNoKEK)
	assertUnchanged(t, dir, before)
}

// TestLoadDEKInterruptedRekey loads the DEK of a store whose rekey died at
// each stage: the one the database is sealed under, leaving the leftovers
// for the next open to recover.
func TestLoadDEKInterruptedRekey(t *testing.T) {
	for _, stage := range []string{"next-written", "before-rename", "renamed"} {
		t.Run(stage, func(t *testing.T) {
			db, kek, rows := newDB(t), newKEK(), rekeyRows(3)
			fillStore(t, db, kek, rows)
			restore := keyring.StopRekeyAt(stage)
			err := rekey(db, kek)
			restore()
			wantErr(t, err, keyring.ErrSimulatedCrash)
			before := snapshot(t, filepath.Dir(db))
			names := dataFiles(t, filepath.Dir(db))
			dek, _, err := keyring.LoadDEK(db, keyring.RawKEK(kek))
			if err != nil {
				t.Fatal(err)
			}
			got, err := openFake(db, dek)
			if err != nil || !bytes.Equal(got, joinRows(rows)) {
				t.Fatalf("the DEK LoadDEK returned does not open the database: %v", err)
			}
			assertUnchanged(t, filepath.Dir(db), before)
			if after := dataFiles(t, filepath.Dir(db)); !slices.Equal(after, names) {
				t.Errorf("files %v, want %v", after, names)
			}
			// The next open still recovers, to the same DEK.
			if again := checkStore(t, db, kek, rows); !bytes.Equal(again, dek) {
				t.Error("recovery chose another DEK than LoadDEK")
			}
		})
	}
}
