package peers

import (
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers "sqlite"
)

// Modernc is modernc.org/sqlite: SQLite translated from C to Go (no cgo),
// through database/sql.
var Modernc = SQLOpener("modernc", "modernc.org/sqlite v1.62.0 (SQLite translated to Go, no cgo), plaintext, database/sql", false, "sqlite",
	func(path string) string {
		return fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate",
			url.PathEscape(path), BusyTimeoutMS)
	})
