package host

import (
	"strings"
	"testing"
)

// TestMigrations: every migration up to SchemaVersion has SQL (an array
// of SchemaVersion elements compiles with the last ones left empty).
func TestMigrations(t *testing.T) {
	for i, m := range migrations {
		if strings.TrimSpace(m) == "" {
			t.Errorf("migration to version %d is empty: SchemaVersion (%d) is ahead of the migrations", i+1, SchemaVersion)
		}
	}
}
