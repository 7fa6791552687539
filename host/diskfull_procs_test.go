//go:build linux

package host_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// holderArgs are the parameters of the diskfull-holder role.
type holderArgs struct {
	Path, KEK, Go string // store, hex KEK, file whose appearance says "append now"
}

var _ = proc.Role("diskfull-holder", diskfullHolderChild)

// diskfullHolderChild opens the store under the KEK, says "open", waits
// for the go file, appends one event, says "ack <id>" and "events <n>"
// (the events of session s1 it reads then) and closes the store.
func diskfullHolderChild() int {
	var a holderArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	kek, err := hex.DecodeString(a.KEK)
	if err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenWithKEK(a.Path, kek)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	fmt.Println("open")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(a.Go); err == nil {
			break
		}
		if time.Now().After(deadline) {
			proc.Fail("no go file")
		}
	}
	id, err := s.Append(context.Background(), storeEvent("s1", 999, "user_message", `{"text":"child"}`))
	if err != nil {
		proc.Fail("append after freeing space: %v", err)
	}
	fmt.Printf("ack %d\n", id)
	evs, err := s.EventsSince(context.Background(), "s1", 0, 0)
	if err != nil {
		proc.Fail("read: %v", err)
	}
	fmt.Printf("events %d\n", len(evs))
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// TestDiskFullRotateKEKProcesses rotates the KEK of a store on a full
// disk while another process has it open: the rotation fails with the
// typed disk-full error, the other process goes on (its append after
// space is freed is acknowledged and read back), and the retry rotates;
// the store then opens under the new KEK with every event, the other
// process's included, Verify passes and no file holds the marker.
func TestDiskFullRotateKEKProcesses(t *testing.T) {
	proc.Skip(t)
	dir := smallfs.Mount(t, "2m")
	oldKEK, newKEK, marker := randomKey(t), randomKey(t), storefiles.NewMarker()
	tmpl, evs := kekTemplate(t, oldKEK, marker)
	path := copyStoreTo(t, tmpl, dir)
	goFile := filepath.Join(t.TempDir(), "go")
	child := proc.Start(t, proc.Spec{
		Role: "diskfull-holder",
		Args: holderArgs{Path: path, KEK: hex.EncodeToString(oldKEK), Go: goFile},
		Env:  childEnv(childCacheDir(t)),
	})
	lines := bufio.NewScanner(child.Stdout())
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("child ended early: %v\n%s", child.Wait(), child.Stderr())
		}
		return lines.Text()
	}
	if l := next(); l != "open" {
		t.Fatalf("child: %q", l)
	}

	fill(t, dir, 0)
	err := keyring.RotateKEK(path, oldKEK, newKEK)
	unfill(t, dir)
	wantHostDiskFull(t, "RotateKEK beside an open store", err)
	if l := strayFiles(t, dir); len(l) > 0 {
		t.Fatalf("left behind %v", l)
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var childID uint64
	if _, err := fmt.Sscanf(next(), "ack %d", &childID); err != nil {
		t.Fatal(err)
	}
	if l, want := next(), fmt.Sprintf("events %d", len(evs)+1); l != want {
		t.Fatalf("child read %q, want %q", l, want)
	}
	for lines.Scan() {
		// read stdout to its end before Wait
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	evs[childID] = `{"text":"child"}`

	if err := keyring.RotateKEK(path, oldKEK, newKEK); err != nil {
		t.Fatalf("retry after freeing space: %v", err)
	}
	if _, err := host.OpenWithKEK(path, oldKEK); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("the old KEK after the rotation: %v, want ErrWrongKEK", err)
	}
	checkUsable(t, func(p string) (*host.Store, error) { return host.OpenWithKEK(p, newKEK) },
		host.NewConfig().WithKEKSource(keyring.RawKEK(newKEK)), path, evs, marker)
	if strings.Contains(child.Stderr(), "FAIL") {
		t.Fatal(child.Stderr())
	}
}
