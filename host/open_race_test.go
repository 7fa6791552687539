package host_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
)

// TestOpenRace starts openRaceProcs processes that each open a fresh path
// at the same moment, round after round, with host.Open, host.OpenWithKEK
// and host.OpenEncrypted in turn. Every open must succeed and every store be valid
// afterwards. Before migrate checked and created the schema in one write
// transaction, a racing open failed with "table events already exists",
// "database is locked" or ErrNotStore.
func TestOpenRace(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs subprocesses")
	}
	rounds := crashRounds(t, 45, 18)
	dir := t.TempDir()
	cacheDir := engine.CacheDir()
	if cacheDir == "" {
		cacheDir = filepath.Join(t.TempDir(), "wazero-cache")
	}
	// Children start within startDelay (they compile or load the SQLite
	// module first); then a round begins every interval.
	const startDelay, interval = 2 * time.Second, 250 * time.Millisecond
	t0 := time.Now().Add(startDelay).UnixNano()
	env := []string{
		envOpenRaceDir + "=" + dir,
		envOpenRaceT0 + "=" + strconv.FormatInt(t0, 10),
		envOpenRaceRounds + "=" + strconv.Itoa(rounds),
		envOpenRaceInterval + "=" + interval.String(),
		engine.EnvCacheDir + "=" + cacheDir,
	}
	var wg sync.WaitGroup
	for p := range openRaceProcs {
		wg.Go(func() {
			out, err := runTestChild(t, "TestOpenRaceChild", env...)
			if err != nil {
				t.Errorf("child %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	for r := range rounds {
		path := openRacePath(dir, r)
		s, err := openRaceOpen(r, path)
		if err != nil {
			t.Errorf("round %d: reopen: %v", r, err)
			continue
		}
		mustAppend(t, s, storeEvent("open-race", 1, "user_message", `{"text":"hello"}`))
		if err := s.Close(); err != nil {
			t.Errorf("round %d: close: %v", r, err)
		}
		switch r % 3 {
		case 1:
			dek, _, err := keyring.LoadOrCreateDEK(path, raceKEK1)
			if err != nil {
				t.Fatal(err)
			}
			checkIntegrity(t, path, dek)
		case 2:
			checkIntegrity(t, path, storeTestKey)
		}
	}
}

const (
	openRaceProcs       = 4
	envOpenRaceDir      = "GOFASTR_TEST_OPEN_RACE_DIR"
	envOpenRaceT0       = "GOFASTR_TEST_OPEN_RACE_T0"
	envOpenRaceRounds   = "GOFASTR_TEST_OPEN_RACE_ROUNDS"
	envOpenRaceInterval = "GOFASTR_TEST_OPEN_RACE_INTERVAL"
)

// openRaceOpen opens path the way round r does: host.Open, host.OpenWithKEK
// or host.OpenEncrypted in turn.
func openRaceOpen(r int, path string) (*host.Store, error) {
	switch r % 3 {
	case 0:
		return host.Open(path)
	case 1:
		return host.OpenWithKEK(path, raceKEK1)
	}
	return host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
}

func openRacePath(dir string, round int) string {
	return filepath.Join(dir, fmt.Sprintf("r%02d", round), "sessions.db")
}

// TestOpenRaceChild is a child process of TestOpenRace: at the start of
// each round it opens that round's path (see openRaceOpen), reads from the
// store and closes it.
func TestOpenRaceChild(t *testing.T) {
	if !isTestChild("TestOpenRaceChild") {
		t.Skip("helper process of TestOpenRace")
	}
	dir := os.Getenv(envOpenRaceDir)
	t0, _ := strconv.ParseInt(os.Getenv(envOpenRaceT0), 10, 64)
	rounds, _ := strconv.Atoi(os.Getenv(envOpenRaceRounds))
	interval, _ := time.ParseDuration(os.Getenv(envOpenRaceInterval))
	for r := range rounds {
		time.Sleep(time.Until(time.Unix(0, t0).Add(time.Duration(r) * interval)))
		path := openRacePath(dir, r)
		s, err := openRaceOpen(r, path)
		if err != nil {
			t.Errorf("round %d: open: %v", r, err)
			continue
		}
		if _, err := s.ListPastSessions(t.Context(), 10); err != nil {
			t.Errorf("round %d: read: %v", r, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("round %d: close: %v", r, err)
		}
	}
}
