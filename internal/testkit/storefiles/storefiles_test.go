package storefiles_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gofastr/store/internal/testkit/storefiles"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "s.db")
	for suf, data := range map[string]string{"": "db", "-wal": "wal", "-shm": "shm", ".dek": "dek", ".lock": ""} {
		write(t, src+suf, data)
	}
	dst := filepath.Join(t.TempDir(), "sub", "d.db")
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, dst+"-journal", "stale")
	storefiles.Copy(t, src, dst)
	ents, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"d.db", "d.db-wal", "d.db.dek"}; !slices.Equal(names, want) {
		t.Fatalf("copied %q, want %q", names, want)
	}
}

func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "1")
	write(t, filepath.Join(dir, "b"), "2")
	before := storefiles.Take(t, dir)
	write(t, filepath.Join(dir, "x.lock"), "") // not a change
	if d := before.Diff(storefiles.Take(t, dir)); len(d) != 0 {
		t.Fatalf("diff after creating a lock file: %q", d)
	}
	write(t, filepath.Join(dir, "a"), "3")
	os.Remove(filepath.Join(dir, "b"))
	write(t, filepath.Join(dir, "c"), "")
	d := before.Diff(storefiles.Take(t, dir))
	if len(d) != 3 {
		t.Fatalf("diff %q, want a changed, b removed, c created", d)
	}
}

func TestScan(t *testing.T) {
	dir := t.TempDir()
	m := storefiles.NewMarker()
	rev := slices.Clone(m)
	slices.Reverse(rev)
	write(t, filepath.Join(dir, "clean"), "nothing here")
	write(t, filepath.Join(dir, "leak"), "xx"+string(rev)+"yy")
	hits, scanned := storefiles.Scan(t, m, dir)
	if len(scanned) != 2 || len(hits) != 1 {
		t.Fatalf("hits %q in %q, want one (reversed) in leak", hits, scanned)
	}
	if n := storefiles.Total(storefiles.Count(t, filepath.Join(dir, "leak"), rev)); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
}
